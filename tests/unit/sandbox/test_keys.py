"""The sandbox's fixed credentials: one distinct, obviously fake secret per vendor of the registry."""

from __future__ import annotations

from airflow_provider_credits.sandbox import keys
from airflow_provider_credits.vendors import CREDITS_HTTP, VENDORS


def test_every_vendor_but_the_generic_connection_has_a_secret() -> None:
    missing = set(VENDORS) - {CREDITS_HTTP.conn_type} - set(keys.SECRETS)
    assert not missing, f"add a sandbox key for {missing} to airflow_provider_credits/sandbox/keys.py"
    assert set(keys.SECRETS) == set(VENDORS) - {CREDITS_HTTP.conn_type}
    assert tuple(keys.SECRETS) == keys.VENDORS


def test_the_secrets_are_distinct_and_say_they_are_not_real() -> None:
    secrets = [*keys.SECRETS.values(), keys.CLAY_PASSWORD]
    assert len(set(secrets)) == len(secrets)
    assert all("NOT" in secret.upper() for secret in secrets)
    assert keys.SECRETS["clay"] == keys.CLAY_COOKIE and keys.CLAY_WORKSPACE_ID.isdigit()
