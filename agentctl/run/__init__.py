"""Running an agent (SPEC §5): the run sequence, context and prompts, idempotency."""
