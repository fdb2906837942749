"""Sensors: wait until a vendor account has enough credits."""
