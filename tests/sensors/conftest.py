"""Fixtures for the sensor tests."""

from tests.sensors.vendor import vendor  # noqa: F401
