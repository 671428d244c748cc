"""Fixtures of the complaint box's tests."""

from .helpers import submit  # noqa: F401 - a fixture
