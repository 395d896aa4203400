"""Command registration: every command module exists and registers; a missing one is loud."""

from __future__ import annotations

import importlib
import pkgutil

import pytest

import agentctl.cli
from agentctl.cli import main


def test_every_module_with_commands_is_registered() -> None:
    with_register = {m.name for m in pkgutil.iter_modules(agentctl.cli.__path__)
                     if hasattr(importlib.import_module(f"agentctl.cli.{m.name}"), "register")}
    assert with_register == set(main.COMMAND_MODULES) | {"tasks", "agents", "init"}
    main._register()
    assert set(main.COMMAND_MODULES) <= main._registered


def test_a_missing_command_module_fails_loudly(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(main, "COMMAND_MODULES", (*main.COMMAND_MODULES, "no_such_module"))
    monkeypatch.setattr(main, "_registered", set(main._registered))
    with pytest.raises(ModuleNotFoundError, match="no_such_module"):
        main._register()
