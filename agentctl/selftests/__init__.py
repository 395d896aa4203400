"""Layer 5, self-tests that gate "done" (SPEC §7): rules, checks, the JSONPath subset."""
