"""The `agentctl` entry point: global options, sub-command groups, exit-code mapping."""


import os
import sys
from typing import Annotated, Any

import typer
from typer.core import TyperGroup

from agentctl import __version__
from agentctl.cli.common import AppState

# typer ≥ 0.29 vendors click; find its ClickException whichever click it uses
_CLICK_EXCEPTION = next(c for c in typer.BadParameter.__mro__
                        if issubclass(c, Exception) and c.__name__ == "ClickException")


class AgentctlGroup(TyperGroup):
    """Turns agentctl errors into one or two lines on stderr and their exit code (SPEC §10)."""

    def invoke(self, ctx: Any) -> Any:
        from agentctl.core.inert import installed
        from agentctl.errors import AgentctlError
        from agentctl.storage.staging import Terminated, terminating_signals

        try:
            with installed(), terminating_signals():  # printed lines redacted and inert; TERM/HUP unwind
                try:
                    return super().invoke(ctx)
                finally:
                    sys.stdout.flush()
        except BrokenPipeError:  # `agentctl status | head -1`: the reader left; end quietly like other CLIs
            _quiet_pipe()
        except AgentctlError as exc:
            from agentctl.core.redact import redact

            typer.echo(f"agentctl: {redact(exc.render())}", err=True)
            raise typer.Exit(exc.exit_code) from None
        except (typer.Exit, typer.Abort, _CLICK_EXCEPTION, SystemExit):
            raise
        except KeyboardInterrupt:
            typer.echo("agentctl: interrupted", err=True)
            raise typer.Exit(130) from None
        except Terminated as exc:  # every `finally` ran: staging removed, the agent's group killed
            typer.echo(f"agentctl: {exc}", err=True)
            raise typer.Exit(128 + exc.signum) from None
        except Exception as exc:  # a bug: short message, traceback only on request
            if os.environ.get("AGENTCTL_DEBUG") == "1":
                import traceback

                traceback.print_exc()
            else:
                from agentctl.core.redact import redact

                typer.echo(
                    f"agentctl: internal error: {type(exc).__name__}: {redact(str(exc))[:300]}\n"
                    "  this is a bug; rerun with AGENTCTL_DEBUG=1 for the traceback",
                    err=True,
                )
            raise typer.Exit(70) from None


EXIT_PIPE = 141
"""128 + SIGPIPE: what a shell reports for a CLI killed by a closed pipe."""


def _quiet_pipe() -> None:
    """stdout's reader is gone: point stdout at /dev/null (so the interpreter's final flush is
    silent) and exit 141 without a word."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):
        pass
    raise typer.Exit(EXIT_PIPE)


_app = typer.Typer(
    cls=AgentctlGroup,
    name="agentctl",
    help="Run a fleet of AI agents in production from a plain folder.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    pretty_exceptions_show_locals=False,
    add_completion=False,
    rich_markup_mode=None,
    context_settings={"help_option_names": ["-h", "--help"]},
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"agentctl {__version__}")
        raise typer.Exit()


@_app.callback()
def main_callback(
    ctx: typer.Context,
    workspace: Annotated[str | None, typer.Option("--workspace", "-w", help="Workspace folder (else $AGENTCTL_WORKSPACE, else the nearest folder up with agentctl.yaml).", show_default=False)] = None,
    lock_timeout: Annotated[float, typer.Option("--lock-timeout", help="Seconds to wait for a state lock before exiting 75.")] = 10.0,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Say more (also under cron).")] = False,
    version: Annotated[bool, typer.Option("--version", callback=_version, is_eager=True, help="Show the version.")] = False,
) -> None:
    from agentctl.storage import set_lock_timeout

    set_lock_timeout(lock_timeout)
    ctx.obj = AppState(workspace_opt=workspace, verbose=verbose)


_HOT = {"status": "tasks", "blocked": "tasks", "task": "tasks"}
"""Hot commands whose module is known: `agentctl status` imports and builds only that module's
commands (~20 ms less start-up). Anything else — `--help`, a group alone, a command that module
does not have — registers every module, so help and the command tree stay complete."""
_registered: set[str] = set()


COMMAND_MODULES = ("handoff", "run", "ops", "cron", "report", "learning", "demo", "storage", "fleet", "runs", "mcp")
"""Imported on demand (after tasks, agents, init); every one must exist — a missing one fails loudly."""


def _register(only: str | None = None) -> None:
    import importlib

    from agentctl.cli import agents, init, tasks

    for module in (tasks, agents, init):
        _add(module, only)
    for name in COMMAND_MODULES:
        if only is None or name == only:
            _add(importlib.import_module(f"agentctl.cli.{name}"), only)


def _add(module: Any, only: str | None) -> None:
    name = module.__name__.rsplit(".", 1)[-1]
    if name not in _registered and (only is None or name == only):
        _registered.add(name)
        module.register(_app)


def _words(argv: list[str]) -> list[str]:
    """The command words of ``argv`` (global options and their values skipped); [] for --help."""
    words: list[str] = []
    args = iter(argv)
    for arg in args:
        if arg in ("-h", "--help", "--version"):
            return words if words else []
        if arg in ("-w", "--workspace", "--lock-timeout"):
            next(args, None)
        elif not arg.startswith("-"):
            words.append(arg)
            if len(words) == 2:
                break
    return words


def _name(info: Any) -> str:
    name: str = info.name or info.callback.__name__.replace("_", "-")
    return name


def _found(words: list[str]) -> bool:
    """Whether the registered modules alone have the command ``words`` names."""
    if not words:
        return False
    if any(_name(c) == words[0] for c in _app.registered_commands):
        return True
    group = next((g for g in _app.registered_groups if g.name == words[0]), None)
    return (group is not None and group.typer_instance is not None and len(words) == 2
            and any(_name(c) == words[1] for c in group.typer_instance.registered_commands))


def _register_for(argv: list[str]) -> None:
    words = _words(argv)
    hot = _HOT.get(words[0]) if words else None
    if hot is not None:
        _register(only=hot)
        if _found(words):
            return
    _register()


def __getattr__(name: str) -> Any:
    """``from agentctl.cli.main import app`` (tests, scripts): the app with every command."""
    if name == "app":
        _register()
        return _app
    raise AttributeError(name)


def main() -> None:
    if os.environ.get("NO_COLOR"):
        os.environ.setdefault("TERM", "dumb")
    _register_for(sys.argv[1:])
    try:
        _app(prog_name="agentctl")
        sys.stdout.flush()
    except BrokenPipeError:
        _quiet_pipe_exit()
    except SystemExit:
        raise
    sys.exit(0)


def _quiet_pipe_exit() -> None:
    try:
        _quiet_pipe()
    except typer.Exit:
        sys.exit(EXIT_PIPE)
