"""Nothing outside ``agentctl/storage/`` writes or reads state behind the seam (SPEC §12, issue 13).

The file helpers ``agentctl.storage`` re-exports (atomic writes, locks, raw log readers) are
allowed outside ``storage/`` only where the file is *not* shared state — each such use is listed
below with its reason; a new use fails this test until it goes through a store of the seam or
earns a line here. Direct ``os.replace`` and ``Path.write_bytes`` calls on state are caught the
same way. (Importing ``agentctl.storage.files`` itself is refused by an import-linter contract.)
"""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "agentctl"
HELPERS = {"atomic_write", "append_json", "append_line", "JsonState", "locked", "open_log", "read_bytes"}
CALLS = {"replace", "write_bytes", "write_text", "rename"}  # os.replace / Path methods that write

ALLOWED: dict[tuple[str, str], str] = {
    ("cron/crontab.py", "locked"): "the user's crontab (cron_path), outside the workspace's state",
    ("cron/crontab.py", "read_bytes"): "the user's crontab (cron_path)",
    ("cron/crontab.py", "atomic_write"): "the user's crontab (cron_path)",
    ("cron/joblog.py", "locked"): "job output logs for people (logs/cron/, rotated): diagnostics, not state",
    ("cron/joblog.py", "rename"): "rotating those job output logs",
    ("scorecard/decode.py", "open_log"): "the scorecard's one-pass msgspec scan of the daily files the run-log "
                                          "store lists (RunLogStore.day_files; a database aggregates instead)",
    ("scorecard/build.py", "atomic_write"): "the report file the scorecard cron job was told to write",
    ("cli/report.py", "atomic_write"): "the report file the user named (--output)",
    ("learning/learn.py", "atomic_write"): "the learn summary logs/learn/DAY.md: a report for people",
    ("demo/play.py", "write_text"): "the demo writes its workspace's configuration (agents/, schemas/)",
    ("workspace/templates.py", "write_text"): "`init` writes configuration and the empty file registry",
    ("workspace/defcache.py", "atomic_write"): "the parsed agentctl.yaml and agents/ (.agentctl/cache/): derived "
                                              "from the configuration that names the backend, so not in it",
}


def _uses(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module == "agentctl.storage":
            found |= {a.name for a in node.names if a.name in HELPERS}
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr in CALLS:
            if node.func.attr != "replace" or (isinstance(node.func.value, ast.Name) and node.func.value.id == "os"):
                found.add(node.func.attr)
    return found


def test_state_helpers_are_used_only_where_the_file_is_not_state() -> None:
    seen = set()
    for path in sorted(PACKAGE.rglob("*.py")):
        rel = path.relative_to(PACKAGE).as_posix()
        if rel.startswith("storage/"):
            continue
        seen |= {(rel, name) for name in _uses(path)}
    unexplained = sorted(seen - ALLOWED.keys())
    assert not unexplained, f"state written or read around the storage seam: {unexplained}"
    stale = sorted(ALLOWED.keys() - seen)
    assert not stale, f"allowed uses that are gone (remove their lines): {stale}"


def test_the_check_catches_a_bypass(tmp_path: Path) -> None:
    module = tmp_path / "m.py"
    module.write_text("from agentctl.storage import atomic_write\nimport os\nos.replace('a', 'b')\n")
    assert _uses(module) == {"atomic_write", "replace"}
