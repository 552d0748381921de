"""Tests of the faces: CLI, renderers, Slack app, store and digests."""
