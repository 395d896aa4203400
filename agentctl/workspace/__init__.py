"""Edge: find and load a workspace (SPEC §1, §2), strict YAML, templates, validation of the whole workspace."""
