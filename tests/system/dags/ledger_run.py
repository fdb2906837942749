"""A gated run that spends at the sandbox, reports (or not) and releases with the figure from XCom.

``ledger_run`` reports each vendor call with ``report_spend`` and releases with the total from
XCom (``spent=``, rendered as a native int); ``ledger_run_silent`` reports nothing and releases
without a figure (measured, or unknown). Param ``spends``: the credits of each vendor call.
"""

from __future__ import annotations

from typing import Any

import pendulum
from airflow.sdk import BaseHook, Param, dag, task

from airflow_provider_credits.ledger import report_spend
from airflow_provider_credits.operators.release_credits import ReleaseCreditsOperator
from airflow_provider_credits.sensors.credit_threshold import CreditThresholdSensor


def ledger_run(report: bool) -> Any:
    """The DAG's body; ``report`` stays a Python bool (a DAG function's own arguments become params)."""

    def body() -> None:
        gate = CreditThresholdSensor(
            task_id="gate",
            credits_conn_id="theirstack_default",
            credit_pool="api_credits",
            reserve=600,
            reservation_conn_id="credits_db",
            poke_interval=1,
            timeout=60,
        )

        @task
        def work(params: dict[str, Any]) -> int:
            from airflow_provider_credits.sandbox.server import SandboxClient

            sandbox = SandboxClient(BaseHook.get_connection("theirstack_default").host or "")
            for amount in params["spends"]:
                sandbox.spend("theirstack", amount, "api_credits")
                if report:
                    report_spend(amount)
            return sum(params["spends"])

        release = ReleaseCreditsOperator(
            task_id="release",
            reservation_conn_id="credits_db",
            gate_task_ids="gate",
            spent="{{ ti.xcom_pull(task_ids='work') }}" if report else None,
        )

        gate >> work() >> release

    return body


for dag_id, reports in (("ledger_run", True), ("ledger_run_silent", False)):
    dag(
        dag_id=dag_id,
        schedule=None,
        start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
        catchup=False,
        render_template_as_native_obj=True,
        params={"spends": Param([200, 150], type="array")},
    )(ledger_run(reports))()
