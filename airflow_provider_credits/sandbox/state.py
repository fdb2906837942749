"""The sandbox's accounts: balances per vendor and pool, per-day history, faults, request log.

Pure Python, no HTTP: :mod:`~airflow_provider_credits.sandbox.app` serves it. Everything is
derived from a seed (and optionally a JSON seed file), so a reset gives the same numbers.
The state is only touched from the server's event loop, so it needs no lock.
"""

from __future__ import annotations

import json
import random
import time
from collections import Counter, deque
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from airflow_provider_credits.sandbox import faults
from airflow_provider_credits.sandbox.keys import CLAY_COOKIE, VENDORS

DEFAULT_SEED = 42
DEFAULT_HISTORY_DAYS = 7
CLODURA_PLANS = ("unified", "prospect")
MAX_LOGGED_REQUESTS = 10_000

CLAY_USERS: dict[str, str] = {"usr_sbx_alice": "Alice Sandbox", "usr_sbx_bob": "Bob Sandbox"}
CLAY_INTEGRATIONS: dict[str, int] = {"clearbit": 2, "hunter": 1, "apollo": 1}  # type -> credits per row


class SandboxError(ValueError):
    """A control request the sandbox cannot carry out (answered with HTTP 400).

    :param message: what is wrong with the value.
    :param field: the request field (or option) holding it; the message then starts with it,
        e.g. ``"amount: 'ten' is not a number"``.
    """

    def __init__(self, message: str, *, field: str | None = None) -> None:
        self.field = field
        super().__init__(f"{field}: {message}" if field else message)


class OutOfCreditsError(SandboxError):
    """Spending more than remains (answered with HTTP 402 in the vendor's style).

    :param vendor: vendor name.
    :param pool: the pool (or composite pool) spent from.
    :param remaining: what remains.
    :param amount: what was asked for.
    """

    def __init__(self, vendor: str, pool: str, remaining: float, amount: float) -> None:
        self.vendor, self.pool, self.remaining, self.amount = vendor, pool, remaining, amount
        super().__init__(f"{vendor} pool {pool!r} has {num(remaining)} credits left, {num(amount)} needed")


def num(value: float) -> int | float:
    """A JSON number: an int when integral.

    :param value: the number.
    """
    return int(value) if float(value).is_integer() else round(value, 6)


def today() -> date:
    """Today's UTC date (the day spending is recorded on)."""
    return datetime.now(timezone.utc).date()


def month_period(day: date) -> tuple[datetime, datetime]:
    """The billing period (calendar month, UTC) containing ``day``: first instant, last second.

    :param day: any day of the month.
    """
    start = datetime(day.year, day.month, 1, tzinfo=timezone.utc)
    following = datetime(day.year + day.month // 12, day.month % 12 + 1, 1, tzinfo=timezone.utc)
    return start, following - timedelta(seconds=1)


@dataclass
class Pool:
    """One credit pool: a limit (grant) and what was used of it."""

    limit: float
    used: float = 0.0

    @property
    def remaining(self) -> float:
        return self.limit - self.used

    def to_json(self) -> dict[str, int | float]:
        return {"limit": num(self.limit), "used": num(self.used), "remaining": num(self.remaining)}


@dataclass(frozen=True)
class PoolSeed:
    """Seeded numbers of a pool: limit, used before the history window, daily consumption range."""

    limit: float
    used: float
    daily: tuple[int, int] | None = None


#: account -> pools, primary first ("clodura:<plan>" per Clodura plan). Realistic, made-up numbers.
SEED_POOLS: dict[str, dict[str, PoolSeed]] = {
    "clay": {"credits": PoolSeed(10_000, 2_150, (80, 450))},
    "clodura:unified": {"credits": PoolSeed(5_000, 1_240, (20, 150))},
    "clodura:prospect": {
        "contact_views": PoolSeed(1_000, 142, (4, 30)),
        "direct_dials": PoolSeed(200, 38, (0, 6)),
    },
    "theirstack": {
        "api_credits": PoolSeed(25_000, 6_120, (200, 1_200)),
        "ui_credits": PoolSeed(500, 75, (0, 20)),
    },
    "trendtrack": {
        "recurring": PoolSeed(10_000, 3_400, (50, 400)),
        "topup": PoolSeed(2_500, 0),
        "included_quota": PoolSeed(1_000, 120, (5, 40)),
    },
    # registry vendors (sandbox/vendors/registry.py serves them)
    "hunter": {
        "credits": PoolSeed(2_000, 140, (5, 30)),
        "searches": PoolSeed(500, 60, (1, 15)),
        "verifications": PoolSeed(1_000, 37, (2, 20)),
    },
    "lusha": {"credits": PoolSeed(1_000, 232, (5, 40))},
    "zerobounce": {"credits": PoolSeed(10_000, 1_200, (20, 150))},
    "prospeo": {"credits": PoolSeed(1_000, 120, (2, 20))},
    "serpapi": {"searches": PoolSeed(5_000, 875, (20, 120)), "extra_credits": PoolSeed(100, 0)},
    "apify": {"usage_usd": PoolSeed(300, 43, (1, 8))},
    "firecrawl": {"credits": PoolSeed(3_000, 2_000, (10, 80))},
    "tavily": {"plan": PoolSeed(15_000, 500, (10, 90)), "paygo": PoolSeed(100, 25)},
}
#: spending from these names draws on real pools in order (Trendtrack spends recurring credits first).
COMPOSITE_POOLS: dict[tuple[str, str], tuple[str, ...]] = {("trendtrack", "credits"): ("recurring", "topup")}
#: pool spent from / topped up when none is named (otherwise the primary pool).
DEFAULT_SPEND_POOL = {"trendtrack": "credits"}
DEFAULT_TOPUP_POOL = {"trendtrack": "topup"}
#: daily request counts kept per vendor (TheirStack's ``/v0/requests/count``), seeded from this range.
REQUEST_SERIES = {"theirstack": (20, 200)}


@dataclass
class Fault:
    """A fault switched on: the next ``count`` matching requests (None: until cleared) get it."""

    id: int
    vendor: str
    scenario: str
    count: int | None
    params: dict[str, Any]
    path: str | None = None
    hits: int = 0

    def matches(self, vendor: str, path: str) -> bool:
        return self.vendor in ("*", vendor) and (self.path is None or path.startswith(self.path))

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "vendor": self.vendor,
            "scenario": self.scenario,
            "count": self.count,
            "path": self.path,
            "params": self.params,
            "hits": self.hits,
        }


@dataclass
class LoggedRequest:
    """One vendor request that reached the sandbox (no headers, no query string: no secrets)."""

    seq: int
    vendor: str
    method: str
    path: str
    at: str = field(default_factory=lambda: datetime.now(timezone.utc).isoformat(timespec="milliseconds"))
    status: int | None = None
    fault: str | None = None

    def to_json(self) -> dict[str, Any]:
        return dict(self.__dict__)


HistoryKey = tuple[str, str, date, str, str]  # vendor, pool, day, user, integration


@dataclass
class SandboxState:
    """Balances, history, faults and request log of the four sandbox accounts.

    :param seed: seed of the generated history (default: the seed data's ``seed``, else 42).
    :param seed_data: a state document (see :meth:`to_json`) laid over the generated state.
    :param clodura_plan: ``unified`` (``remainingCredits``) or ``prospect`` (contact views, direct dials).
    :param history_days: how many past days of consumption to generate.
    """

    seed: int | None = None
    seed_data: dict[str, Any] = field(default_factory=dict)
    clodura_plan: str | None = None
    history_days: int | None = None
    pools: dict[str, dict[str, Pool]] = field(init=False, default_factory=dict)
    history: dict[HistoryKey, float] = field(init=False, default_factory=dict)
    sessions: set[str] = field(init=False, default_factory=set)
    login_sessions: set[str] = field(init=False, default_factory=set)
    faults: list[Fault] = field(init=False, default_factory=list)
    log: deque[LoggedRequest] = field(init=False, default_factory=lambda: deque(maxlen=MAX_LOGGED_REQUESTS))
    counts: Counter[tuple[str, str]] = field(init=False, default_factory=Counter)
    #: vendor -> monotonic times of its recent balance reads (the registry vendors' rate limits)
    rate_hits: dict[str, deque[float]] = field(init=False, default_factory=dict)
    _seq: int = field(init=False, default=0)

    def __post_init__(self) -> None:
        if self.seed is None:
            self.seed = int(self.seed_data.get("seed", DEFAULT_SEED))
        self._startup_plan = self.clodura_plan
        self.reset()

    @classmethod
    def from_file(cls, path: str | Path, **kwargs: Any) -> SandboxState:
        """Build a state from a JSON seed file.

        :param path: file holding a state document (see :meth:`to_json`).
        :param kwargs: passed to the constructor; they win over the file.
        """
        data = json.loads(Path(path).read_text())
        if not isinstance(data, dict):
            raise SandboxError(f"{path}: a seed file holds a JSON object")
        return cls(seed_data=data, **kwargs)

    # ------------------------------------------------------------------ reset

    def next_id(self) -> int:
        self._seq += 1
        return self._seq

    def reset(self, clodura_plan: str | None = None) -> None:
        """Rebuild balances and history from the seed; clear faults, sessions and the request log.

        :param clodura_plan: switch Clodura's plan (default: the one given at start-up).
        """
        plan = clodura_plan or self._startup_plan or self.seed_data.get("clodura_plan") or "unified"
        if plan not in CLODURA_PLANS:
            raise SandboxError(
                f"{plan!r} is not a Clodura plan; plans: {', '.join(CLODURA_PLANS)}", field="clodura_plan"
            )
        self.clodura_plan = plan
        days = self.history_days
        if days is None:
            days = int(self.seed_data.get("history_days", DEFAULT_HISTORY_DAYS))
        self.pools, self.history = {}, {}
        period_start = month_period(today())[0].date()
        for vendor in VENDORS:
            account = f"clodura:{plan}" if vendor == "clodura" else vendor
            self.pools[vendor] = {}
            for name, seed in SEED_POOLS[account].items():
                self.pools[vendor][name] = Pool(seed.limit, seed.used)
                series = [(name, seed.daily)] if seed.daily else []
                self._generate(vendor, series, days, period_start)
            if vendor in REQUEST_SERIES:
                self._generate(vendor, [("requests", REQUEST_SERIES[vendor])], days, None)
        self._overlay(self.seed_data)
        self.sessions, self.login_sessions = {CLAY_COOKIE}, set()
        self.faults.clear()
        self.log.clear()
        self.counts.clear()
        self.rate_hits.clear()

    def rate_wait(self, vendor: str, count: int, seconds: float) -> float | None:
        """Count a request against ``count`` per ``seconds`` (sliding window); seconds to wait when over.

        :returns: None when the request is within the limit (it is counted), else how long until
            the oldest counted request leaves the window (the request is not counted).
        """
        now = time.monotonic()
        hits = self.rate_hits.setdefault(vendor, deque())
        while hits and now - hits[0] >= seconds:
            hits.popleft()
        if len(hits) >= count:
            return seconds - (now - hits[0])
        hits.append(now)
        return None

    def _generate(
        self,
        vendor: str,
        series: list[tuple[str, tuple[int, int]]],
        days: int,
        period_start: date | None,
    ) -> None:
        for pool, (low, high) in series:
            rng = random.Random(f"{self.seed}:{vendor}:{pool}")  # one stream per pool: plans don't interfere
            for back in range(days, 0, -1):
                day = today() - timedelta(days=back)
                amount = rng.randint(low, high)
                user, integration = "", ""
                if vendor == "clay":
                    user, integration = rng.choice(list(CLAY_USERS)), rng.choice(list(CLAY_INTEGRATIONS))
                self.record(vendor, pool, amount, day=day, user=user, integration=integration)
                if period_start is not None and day >= period_start:
                    self.pools[vendor][pool].used += amount

    def _overlay(self, data: dict[str, Any]) -> None:
        other_plans = {p for plan, pools in SEED_POOLS.items() if plan.startswith("clodura:") for p in pools}
        for vendor, pools in (data.get("pools") or {}).items():
            for name, values in pools.items():
                if vendor == "clodura" and name not in self.pools["clodura"] and name in other_plans:
                    continue  # a pool of the other Clodura plan
                pool = self.pool(vendor, name)
                pool.limit = float(values.get("limit", pool.limit))
                pool.used = float(values.get("used", pool.used))
                if "remaining" in values and "used" not in values:
                    self.set_balance(vendor, name, float(values["remaining"]))
        if "history" in data:
            self.history = {}
            for row in data["history"]:
                self.record(
                    row["vendor"],
                    row["pool"],
                    float(row["amount"]),
                    day=date.fromisoformat(row["day"]),
                    user=row.get("user", ""),
                    integration=row.get("integration", ""),
                )

    # ---------------------------------------------------------------- balances

    def pool(self, vendor: str, name: str | None = None) -> Pool:
        """Return a vendor's pool (its primary pool when ``name`` is None).

        :param vendor: vendor name.
        :param name: pool name.
        :raises SandboxError: no such vendor or pool.
        """
        pools = self.account(vendor)
        if name is None:
            return next(iter(pools.values()))
        if name not in pools:
            raise SandboxError(f"{vendor} has no pool {name!r}; it has: {', '.join(pools)}", field="pool")
        return pools[name]

    def account(self, vendor: str) -> dict[str, Pool]:
        """The pools of ``vendor``, primary first.

        :param vendor: vendor name.
        """
        if vendor not in self.pools:
            raise SandboxError(f"unknown vendor {vendor!r}; vendors: {', '.join(VENDORS)}", field="vendor")
        return self.pools[vendor]

    def _spend_pools(self, vendor: str, pool: str | None) -> tuple[str, list[str]]:
        name = pool or DEFAULT_SPEND_POOL.get(vendor) or next(iter(self.account(vendor)))
        parts = COMPOSITE_POOLS.get((vendor, name))
        if parts is None:
            self.pool(vendor, name)
        return name, list(parts or (name,))

    @staticmethod
    def _positive(amount: float) -> float:
        amount = float(amount)
        if not amount > 0:
            raise SandboxError(f"must be positive, got {num(amount)}", field="amount")
        return amount

    def spend(
        self, vendor: str, amount: float, pool: str | None = None, *, user: str = "", integration: str = ""
    ) -> dict[str, Any]:
        """Consume credits, as one enrichment call would, and add them to today's history.

        :param vendor: vendor name.
        :param amount: credits to consume.
        :param pool: pool to spend from (default: the one the vendor spends first).
        :param user: Clay user who spent them.
        :param integration: Clay integration that spent them.
        :raises OutOfCreditsError: less than ``amount`` remains; nothing is spent.
        """
        amount = self._positive(amount)
        name, parts = self._spend_pools(vendor, pool)
        available = sum(max(0.0, self.pools[vendor][p].remaining) for p in parts)
        if amount > available:
            raise OutOfCreditsError(vendor, name, available, amount)
        left = amount
        for part in parts:
            take = min(left, max(0.0, self.pools[vendor][part].remaining))
            if take:
                self.pools[vendor][part].used += take
                self.record(vendor, part, take, user=user, integration=integration)
                left -= take
        if vendor in REQUEST_SERIES:
            self.record(vendor, "requests", 1)
        return {"vendor": vendor, "pool": name, "spent": num(amount), "remaining": num(available - amount)}

    def topup(self, vendor: str, amount: float, pool: str | None = None) -> dict[str, Any]:
        """Add credits to a pool (raises its limit).

        :param vendor: vendor name.
        :param amount: credits to add.
        :param pool: pool to top up (default: Trendtrack's ``topup``, else the primary pool).
        """
        amount = self._positive(amount)
        name = pool or DEFAULT_TOPUP_POOL.get(vendor)
        if (vendor, name) in COMPOSITE_POOLS:
            name = DEFAULT_TOPUP_POOL[vendor]
        target = self.pool(vendor, name)
        target.limit += amount
        return {"vendor": vendor, "pool": name or next(iter(self.pools[vendor])), **target.to_json()}

    def set_balance(self, vendor: str, pool: str, remaining: float) -> dict[str, Any]:
        """Make ``remaining`` credits remain in a pool (lowering ``used``, or raising the limit).

        :param vendor: vendor name.
        :param pool: pool name.
        :param remaining: credits that should remain (not negative).
        """
        remaining = float(remaining)
        if remaining < 0:
            raise SandboxError(f"must not be negative, got {num(remaining)}", field="remaining")
        target = self.pool(vendor, pool)
        if remaining <= target.limit:
            target.used = target.limit - remaining
        else:
            target.limit, target.used = remaining, 0.0
        return {"vendor": vendor, "pool": pool, **target.to_json()}

    # ----------------------------------------------------------------- history

    def record(
        self,
        vendor: str,
        pool: str,
        amount: float,
        *,
        day: date | None = None,
        user: str = "",
        integration: str = "",
    ) -> None:
        """Add ``amount`` to the consumption of ``pool`` on ``day`` (default: today)."""
        key = (vendor, pool, day or today(), user, integration)
        self.history[key] = self.history.get(key, 0.0) + amount

    def consumption(
        self,
        vendor: str,
        pool: str | None = None,
        *,
        user: str | None = None,
        integration: str | None = None,
    ) -> dict[date, float]:
        """Consumption per day, summed over the dimensions not asked for.

        :param vendor: vendor name.
        :param pool: one pool, or every pool but the request counter when None.
        :param user: only this Clay user.
        :param integration: only this Clay integration.
        """
        days: dict[date, float] = {}
        for (v, p, day, u, i), amount in self.history.items():
            if v != vendor or (p != pool if pool else p == "requests"):
                continue
            if (user is None or u == user) and (integration is None or i == integration):
                days[day] = days.get(day, 0.0) + amount
        return dict(sorted(days.items()))

    # ------------------------------------------------------------------ faults

    def add_fault(
        self,
        vendor: str,
        scenario: str,
        count: int | None = None,
        *,
        path: str | None = None,
        params: dict[str, Any] | None = None,
    ) -> Fault:
        """Switch a fault on for the next ``count`` requests of ``vendor`` (``"*"``: every vendor).

        :param vendor: vendor name or ``"*"``.
        :param scenario: a name from :data:`~airflow_provider_credits.sandbox.faults.SCENARIOS`.
        :param count: how many requests get it; None until cleared.
        :param path: only requests whose path starts with this.
        :param params: the scenario's parameters (defaults apply for those left out).
        """
        if vendor != "*":
            self.account(vendor)
        if count is not None and int(count) < 1:
            raise SandboxError(f"must be at least 1 (or null: until cleared), got {count}", field="count")
        try:
            resolved = faults.resolve_params(scenario, params or {})
        except ValueError as exc:
            raise SandboxError(
                str(exc), field="params" if scenario in faults.SCENARIOS else "scenario"
            ) from None
        fault = Fault(self.next_id(), vendor, scenario, None if count is None else int(count), resolved, path)
        self.faults.append(fault)
        return fault

    def take_fault(self, vendor: str, path: str, cookies: list[str]) -> Fault | None:
        """The first fault that applies to this request, counted as used.

        :param vendor: vendor of the request.
        :param path: request path.
        :param cookies: Clay session cookies the request carries (signed-in sessions pass
            ``expired_cookie``).
        """
        for fault in self.faults:
            if not fault.matches(vendor, path):
                continue
            if fault.scenario == "expired_cookie" and (
                vendor != "clay" or path == "/v3/auth/login" or set(cookies) & self.login_sessions
            ):
                continue
            fault.hits += 1
            if fault.count is not None:
                fault.count -= 1
                if fault.count == 0:
                    self.faults.remove(fault)
            return fault
        return None

    def clear_faults(self) -> None:
        self.faults.clear()

    # ------------------------------------------------------------- request log

    def log_request(self, vendor: str, method: str, path: str) -> LoggedRequest:
        """Count and remember a vendor request.

        :param vendor: vendor name.
        :param method: HTTP method.
        :param path: request path, without the query string.
        """
        entry = LoggedRequest(self.next_id(), vendor, method, path)
        self.log.append(entry)
        self.counts[(vendor, path)] += 1
        return entry

    def requests(self, vendor: str | None = None, path: str | None = None) -> list[LoggedRequest]:
        """Logged requests (the latest :data:`MAX_LOGGED_REQUESTS`), optionally filtered.

        :param vendor: only this vendor's.
        :param path: only those whose path starts with this.
        """
        return [
            r
            for r in self.log
            if (vendor is None or r.vendor == vendor) and (path is None or r.path.startswith(path))
        ]

    def request_count(self, vendor: str | None = None, path: str | None = None) -> int:
        """How many requests were made since the last reset (not limited by the log's size)."""
        return sum(
            n
            for (v, p), n in self.counts.items()
            if (vendor is None or v == vendor) and (path is None or p.startswith(path))
        )

    # ------------------------------------------------------------------ export

    def to_json(self) -> dict[str, Any]:
        """The whole state as a JSON document; it is also a valid seed file."""
        return {
            "seed": self.seed,
            "clodura_plan": self.clodura_plan,
            "today": today().isoformat(),
            "pools": {v: {n: p.to_json() for n, p in pools.items()} for v, pools in self.pools.items()},
            "history": [
                {
                    "vendor": vendor,
                    "pool": pool,
                    "day": day.isoformat(),
                    "amount": num(amount),
                    **({"user": user} if user else {}),
                    **({"integration": integration} if integration else {}),
                }
                for (vendor, pool, day, user, integration), amount in sorted(self.history.items())
            ],
            "faults": [f.to_json() for f in self.faults],
            "requests": {"total": self.request_count()},
        }
