"""Helpers for the sandbox tests: hooks pointed at the sandbox, with fast retries."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from airflow_provider_credits.hooks import hook_class_for
from airflow_provider_credits.hooks.base import CreditsHook
from airflow_provider_credits.hooks.clay import ClayHook
from airflow_provider_credits.hooks.clodura import CloduraHook
from airflow_provider_credits.hooks.theirstack import TheirStackHook
from airflow_provider_credits.hooks.trendtrack import TrendtrackHook
from airflow_provider_credits.sandbox import keys
from tests.support.sandbox import MakeHook

HOOKS: dict[str, type[CreditsHook]] = {
    "clay": ClayHook,
    "clodura": CloduraHook,
    "theirstack": TheirStackHook,
    "trendtrack": TrendtrackHook,
    # the registry vendors the sandbox serves
    **{vendor: hook_class_for(vendor) for vendor in keys.REGISTRY_API_KEYS},
}


@pytest.fixture
def make_hook(sandbox: Any) -> Iterator[MakeHook]:
    """Build a vendor's hook on its default (sandbox) connection: ``make_hook("clay", max_retries=0)``.

    Retries back off by 0.01 s so retry tests stay fast; every hook is closed afterwards.
    """
    made: list[CreditsHook] = []

    def make(vendor: str, **kwargs: Any) -> CreditsHook:
        kwargs.setdefault("backoff", 0.01)
        kwargs.setdefault("timeout", 5)
        hook = HOOKS[vendor](**kwargs)
        made.append(hook)
        return hook

    yield make
    for hook in made:
        hook.close()


@pytest.fixture(scope="session")
def _http_session() -> Iterator[httpx.Client]:
    with httpx.Client(trust_env=False, timeout=10) as client:
        yield client


@pytest.fixture
def http(_http_session: httpx.Client) -> httpx.Client:
    """A raw HTTP client shared by the session (building one costs tens of milliseconds), cookies cleared."""
    _http_session.cookies.clear()
    return _http_session
