"""Fixtures for the trigger tests."""

from tests.sensors.vendor import vendor  # noqa: F401
