"""Fixtures for the alert and top-up tests: the scripted vendor and a recording notifier."""

from tests.alerts.helpers import notifier  # noqa: F401
from tests.sensors.vendor import vendor  # noqa: F401
