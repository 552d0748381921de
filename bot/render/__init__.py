"""Renderers (pure): a report as Block Kit, terminal text or JSON. They never resolve or connect."""
