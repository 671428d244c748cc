"""Tests of a bundled plugin."""
