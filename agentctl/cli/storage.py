"""`agentctl storage init|status|import|export` (SPEC §12): the state backend of a workspace."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, Any

import typer

from agentctl.cli.common import ws
from agentctl.cli.render import emit_json, kv

storage_app = typer.Typer(help="Where state lives: files (default) or PostgreSQL — init, status, import, export.",
                          no_args_is_help=True)
JsonOpt = Annotated[bool, typer.Option("--json", help="Print only JSON on stdout.")]


def _backend(w: Any) -> str:
    return "postgres" if w.config.storage.backend == "postgres" else "files"


def _pg(w: Any) -> Any:
    from agentctl.storage.postgres import PgStorage, open_database

    return PgStorage(open_database(w.config.storage.dsn_env, w.env))


def _require_pg(w: Any, what: str) -> Any:
    from agentctl.errors import UsageError

    if _backend(w) != "postgres":
        raise UsageError(f"storage {what}: this workspace's storage.backend is files; set "
                         "`storage: {backend: postgres, dsn_env: AGENTCTL_PG_DSN}` in agentctl.yaml first")
    return _pg(w)


@contextlib.contextmanager
def _database(w: Any, what: str | None = None) -> Iterator[Any]:
    """The workspace's PostgreSQL storage, closed afterwards (``what``: a command that needs it)."""
    st = _require_pg(w, what) if what else _pg(w)
    try:
        yield st
    finally:
        st.close()


def _transferred(json_: bool, where: str, folder: Path, key: str, counts: dict[str, int]) -> None:
    if json_:
        emit_json({where: str(folder), key: counts})
    else:
        typer.echo(f"{key} {where} {folder}: " + ", ".join(f"{k} {v}" for k, v in counts.items()))


@storage_app.command("init")
def init(ctx: typer.Context) -> None:
    """Create or migrate the database schema (numbered migrations, under an advisory lock; idempotent)."""
    from agentctl.storage.postgres.migrate import apply, latest

    w = ws(ctx)
    if _backend(w) == "files":
        typer.echo("storage: files backend — nothing to initialise")
        return
    with _database(w) as st:
        done = apply(st.db)
    typer.echo(f"storage: schema at version {latest()}" + (f" (applied {', '.join(done)})" if done else
                                                             " (already up to date)"))


@storage_app.command("status")
def status(ctx: typer.Context, json_: JsonOpt = False) -> None:
    """Backend, schema and server version (PostgreSQL), and row/line counts per store."""
    w = ws(ctx)
    if _backend(w) == "files":
        from agentctl.storage.admin import file_status

        info = file_status(w.root)
    else:
        from agentctl.storage.postgres.transfer import status as pg_status

        with _database(w) as st:
            info = pg_status(st)
    if json_:
        emit_json(info)
        return
    pairs: list[tuple[str, Any]] = [("backend", info["backend"])]
    if info["backend"] == "postgres":
        pairs += [("schema version", info["schemaVersion"] if info["schemaVersion"] is not None
                   else "none (run `agentctl storage init`)"), ("server version", info["serverVersion"])]
    else:
        pairs.append(("root", info["root"]))
    pairs += [(name, n) for name, n in info["counts"].items()]
    typer.echo(kv(pairs))


@storage_app.command("import")
def import_(ctx: typer.Context,
            from_: Annotated[str | None, typer.Option("--from", help="A file workspace folder (default: this one).",
                                                      show_default=False)] = None,
            json_: JsonOpt = False) -> None:
    """Copy a file workspace's state (tasks, archive, events, runs, breakers, ledger, cron, alerts,
    regressions, artifacts) into the database. Running it twice imports nothing twice."""
    from agentctl.errors import UsageError
    from agentctl.storage.postgres.migrate import ensure_current
    from agentctl.storage.postgres.transfer import import_files

    w = ws(ctx)
    src = Path(from_).expanduser().resolve() if from_ else w.root
    if not src.is_dir():
        raise UsageError(f"--from {from_}: not a folder")
    with _database(w, "import") as st:
        ensure_current(st.db)
        counts = import_files(st, src)
    _transferred(json_, "from", src, "imported", counts)


@storage_app.command("export")
def export(ctx: typer.Context,
           to: Annotated[str, typer.Option("--to", help="Folder to write the file layout into (new or empty).")],
           json_: JsonOpt = False) -> None:
    """Write the database's state back to the file layout in DIR, with a copy of this
    workspace's configuration set to the files backend: a workspace every command works on."""
    from agentctl.errors import UsageError
    from agentctl.storage.admin import copy_config
    from agentctl.storage.postgres.migrate import ensure_current
    from agentctl.storage.postgres.transfer import export_files

    w = ws(ctx)
    dest = Path(to).expanduser().resolve()
    if dest.exists() and any(dest.iterdir()):
        raise UsageError(f"--to {to}: folder is not empty; export into a new or empty folder")
    with _database(w, "export") as st:
        ensure_current(st.db)
        dest.mkdir(parents=True, exist_ok=True)
        copy_config(w.root, dest)
        counts = export_files(st, dest)
    _transferred(json_, "to", dest, "exported", counts)


def register(app: typer.Typer) -> None:
    app.add_typer(storage_app, name="storage")
