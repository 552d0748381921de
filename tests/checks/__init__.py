"""Tests of the diagnostic engine and its checks."""
