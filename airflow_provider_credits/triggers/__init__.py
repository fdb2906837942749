"""Triggers: the async side of the deferrable sensors."""
