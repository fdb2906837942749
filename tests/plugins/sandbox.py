"""Placeholder: filled by the sandbox work."""
