"""A deferrable credit gate that waits in the triggerer until someone tops the account up."""

from __future__ import annotations

from datetime import datetime

from airflow.sdk import dag

from airflow_provider_credits.sensors.credit_threshold import CreditThresholdSensor


@dag(schedule=None, start_date=datetime(2025, 1, 1), catchup=False, tags=["credits"])
def credit_sensor_topup():
    CreditThresholdSensor(
        task_id="wait_for_credits",
        credits_conn_id="clodura_default",
        min_remaining=4000,
        deferrable=True,
        poke_interval=0.5,
        timeout=120,
    )


credit_sensor_topup()
