"""What each process of the race test runs: one check of a reserving sensor (spawned children)."""

from __future__ import annotations

import os
from typing import Any

#: imported once by the fork server, so each worker process starts in milliseconds, not seconds
PRELOAD = [
    "airflow_provider_credits.sensors.credit_threshold",
    "airflow_provider_credits.hooks.theirstack",
    "airflow_provider_credits.reservations",
    "airflow.providers.common.sql.hooks.sql",
    "airflow.providers.sqlite.hooks.sqlite",
    "airflow.providers.postgres.hooks.postgres",
    "airflow.providers.mysql.hooks.mysql",
    "tests.integration.race_worker",
]


class _TaskInstance:
    def __init__(self, run_id: str) -> None:
        self.dag_id = "race"
        self.run_id = run_id
        self.task_id = "wait_for_credits"
        self.map_index = -1


def contend(job: dict[str, Any]) -> dict[str, Any]:
    """Wait at the barrier with every other process, then check (read the balance, try to reserve) once.

    :param job: ``env`` (connections), ``barrier``, ``run_id``, ``amount``, ``reservation_conn_id``, ``table``.
    :return: ``run_id``, ``granted`` and the sensor's XCom value (None while it keeps waiting).
    """
    os.environ.update(job["env"])
    from airflow_provider_credits.sensors.credit_threshold import CreditThresholdSensor

    sensor = CreditThresholdSensor(
        task_id="wait_for_credits",
        credits_conn_id="theirstack_default",
        credit_pool="api_credits",
        reserve=job["amount"],
        reservation_conn_id=job["reservation_conn_id"],
        reservation_table=job["table"],
    )
    context: Any = {"ti": _TaskInstance(job["run_id"])}
    job["barrier"].wait(timeout=120)
    result = sensor.poke(context)
    return {"run_id": job["run_id"], "granted": bool(result.is_done), "value": result.xcom_value}


def report(job: dict[str, Any]) -> dict[str, Any]:
    """Wait at the barrier, then report ``reports`` spends of ``each`` credits on ``reservation_id``."""
    os.environ.update(job["env"])
    from airflow_provider_credits.reservations import Holder, ReservationStore

    store = ReservationStore(job["reservation_conn_id"], job["table"])
    job["barrier"].wait(timeout=120)
    for _ in range(job["reports"]):
        store.report(job["reservation_id"], job["each"], reporter=Holder("race", job["run_id"], "enrich"))
    return {"run_id": job["run_id"]}
