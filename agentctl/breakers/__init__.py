"""Layer 3, circuit breakers (SPEC §7): the pure state machine and the service over its store."""
