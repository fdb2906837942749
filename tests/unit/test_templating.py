"""A templated argument that renders to nothing is a CreditsConfigError, never a silent default.

Every operator and sensor of the package: CreditThresholdSensor, UsageToSqlOperator,
ReleaseCreditsOperator (issue 22: ``credit_pool="{{ params.get('pool', '') }}"`` gated on the
primary pool and succeeded).
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

import pendulum
import pytest
from airflow.sdk import DAG

from airflow_provider_credits.exceptions import CreditsConfigError
from airflow_provider_credits.operators.credit_alerts import CreditAlertOperator
from airflow_provider_credits.operators.release_credits import ReleaseCreditsOperator
from airflow_provider_credits.operators.usage_to_sql import UsageToSqlOperator
from airflow_provider_credits.sensors.credit_threshold import CreditThresholdSensor

EMPTY = "{{ params.get('value', '') }}"
GIVEN = "{{ params.get('value', 'from_params') }}"


def sensor(**kwargs: Any) -> CreditThresholdSensor:
    return CreditThresholdSensor(
        task_id="task", **{"credits_conn_id": "theirstack_default", "min_remaining": 1, **kwargs}
    )


def usage(**kwargs: Any) -> UsageToSqlOperator:
    return UsageToSqlOperator(
        task_id="task", **{"credits_conn_id": "theirstack_default", "sql_conn_id": "usage_db", **kwargs}
    )


def release(**kwargs: Any) -> ReleaseCreditsOperator:
    return ReleaseCreditsOperator(task_id="task", **{"reservation_conn_id": "credits_db", **kwargs})


#: (builder, argument, the argument's value holding the template, the label in the message)
CASES: list[tuple[Callable[..., Any], str, Any, str]] = [
    (sensor, "credit_pool", EMPTY, "credit_pool"),
    (sensor, "credits_conn_id", EMPTY, "credits_conn_id"),
    (sensor, "min_remaining", EMPTY, "min_remaining"),
    (sensor, "min_remaining_pct", "{{ params.get('value') or '' }}", "min_remaining_pct"),
    (sensor, "reservation_conn_id", "  {{ params.get('value', '') }}  ", "reservation_conn_id"),
    (usage, "start", EMPTY, "start"),
    (usage, "end", EMPTY, "end"),
    (usage, "sql_conn_id", EMPTY, "sql_conn_id"),
    (usage, "credits_conn_id", ["theirstack_default", EMPTY], "credits_conn_id[1]"),
    (usage, "usage_table", EMPTY, "usage_table"),
    (usage, "hook_params", {"schema": EMPTY}, "hook_params['schema']"),
    (release, "gate_task_ids", EMPTY, "gate_task_ids"),
    (release, "gate_task_ids", ["gate", EMPTY], "gate_task_ids[1]"),
    (release, "reservation_conn_id", EMPTY, "reservation_conn_id"),
    (release, "reservation_table", "{% if params.get('value') %}t{% endif %}", "reservation_table"),
]


#: (builder, argument) of the cases whose argument has no default to fall back to
WITHOUT_DEFAULT = {
    (sensor, "credits_conn_id"),
    (usage, "sql_conn_id"),
    (usage, "credits_conn_id"),
    (release, "reservation_conn_id"),
}


EACH_CASE = pytest.mark.parametrize(
    ("build", "argument", "value", "label"),
    CASES,
    ids=[f"{b.__name__}-{label}" for b, _, _, label in CASES],
)


def render(task: Any, **params: Any) -> None:
    task.render_template_fields({"params": params})


def in_dag(build: Callable[..., Any], **kwargs: Any) -> Any:
    """The task ``build(**kwargs)`` makes, inside a DAG (``render_template_as_native_obj`` from kwargs)."""
    native = kwargs.pop("native", False)
    start = pendulum.datetime(2026, 1, 1, tz="UTC")
    with DAG("empty_templates", schedule=None, start_date=start, render_template_as_native_obj=native):
        return build(**kwargs)


@EACH_CASE
def test_a_template_that_renders_to_nothing_names_the_argument_and_the_result(
    build: Callable[..., Any], argument: str, value: Any, label: str
) -> None:
    task = in_dag(build, **{argument: value})
    with pytest.raises(CreditsConfigError) as caught:
        render(task)
    message = str(caught.value)
    assert message.startswith(f"task: {label} is the template ")
    assert "params.get('value'" in message  # the template itself
    assert "which rendered to " in message
    if (build, argument) in WITHOUT_DEFAULT:
        assert f"{argument} has no default, so it needs a value" in message
        assert "default on purpose" not in message
    else:
        assert "fall back to its default" in message


@EACH_CASE
def test_a_template_that_renders_to_a_value_passes(
    build: Callable[..., Any], argument: str, value: Any, label: str
) -> None:
    task = in_dag(build, **{argument: value})
    render(task, value="5")


def test_a_native_template_that_renders_to_none_is_refused() -> None:
    task = in_dag(release, gate_task_ids="{{ params.get('value') }}", native=True)
    with pytest.raises(CreditsConfigError, match=r"gate_task_ids is the template .* which rendered to None"):
        render(task)


@pytest.mark.parametrize(
    "task",
    [
        lambda: sensor(credit_pool=None),
        lambda: usage(start=None, end=""),
        lambda: release(gate_task_ids=None),
        lambda: release(gate_task_ids=[]),
    ],
)
def test_arguments_left_empty_literally_keep_their_defaults(task: Callable[[], Any]) -> None:
    render(in_dag(task))


@pytest.mark.parametrize(
    "operator_class",
    [CreditThresholdSensor, UsageToSqlOperator, ReleaseCreditsOperator, CreditAlertOperator],
    ids=lambda c: c.__name__,
)
def test_every_template_field_is_an_argument_of_the_same_name(operator_class):
    """What the rendered-template view and template errors name is what the DAG author wrote."""
    arguments = set(inspect.signature(operator_class.__init__).parameters)
    assert [field for field in operator_class.template_fields if field not in arguments] == []
