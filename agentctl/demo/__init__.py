"""The demo (SPEC §11): its play, its scripted answers, and the local model server the tests use too."""
