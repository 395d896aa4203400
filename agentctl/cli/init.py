"""`agentctl init` and `agentctl schema export`."""


from typing import Annotated

import typer

from agentctl.cli.common import path_arg, ws
from agentctl.cli.render import emit_json

schema_app = typer.Typer(help="Editor schemas for agentctl.yaml and agent files.", no_args_is_help=True)


def init(
    directory: Annotated[str, typer.Argument(metavar="DIR", help="Folder to create the workspace in.")] = ".",
    template: Annotated[str, typer.Option("--template", "-t", help="studio (reference fleet) or minimal.")] = "studio",
    force: Annotated[bool, typer.Option("--force", help="Write into a non-empty folder (never touches tasks.json, logs/).")] = False,
) -> None:
    """Create a workspace (agentctl.yaml, agents/, schemas/, tasks.json, logs/)."""
    from agentctl.workspace.templates import init_workspace

    target = path_arg(directory)
    created = init_workspace(target, template, force)
    typer.echo(f"created {template} workspace in {target.resolve()}: {', '.join(created)}")
    typer.echo(f"next: cd {directory} && agentctl agents list && agentctl status")


@schema_app.command("export")
def export(
    ctx: typer.Context,
    output: Annotated[str | None, typer.Option("--output", "-o", help="Folder (default: <workspace>/.agentctl/schemas).")] = None,
    json_: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Write JSON Schemas for agentctl.yaml and agents/*.yaml, generated from the models."""
    from agentctl.workspace.templates import editor_schema_dir, write_editor_schemas

    paths = write_editor_schemas(path_arg(output) if output else editor_schema_dir(ws(ctx).root))
    if json_:
        emit_json([str(p) for p in paths])
    else:
        for p in paths:
            typer.echo(f"wrote {p}")


def register(app: typer.Typer) -> None:
    app.command("init")(init)
    app.add_typer(schema_app, name="schema")
