"""Storage administration behind `agentctl storage` (SPEC §12): the file backend's status and
the configuration copied along with an export. The PostgreSQL side is in
``agentctl.storage.postgres.transfer``."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any


def file_status(root: Path) -> dict[str, Any]:
    """Backend ``files``: records per store (torn lines skipped and counted)."""
    from agentctl.storage.files.durable import JsonlReader
    from agentctl.storage.files.registry import FileRegistry

    reader = JsonlReader()

    def lines(paths: list[Path]) -> int:
        return sum(1 for p in paths for _ in reader.read(p))

    counts = {"tasks": len(FileRegistry(root).load().tasks),
              "archive": lines(sorted((root / "archive").glob("tasks-*.jsonl"))),
              "events": lines([root / "logs" / "events.jsonl"]),
              "runs": lines(sorted((root / "logs" / "runs").glob("*.jsonl"))),
              "alerts": lines([root / "logs" / "alerts.jsonl"]),
              "breakerHistory": lines([root / "logs" / "breakers.jsonl"]),
              "artifacts": sum(1 for p in (root / "artifacts").rglob("*") if p.is_file())}
    return {"backend": "files", "root": str(root), "counts": counts, "skippedLines": reader.skipped}


def copy_config(src: Path, dest: Path) -> None:
    """agentctl.yaml (its storage section dropped: the copy uses files), agents/, schemas/, prompts/."""
    import yaml

    from agentctl.storage.files.durable import atomic_write

    for name in ("agents", "schemas", "prompts"):
        if (src / name).is_dir():
            shutil.copytree(src / name, dest / name)
    data = yaml.safe_load((src / "agentctl.yaml").read_text(encoding="utf-8")) or {}
    data.pop("storage", None)
    atomic_write(dest / "agentctl.yaml", yaml.safe_dump(data, sort_keys=False, allow_unicode=True).encode())
