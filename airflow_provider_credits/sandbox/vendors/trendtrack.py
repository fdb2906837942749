"""Trendtrack in the sandbox: the usage endpoint, and ``X-Credits-Remaining`` on successful answers."""

from __future__ import annotations

import uuid
from datetime import datetime, timezone

from airflow_provider_credits.sandbox.state import Fault, SandboxState, month_period, num, today
from airflow_provider_credits.sandbox.vendors import base
from airflow_provider_credits.sandbox.vendors.base import Call, Reply, SandboxVendor, VendorRoute


def _total(state: SandboxState) -> float:
    return sum(max(0.0, state.pool("trendtrack", p).remaining) for p in ("recurring", "topup"))


def usage(call: Call) -> Reply:
    state = call.state
    recurring, quota = state.pool("trendtrack", "recurring"), state.pool("trendtrack", "included_quota")
    start, end = month_period(today())
    total = num(_total(state))
    return Reply(
        body={
            "requestId": str(uuid.UUID(int=state.next_id())),
            "workspace": {"id": "ws_sandbox", "slug": "sandbox", "name": "Sandbox workspace"},
            "credential": {
                "id": "cred_sandbox",
                "accessLevel": "full_access",
                "lastUsedAt": base.iso(datetime.now(timezone.utc)),
            },
            "billing": {
                "configured": True,
                "planCode": "growth",
                "currentPeriodStart": base.iso(start),
                "currentPeriodEnd": base.iso(end),
                "updatedAt": base.iso(start),
            },
            "includedQuota": quota.to_json(),
            "credits": {
                "balance": total,
                "recurring": recurring.to_json(),
                "topup": {"balance": num(state.pool("trendtrack", "topup").remaining)},
                "totalRemaining": total,
            },
        }
    )


def _headers(state: SandboxState, window: base.Window, reply: Reply, fault: Fault | None) -> dict[str, str]:
    return {"X-Credits-Remaining": str(num(_total(state)))} if reply.status < 300 else {}


TRENDTRACK = SandboxVendor(
    name="trendtrack",
    routes=(VendorRoute("GET", "/v1/usage", usage),),
    auth=base.bearer_auth("trendtrack"),
    auth_hint="Authorization: Bearer <api_key>",
    error_body=lambda code, status, message, rid: {
        "error": {"code": code, "message": message, "requestId": str(uuid.UUID(int=rid))}
    },
    error_codes={
        "missing_key": "missing_api_key",
        "invalid_key": "invalid_api_key",
        "revoked": "credential_revoked",
        "insufficient": "insufficient_credits",
        "forbidden": "forbidden",
        "not_found": "not_found",
        "invalid": "validation_error",
        "rate_limited": "rate_limited",
        "internal": "internal_error",
    },
    headers=_headers,
)
