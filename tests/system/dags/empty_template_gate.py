"""The first-hour mistake of issue 22: a pool taken from params with an empty default.

Run without a ``pool`` param, both gates' ``credit_pool`` render to ``""``: they must fail
with a CreditsConfigError instead of gating on the primary pool. ``mapped_gate`` is rendered
through Airflow's mapped-task path, which does not call the sensor's ``render_template_fields``.
"""

from __future__ import annotations

import pendulum
from airflow.sdk import dag

from airflow_provider_credits.sensors.credit_threshold import CreditThresholdSensor


@dag(schedule=None, start_date=pendulum.datetime(2026, 1, 1, tz="UTC"), catchup=False)
def empty_template_gate() -> None:
    CreditThresholdSensor(
        task_id="gate",
        credits_conn_id="theirstack_default",
        credit_pool="{{ params.get('pool', '') }}",
        min_remaining=1,
        poke_interval=1,
        timeout=30,
    )
    CreditThresholdSensor.partial(
        task_id="mapped_gate",
        credits_conn_id="theirstack_default",
        credit_pool="{{ params.get('pool', '') }}",
        poke_interval=1,
        timeout=30,
    ).expand(min_remaining=[1, 2])


empty_template_gate()
