"""No aiohttp session outlives its owner or its event loop, on any exit path (issue 14, item 2).

Against the real sandbox: every ``aiohttp.ClientSession`` the async path creates is recorded
(strongly, so none is collected and warns behind the test's back) and must be closed (and with
it its connector) when its owner is done: the hook after ``aclose``/``async with``, the trigger
after its event or its cancellation, every hook of a loop when ``asyncio.run`` ends, a hook
dropped without closing it once it is collected. A user script must print nothing at exit.
"""

from __future__ import annotations

import asyncio
import gc
import json
import os
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from airflow_provider_credits.exceptions import CreditsAuthError, CreditsTransportError
from airflow_provider_credits.hooks import get_credits_hook
from airflow_provider_credits.hooks.base import CreditsHook
from airflow_provider_credits.sandbox.server import SandboxServer
from airflow_provider_credits.triggers.credit_threshold import CreditThresholdTrigger
from airflow_provider_credits.version_compat import AIRFLOW_V_3_3_PLUS
from tests.support.sandbox import until_requested
from tests.support.sessions import Sessions

pytestmark = pytest.mark.integration

CONN_ID = "theirstack_default"

#: seconds the sandbox holds a GET that the test cancels or lets time out: far longer than the
#: test needs to see it in flight, so that the answer never comes first on a loaded machine
IN_FLIGHT = 5.0
#: the client timeout of the ``timeout`` exit: far under ``IN_FLIGHT``
SHORT_TIMEOUT = 0.3


def trigger(**kwargs: Any) -> CreditThresholdTrigger:
    defaults: dict[str, Any] = {
        "credits_conn_id": CONN_ID,
        "min_remaining": 1,
        "poke_interval": 0.1,
        "deadline": time.time() + 30,
    }
    return CreditThresholdTrigger(**{**defaults, **kwargs})


async def first_event(t: CreditThresholdTrigger) -> dict[str, Any]:
    async for event in t.run():
        return event.payload
    raise AssertionError("no event")


# ------------------------------------------------------------------------------ the trigger


@pytest.mark.usefixtures("no_collection_guard")
async def test_a_trigger_cancelled_during_its_first_get_closes_the_session(
    sandbox: SandboxServer, sessions: Sessions
) -> None:
    """Field report (a): cancelled mid-GET, the shared session stayed open, even after the
    next trigger of the same loop succeeded and closed its own hook."""
    sandbox.add_fault("theirstack", "slow", count=1, delay=IN_FLIGHT)
    task = asyncio.ensure_future(first_event(trigger()))
    await until_requested(sandbox, "theirstack", 1)  # the GET is in flight (the sandbox holds it)
    assert sessions.created and not task.done()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert (await first_event(trigger()))["status"] == "success"
    assert sessions.open() == []


@pytest.mark.usefixtures("no_collection_guard")
@pytest.mark.parametrize("poke_interval", [0.1, 5.0, 6.0])
async def test_a_401_on_the_first_check_closes_the_session(
    sandbox: SandboxServer, sessions: Sessions, poke_interval: float, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Field report (a), without a cancel: an auth error ends the trigger at its first check."""
    from airflow_provider_credits.triggers import credit_threshold

    real_sleep = asyncio.sleep
    monkeypatch.setattr(credit_threshold.asyncio, "sleep", lambda seconds: real_sleep(0))
    sandbox.add_fault("theirstack", "unauthorized")
    event = await first_event(trigger(poke_interval=poke_interval))
    assert event["status"] == "error" and event["error_type"] == CreditsAuthError.__name__
    assert sessions.created and sessions.open() == []


# --------------------------------------------------------------------------------- the hook


async def _succeed(hook: CreditsHook, sandbox: SandboxServer) -> None:
    await hook.aget_balance()


async def _fail(hook: CreditsHook, sandbox: SandboxServer) -> None:
    with pytest.raises(CreditsAuthError):
        await hook.aget_balance()


async def _time_out(hook: CreditsHook, sandbox: SandboxServer) -> None:
    with pytest.raises(CreditsTransportError, match="timed out"):
        await hook.aget_balance()


async def _be_cancelled(hook: CreditsHook, sandbox: SandboxServer) -> None:
    task = asyncio.ensure_future(hook.aget_balance())
    await until_requested(sandbox, "theirstack", 1)  # the GET is in flight (the sandbox holds it)
    assert not task.done()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task


#: exit path: (sandbox fault, client timeout, what the hook is put through); the paths that must
#: get an answer keep a generous timeout, so that a slow answer on a loaded machine is no timeout
EXITS: dict[str, tuple[str | None, float, Callable[[CreditsHook, SandboxServer], Awaitable[None]]]] = {
    "success": (None, 30.0, _succeed),
    "error": ("unauthorized", 30.0, _fail),
    "timeout": ("slow", SHORT_TIMEOUT, _time_out),
    "cancel": ("slow", 30.0, _be_cancelled),
}


def _arrange(sandbox: SandboxServer, fault: str | None, timeout: float) -> CreditsHook:
    if fault is not None:
        sandbox.add_fault("theirstack", fault, count=1, **({"delay": IN_FLIGHT} if fault == "slow" else {}))
    return get_credits_hook(CONN_ID, max_retries=0, timeout=timeout)


@pytest.mark.parametrize("exit_path", sorted(EXITS))
async def test_async_with_closes_the_session_on_every_exit(
    sandbox: SandboxServer, sessions: Sessions, exit_path: str
) -> None:
    fault, timeout, scenario = EXITS[exit_path]
    async with _arrange(sandbox, fault, timeout) as hook:
        await scenario(hook, sandbox)
        assert sessions.created
    assert sessions.open() == []


@pytest.mark.parametrize("exit_path", sorted(EXITS))
def test_loop_shutdown_closes_the_session_of_a_hook_never_closed(
    sandbox: SandboxServer, sessions: Sessions, exit_path: str
) -> None:
    """``asyncio.run`` ending closes what a forgotten ``aclose`` left open."""
    fault, timeout, scenario = EXITS[exit_path]
    hook = _arrange(sandbox, fault, timeout)
    asyncio.run(scenario(hook, sandbox))
    assert sessions.created and sessions.open() == []


async def test_a_hook_dropped_without_closing_it_gives_its_session_back(
    sandbox: SandboxServer, sessions: Sessions
) -> None:
    """In a loop that goes on (a triggerer), a forgotten hook's session closes once the hook is collected."""
    await get_credits_hook(CONN_ID).aget_balance()
    assert len(sessions.created) == 1
    gc.collect()
    for _ in range(5):
        await asyncio.sleep(0)
    assert sessions.open() == []


async def test_the_shared_session_survives_one_of_two_users_leaving(
    sandbox: SandboxServer, sessions: Sessions
) -> None:
    """The guard above closes nothing still in use: two hooks share one session until both are closed."""
    async with get_credits_hook(CONN_ID) as first:
        await first.aget_balance()
        async with get_credits_hook(CONN_ID) as second:
            await second.aget_balance()
        assert len(sessions.created) == 1 and sessions.open() == sessions.created
        await first.aget_balance()
    assert sessions.open() == []


# ------------------------------------------------------------------------ a user's script

USER_SCRIPT = """
import asyncio
from airflow_provider_credits.hooks import get_credits_hook

for _ in range(2):
    print(asyncio.run(get_credits_hook("theirstack_default").aget_balance()).vendor)
try:
    asyncio.run(get_credits_hook("theirstack_refused", max_retries=0).aget_balance())
except Exception as exc:
    print(type(exc).__name__)
"""


def test_a_script_without_async_with_prints_no_warning(sandbox: SandboxServer) -> None:
    """Field report (b): ``asyncio.run(hook.aget_balance())`` printed "Unclosed client session"
    and "Unclosed connector" at exit, once per call. With warnings as errors: nothing on stderr.

    Before Airflow 3.3 Airflow's own connection lookup warns (its ``DeprecatedImportWarning``, a
    ``FutureWarning``, and SQLAlchemy deprecations), which ``PYTHONWARNINGS=error`` turns into
    "isn't defined", and logs to stderr: there those warnings are let through and stderr is
    searched for aiohttp's complaints instead of being empty.
    """
    refused = sandbox.connections()["theirstack_default"] | {"host": "http://127.0.0.1:9"}
    env = {
        **os.environ,
        **sandbox.airflow_conn_env(),
        "AIRFLOW_CONN_THEIRSTACK_REFUSED": json.dumps(refused),
        "PYTHONWARNINGS": "error"
        if AIRFLOW_V_3_3_PLUS
        else "error,ignore::DeprecationWarning,ignore::FutureWarning",
    }
    done = subprocess.run(
        [sys.executable, "-c", USER_SCRIPT], env=env, capture_output=True, text=True, timeout=120
    )
    assert (done.returncode, done.stdout.split()) == (
        0,
        ["theirstack", "theirstack", "CreditsTransportError"],
    )
    if AIRFLOW_V_3_3_PLUS:
        assert done.stderr == ""
    else:
        assert [
            line for line in done.stderr.splitlines() if "Unclosed" in line or "ResourceWarning" in line
        ] == []
