"""Layer 1, the task registry (SPEC §3): add, update, claim, block, archive, the board, blocking chains."""
