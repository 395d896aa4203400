"""The embedded file backend: durable atomic writes, locks, JSONL logs, the registry files."""
