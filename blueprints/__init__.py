"""Kaimen's bundled plugins, each a package registered under ``kaimen.plugins``."""
