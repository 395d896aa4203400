"""Layer 2, cascading validation (SPEC §6): JSON Schema contracts, the fast path, handoffs, rejections, gates."""
