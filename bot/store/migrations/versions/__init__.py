"""One module per schema revision, in order (`down_revision` links them)."""
