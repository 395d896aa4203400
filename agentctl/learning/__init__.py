"""The learning loop (SPEC §9): nightly extraction, the regressions list, friction detection."""
