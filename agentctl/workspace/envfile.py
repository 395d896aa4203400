"""The workspace's env file (SPEC §8): secrets for scheduled work, read at the CLI edge.

Cron starts jobs with almost no environment, so the keys an agent needs live in a
dotenv file (``env_file:`` in agentctl.yaml, default ``.agentctl/env``), parsed by
python-dotenv with interpolation off (a ``$`` in a key stays a ``$``). The file is
refused (78) unless it is a regular file owned by the user running agentctl with no
permission bits for group or others. ``run``, ``work`` and ``cron run`` call
``apply_env_file``: variables already set in the environment win, and every value is
registered with the redactor, so none reaches a record, a log, an alert or the output.
"""

from __future__ import annotations

import io
import os
import re
import stat
from collections.abc import MutableMapping
from pathlib import Path

from agentctl.errors import AgentctlError, ConfigError

DEFAULT_ENV_FILE = ".agentctl/env"
_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
MAX_BYTES = 1 << 20


def env_file_path(root: Path, configured: str | None) -> Path:
    return (root / Path(configured or DEFAULT_ENV_FILE).expanduser()).resolve()


def _fix_hint(path: Path) -> str:
    return f"chmod 600 {path} (and chown it to the user cron runs as)"


def read_env_file(path: Path, *, required: bool = False) -> dict[str, str]:
    """The variables of ``path``; {} when it does not exist (unless ``required``)."""
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_CLOEXEC", 0) | getattr(os, "O_NONBLOCK", 0))
    except FileNotFoundError:
        if required:
            raise ConfigError(f"env_file {path}: not found (agentctl.yaml names it)") from None
        return {}
    except OSError as exc:
        raise ConfigError(f"env_file {path}: cannot open ({exc.strerror})") from None
    with os.fdopen(fd, "rb") as fh:
        st = os.fstat(fh.fileno())  # the file opened, not the name: no swap between check and read
        if not stat.S_ISREG(st.st_mode):
            raise ConfigError(f"env_file {path}: not a regular file")
        if st.st_uid != os.geteuid():
            raise ConfigError(f"env_file {path}: owned by uid {st.st_uid}, not by the user running agentctl "
                              f"(uid {os.geteuid()}); refused", hint=_fix_hint(path))
        if st.st_mode & 0o077:
            raise ConfigError(f"env_file {path}: mode {stat.S_IMODE(st.st_mode):o} lets group or others read or "
                              "write it; refused", hint=_fix_hint(path))
        raw = fh.read(MAX_BYTES + 1)
    if len(raw) > MAX_BYTES:
        raise ConfigError(f"env_file {path}: larger than {MAX_BYTES} bytes")
    return _parse(raw, path)


def _parse(raw: bytes, path: Path) -> dict[str, str]:
    from dotenv import dotenv_values

    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise ConfigError(f"env_file {path}: not UTF-8") from None
    values = dotenv_values(stream=io.StringIO(text), interpolate=False)
    out: dict[str, str] = {}
    for name, value in values.items():
        if not _NAME.match(name):
            raise ConfigError(f"env_file {path}: {name[:40]!r} is not a valid variable name")
        if value is None:  # a bare NAME line sets nothing
            continue
        if "\x00" in value:
            raise ConfigError(f"env_file {path}: {name} contains a NUL character")
        out[name] = value
    return out


def workspace_env(root: Path) -> dict[str, str]:
    """The env file of the workspace at ``root`` (its config says where; default .agentctl/env)."""
    from agentctl.workspace.loader import Workspace

    try:
        configured = Workspace(root).config.env_file
    except AgentctlError:  # a broken agentctl.yaml is reported by the command itself
        configured = None
    return read_env_file(env_file_path(root, configured), required=configured is not None)


def apply_env_file(root: Path, environ: MutableMapping[str, str] | None = None) -> list[str]:
    """Load the env file into ``environ`` (default os.environ) without overriding what is set.

    Every value becomes a secret for the redactor. Returns the names applied (never values).
    """
    from agentctl.core.redact import register_secret_values

    environ = os.environ if environ is None else environ
    values = workspace_env(root)
    register_secret_values(set(values.values()))
    applied = []
    for name, value in values.items():
        if name not in environ:
            environ[name] = value
            applied.append(name)
    return applied
