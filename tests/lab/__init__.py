"""Tests that run mxbot against the lab's deliberately broken domains (bot/lab/zones.py)."""
