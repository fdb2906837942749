"""Fixtures for the trigger tests."""

from tests.hooks.test_async_lifecycle import no_collection_guard, sessions  # noqa: F401
from tests.sensors.vendor import vendor  # noqa: F401
