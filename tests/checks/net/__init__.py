"""Tests of the network clients."""
