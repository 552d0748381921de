"""Tests that run mxbot against the lab's deliberately broken domains (lab/zones.py)."""
