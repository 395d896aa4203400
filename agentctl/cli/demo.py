"""`agentctl demo [DIR]` (SPEC §11): parse → agentctl.demo.play.play → narrate its events with rich."""


from typing import Annotated, Any

import typer

from agentctl.cli.common import path_arg
from agentctl.cli.render import emit_json

HELP = """Play all seven layers end to end in a new studio workspace, with no API key and no network.

The model is a scripted offline stand-in: agentctl's local model server on 127.0.0.1
answers the real anthropic and openai SDKs for the demo's duration, replaying the
incidents behind each layer (a rejected design handoff, a rate-limited agent whose
breaker trips and recovers, a "done" refused by a failing test, a premium-tier SEO
agent flagged as a downgrade candidate, an attributed cron run, the learning loop).
agentctl.yaml keeps its real endpoints, so the workspace left in DIR (default
./agentctl-demo) is an ordinary one: try `agentctl status`, `blocked`, `scorecard
--days 1`, `breaker list`, `friction` in it.
"""


class Narrator:
    """Renders DemoEvents as they come (rich is imported here, only by this command)."""

    def __init__(self, stderr: bool):
        from rich.console import Console

        self.console = Console(stderr=stderr, highlight=False, emoji=False)

    def __call__(self, event: Any) -> None:
        getattr(self, f"_{event.kind}")(event)

    def _intro(self, e: Any) -> None:
        from rich.panel import Panel

        d = e.data
        self.console.print(Panel(f"[bold]{d['text']}[/bold]\n\nWorkspace: {d['workspace']}\nThe story starts at "
                                 f"{d['start']} on the demo clock, which skips the waits instead of sleeping.",
                                 title="agentctl demo", expand=False))

    def _layer(self, e: Any) -> None:
        from rich.markup import escape

        self.console.print()
        self.console.rule(f"[bold]Layer {e.layer} · {escape(e.text)}")
        self.console.print(e.data["why"], style="italic", markup=False)

    def _row(self, mark: Any, body: Any, code: Any = "") -> None:
        """One line with a hanging indent: long text wraps under itself, the exit code stays whole."""
        from rich.table import Table

        grid = Table.grid(padding=(0, 1))
        grid.add_column(width=5, no_wrap=True, justify="right")
        grid.add_column(max_width=max(20, self.console.width - 16))
        grid.add_column(no_wrap=True)
        grid.add_row(mark, body, code)
        self.console.print(grid)

    def _step(self, e: Any) -> None:
        from rich.text import Text

        body = Text(e.text)
        if e.data.get("via"):
            body.append(f"\n{e.data['via']}", style="dim")
        mark = Text("✓", style="bold green") if e.ok else Text("✗", style="bold red")
        self._row(mark, body, Text(f"exit {e.code}", style="green" if e.ok else "bold red"))

    def _note(self, e: Any) -> None:
        from rich.text import Text

        self._row(Text("›", style="dim"), Text(e.text, style="dim"))

    def _board(self, e: Any) -> None:
        from rich.table import Table
        from rich.text import Text

        b = e.data
        counts = "  ".join(f"{k}={v}" for k, v in b["counts"].items() if v)
        table = Table(title=Text(f"agentctl status · {b['total']} tasks · {counts}", style="bold cyan"),
                      title_justify="left", show_header=False, box=None, padding=(0, 1), pad_edge=False)
        for _ in range(4):
            table.add_column(no_wrap=False, style="cyan")
        for key, label in (("inProgress", "in progress"), ("blocked", "blocked"), ("rejected", "rejected"),
                           ("awaitingHuman", "at a gate")):
            for t in b[key]:
                why = f" — {t['blockedBy']}" if t.get("blockedBy") else ""
                table.add_row(label, t["taskId"], t["agent"] or "-", Text(f"{t['title']}{why}"))
        if b.get("breakers"):
            table.add_row("breaker", "OPEN", ", ".join(b["breakers"]), "runs refused until the cooldown ends",
                          style="bold red")
        self._row("", table)

    def _scorecard(self, e: Any) -> None:
        from agentctl.scorecard.render import render_table

        # as `agentctl scorecard` renders it: the terminal's width, 160 in a file or pipe
        tty = self.console.is_terminal
        text = render_table(e.data, color=tty and not self.console.no_color, width=self.console.width if tty else 160)
        self.console.print()
        self.console.file.write(text)
        self.console.file.flush()

    def _outro(self, e: Any) -> None:
        d = e.data
        self.console.rule("[bold]Done")
        self.console.print(
            f"{d['requests']} model requests answered offline in {d['durationS']:.1f}s; the local server is stopped.\n"
            f"The workspace is an ordinary one, with the studio's real endpoints in agentctl.yaml:\n"
            f"  cd {d['workspace']}\n"
            "  agentctl status; agentctl blocked; agentctl scorecard --days 1; agentctl breaker list; "
            "agentctl friction; agentctl regressions list\n"
            "To run it for real: export ANTHROPIC_API_KEY (and XAI_API_KEY for the specialized tier), then "
            "`agentctl run AGENT --task ID`.", markup=False)


def demo(
    directory: Annotated[str | None, typer.Argument(metavar="DIR", help="New folder for the demo workspace (default: ./agentctl-demo).", show_default=False)] = None,
    force: Annotated[bool, typer.Option("--force", help="Use DIR even if it holds other files (never an existing workspace).")] = False,
    json_: Annotated[bool, typer.Option("--json", help="Print the summary as JSON on stdout (progress goes to stderr).")] = False,
) -> None:
    from agentctl.core.inert import trusted
    from agentctl.demo.play import DEFAULT_DIR, play

    with trusted():  # the narration is the demo's own script, styled by rich (still redacted)
        summary = play(path_arg(directory or DEFAULT_DIR), force=force, emit=Narrator(stderr=json_))
    if json_:
        emit_json(summary)


def register(app: typer.Typer) -> None:
    app.command("demo", help=HELP)(demo)
