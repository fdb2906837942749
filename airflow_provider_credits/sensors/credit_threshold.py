"""Wait until a vendor account has enough credits: :class:`CreditThresholdSensor`."""

from __future__ import annotations

import time
from collections.abc import Sequence
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from airflow.sdk import BaseSensorOperator, PokeReturnValue, conf
from airflow.sdk.exceptions import AirflowException, AirflowSensorTimeout, AirflowSkipException

from airflow_provider_credits.exceptions import CreditsApiError, CreditsConfigError
from airflow_provider_credits.threshold import HUNDRED, Gate, error_from_payload, parse_amount, result_value

if TYPE_CHECKING:
    from airflow.sdk import Context

    from airflow_provider_credits.models import CreditBalance


class CreditThresholdSensor(BaseSensorOperator):
    """Wait until a credit pool of a vendor account has at least the credits a run needs.

    Works with any connection of type clay, clodura, theirstack or trendtrack (the hook
    is chosen from the connection's type). Each check makes exactly one vendor request. On
    success the task returns (as XCom) the balance it decided on, with the decision under
    ``"decision"``.

    Errors: auth/permission and other non-transient errors fail at once; 402 (out of credits)
    counts as zero credits and the sensor keeps waiting; 429, 5xx and network errors are logged
    and checked again at the next interval, unless ``fail_on_transient_errors`` is set.

    :param credits_conn_id: the vendor connection (templated).
    :param min_remaining: credits that must remain; a number or numeric string, e.g. rendered
        from XCom (templated).
    :param min_remaining_pct: percentage (0-100) of the pool's limit that must remain
        (templated). With both thresholds set, both must hold.
    :param credit_pool: the vendor's credit pool to gate on, e.g. ``"direct_dials"``; None for
        the balance's primary pool (templated). Not Airflow's ``pool`` (task slots).
    :param fail_on_transient_errors: fail at the first 429/5xx/network error instead of waiting.
    :param deferrable: wait in the triggerer instead of a worker slot; defaults to
        ``[operators] default_deferrable``.
    :param kwargs: :class:`~airflow.sdk.BaseSensorOperator` arguments (``poke_interval``,
        ``timeout``, ``mode``, ``soft_fail``, ``exponential_backoff``, ``max_wait`` ...).
    """

    template_fields: Sequence[str] = ("credits_conn_id", "min_remaining", "min_remaining_pct", "credit_pool")
    ui_color = "#f5e6c8"

    def __init__(
        self,
        *,
        credits_conn_id: str = "clay_default",
        min_remaining: Any = None,
        min_remaining_pct: Any = None,
        credit_pool: str | None = None,
        fail_on_transient_errors: bool = False,
        deferrable: bool = conf.getboolean("operators", "default_deferrable", fallback=False),
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        if min_remaining is None and min_remaining_pct is None:
            raise CreditsConfigError(f"{self.task_id}: give min_remaining, min_remaining_pct or both")
        # Literal thresholds are checked now (cheap, no I/O); templated strings at the first poke.
        if not isinstance(min_remaining, str):
            parse_amount("min_remaining", min_remaining)
        if not isinstance(min_remaining_pct, str):
            parse_amount("min_remaining_pct", min_remaining_pct, maximum=HUNDRED)
        self.credits_conn_id = credits_conn_id
        self.min_remaining = min_remaining
        self.min_remaining_pct = min_remaining_pct
        self.credit_pool = credit_pool
        self.fail_on_transient_errors = fail_on_transient_errors
        self.deferrable = deferrable

    def poke(self, context: Context) -> PokeReturnValue:
        """Read the balance once and decide; logs one line when not (yet) enough."""
        from airflow_provider_credits.hooks import get_credits_hook

        gate = Gate.of(self)
        balance: CreditBalance | None = None
        error: CreditsApiError | None = None
        hook = None
        try:
            # No hook retries: the next check is the retry, so each check is one request.
            hook = get_credits_hook(self.credits_conn_id, max_retries=0)
            balance = hook.get_balance()
        except CreditsApiError as exc:
            error = exc  # the gate's error policy decides: fail now or check again
        finally:
            if hook is not None:
                hook.close()
        result = gate.check(balance, error)
        if not result.met:
            log = self.log.warning if result.transient else self.log.info
            log("connection %r: %s; next check %s", self.credits_conn_id, result.message, self._next_check())
            return PokeReturnValue(False)
        assert balance is not None and result.decision is not None
        self.log.info("connection %r: %s", self.credits_conn_id, result.message)
        return PokeReturnValue(
            True, result_value(balance.model_dump(mode="json"), result.decision.model_dump(mode="json"))
        )

    def _next_check(self) -> str:
        if self.exponential_backoff:
            return "after an exponential backoff"
        return f"in {self.poke_interval:g}s"

    def execute(self, context: Context) -> Any:
        if not self.deferrable:
            return super().execute(context)
        deadline = time.time() + self.timeout
        first = self.poke(context)
        if first.is_done:
            return first.xcom_value
        from airflow_provider_credits.triggers.credit_threshold import CreditThresholdTrigger

        self.defer(
            trigger=CreditThresholdTrigger(
                credits_conn_id=self.credits_conn_id,
                **Gate.of(self).thresholds.as_kwargs(),
                credit_pool=self.credit_pool,
                poke_interval=self.poke_interval,
                deadline=deadline,
                fail_on_transient_errors=self.fail_on_transient_errors,
            ),
            method_name="execute_complete",
            timeout=timedelta(seconds=self.timeout),
        )

    def execute_complete(self, context: Context, event: dict[str, Any]) -> Any:
        """Resume after the trigger: return the balance, or raise what the poke path would raise.

        :param context: the task context.
        :param event: the trigger's event payload.
        """
        status = event.get("status")
        if status == "success":
            self.log.info("connection %r: %s", self.credits_conn_id, event["decision"]["message"])
            return result_value(event["balance"], event["decision"])
        if status == "timeout":
            message = f"Sensor has timed out after {self.timeout:g}s: {event.get('message')}"
            if self.soft_fail:
                raise AirflowSkipException(message)
            raise AirflowSensorTimeout(message)
        if status == "error":
            raise error_from_payload(event)
        raise AirflowException(f"{self.task_id}: unexpected trigger event {event!r}")
