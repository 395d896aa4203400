"""Layer 7, the scorecard (SPEC §9): the window scan, the report, its renderers."""
