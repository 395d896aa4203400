"""Pure core: records, configuration models, statuses, the clock, redaction. No I/O, no workspace."""
