"""Reading a connection's fields by the form the Airflow UI shows for them.

The connection forms are declared once, in :mod:`airflow_provider_credits.get_provider_info`
(``ui-field-behaviour`` and ``conn-fields``). This module reads that same declaration at run
time, so that for every connection type, present and future:

- a field is named in messages by the label the form shows (``relabeling`` of a standard
  field, ``label`` of a provider field), e.g. "API key" rather than "password";
- a secret field (the password, and every provider field whose schema has
  ``format: password``) that holds the masked placeholder is refused before any request;
- a numeric extra is accepted only with the type and within the bounds its form field
  declares (``type`` ``integer``/``number``, ``minimum``, ``maximum``).

No I/O, no heavy imports: the provider info is a literal dict, read once per type.
"""

from __future__ import annotations

import functools
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from airflow_provider_credits.exceptions import CreditsConfigError

#: The masked placeholder: Airflow's UI and API show a saved secret as ``***`` (the secrets
#: masker's replacement), and a form or API payload saved back unchanged stores it. A value
#: made only of asterisks, three or more, once surrounding blanks are stripped, is taken for
#: it: no vendor issues such a key, cookie or password.
MASKED_PLACEHOLDER = re.compile(r"\*{3,}")

#: what a number saved as a string may look like (the UI and the CLI store ``"30"``): a plain
#: decimal, with an optional exponent; never ``nan``, ``inf`` or ``1_000``.
_NUMBER = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?")

#: Airflow's labels of the standard fields when a provider does not relabel them.
_STANDARD_LABELS = {
    "host": "Host",
    "login": "Login",
    "password": "Password",
    "schema": "Schema",
    "port": "Port",
}


def extra_value(extras: Mapping[str, Any], conn_type: str, name: str) -> Any:
    """Read an extra saved either plainly or with the legacy ``extra__<type>__`` prefix."""
    value = extras.get(name)
    if value in (None, ""):
        value = extras.get(f"extra__{conn_type}__{name}")
    return None if value == "" else value


def is_masked_placeholder(value: Any) -> bool:
    """Whether ``value`` is the masked placeholder (see :data:`MASKED_PLACEHOLDER`) rather than a secret."""
    return isinstance(value, str) and MASKED_PLACEHOLDER.fullmatch(value.strip()) is not None


@dataclass(frozen=True)
class NumberField:
    """A numeric form field: its JSON-schema ``type`` and bounds (inclusive, None when open)."""

    integer: bool
    minimum: float | None = None
    maximum: float | None = None

    def describe(self) -> str:
        """The allowed values in words, e.g. ``"a whole number from 0 to 10"``."""
        kind = "a whole number" if self.integer else "a number"
        low, high = (None if b is None else f"{b:g}" for b in (self.minimum, self.maximum))
        if low is not None and high is not None:
            return f"{kind} from {low} to {high}"
        if low is not None:
            return f"{kind} of at least {low}"
        return f"{kind} of at most {high}" if high is not None else kind


@dataclass(frozen=True)
class ConnectionForm:
    """The form of one connection type, as the UI shows it.

    :param conn_type: the connection type, e.g. ``"theirstack"``.
    :param labels: field name -> label shown (standard fields and provider fields).
    :param secret_fields: ``password`` and every provider field masked in the form.
    :param number_fields: provider fields of type ``integer`` or ``number``.
    """

    conn_type: str
    labels: Mapping[str, str]
    secret_fields: tuple[str, ...]
    number_fields: Mapping[str, NumberField]

    def label(self, name: str) -> str:
        """The label the form shows for field ``name`` (the name itself when the form has none)."""
        return self.labels.get(name, name)

    def describe(self, name: str) -> str:
        """A field named for people who use the form and for those who use JSON / the CLI:
        ``'API key' (the connection's password)`` or ``'Workspace ID' (extra 'workspace_id')``."""
        where = f"the connection's {name}" if name in _STANDARD_LABELS else f"extra {name!r}"
        return f"{self.label(name)!r} ({where})"

    def refuse_masked_secrets(self, conn_id: str, values: Mapping[str, Any], *, vendor: str) -> None:
        """Raise when a secret field holds the masked placeholder instead of the secret.

        :param conn_id: the connection, named in the message.
        :param values: field name -> value as the hook would send it (the password after
            any vendor normalization, e.g. Clay's ``claysession=`` prefix removed); fields
            missing here are not checked.
        :raises CreditsConfigError: naming the connection and the field by its label.
        """
        for name in self.secret_fields:
            value = values.get(name)
            if isinstance(value, str) and is_masked_placeholder(value):
                raise CreditsConfigError(
                    f"connection {conn_id!r}: {self.describe(name)} holds {value.strip()!r}, the masked "
                    "placeholder that the Airflow UI and API show in place of a saved secret, not the secret "
                    "itself; type the real secret into that field again",
                    vendor=vendor,
                )

    def number(
        self, conn_id: str, name: str, value: Any, *, vendor: str, override: bool = False
    ) -> int | float | None:
        """Check numeric field ``name`` against its form declaration and return it.

        Accepted: a JSON number (not a boolean) or a string holding a plain decimal, blanks
        around it allowed (``"30"``, ``" 7.5 "``, ``"1e1"``); an integer field also takes a
        whole number written as a float (``"3.0"``, as JSON Schema counts it an integer).
        Refused: ``nan``, infinities, booleans, fractions for an integer field, and values
        outside ``minimum``/``maximum``.

        :param conn_id: the connection, named in the message.
        :param name: the field (extra) name, e.g. ``"timeout"``.
        :param value: the saved value; None or blank means unset.
        :param override: the value comes from the hook's keyword argument, not the
            connection: the form's ``minimum`` is relaxed to 0 (code may use a sub-second
            timeout), the rest applies.
        :returns: None when unset; an ``int`` for an integer field, else a ``float``.
        :raises CreditsConfigError: naming the connection, the extra and what is allowed.
        """
        spec = self.number_fields.get(name, NumberField(integer=False, minimum=0))
        if override:
            spec = NumberField(spec.integer, 0 if spec.minimum is not None else None, spec.maximum)
        if value is None or (isinstance(value, str) and not value.strip()):
            return None
        source = f"hook argument {name!r}" if override else f"connection {conn_id!r}: extra {name!r}"
        shown = repr(value) if len(repr(value)) <= 40 else f"{repr(value)[:37]}..."
        if not isinstance(value, str):
            shown = f"{type(value).__name__} {shown}"

        def refuse(problem: str) -> CreditsConfigError:
            form = "" if override else f"the form's {self.label(name)!r} field takes "
            return CreditsConfigError(
                f"{source} {problem}, got {shown} ({form}{spec.describe()})", vendor=vendor
            )

        if isinstance(value, bool) or not isinstance(value, (int, float, str)):
            raise refuse("must be a number")
        if isinstance(value, str) and not _NUMBER.fullmatch(value.strip()):
            raise refuse("must be a number")
        exact = Decimal(value.strip() if isinstance(value, str) else value)
        if not exact.is_finite() or not math.isfinite(float(exact)):
            raise refuse("must be a finite number")
        if spec.integer and exact != exact.to_integral_value():
            raise refuse("must be a whole number")
        if spec.minimum is not None and exact < Decimal(str(spec.minimum)):
            raise refuse(
                "must not be negative" if spec.minimum == 0 else f"must be at least {spec.minimum:g}"
            )
        if spec.maximum is not None and exact > Decimal(str(spec.maximum)):
            raise refuse(f"must be at most {spec.maximum:g}")
        return int(exact) if spec.integer else float(exact)


def _number_field(schema: Mapping[str, Any]) -> NumberField | None:
    types = schema.get("type")
    types = {types} if isinstance(types, str) else set(types or ())
    if not types & {"integer", "number"}:
        return None
    return NumberField("number" not in types, schema.get("minimum"), schema.get("maximum"))


@functools.cache
def connection_form(conn_type: str) -> ConnectionForm:
    """The form of ``conn_type`` from the provider info (read once per type).

    A type the provider info does not declare (e.g. a hook subclass in user code) gets the
    standard labels and the shared HTTP fields (``timeout``, ``max_retries``,
    ``retry_max_seconds``).
    """
    from airflow_provider_credits.get_provider_info import HTTP_FIELDS, get_provider_info

    entry = next(
        (e for e in get_provider_info()["connection-types"] if e["connection-type"] == conn_type),
        {"ui-field-behaviour": {}, "conn-fields": HTTP_FIELDS},
    )
    fields: Mapping[str, Mapping[str, Any]] = entry["conn-fields"]
    labels = {
        **_STANDARD_LABELS,
        **entry["ui-field-behaviour"].get("relabeling", {}),
        **{name: spec.get("label", name) for name, spec in fields.items()},
    }
    secrets = ("password", *(n for n, s in fields.items() if s.get("schema", {}).get("format") == "password"))
    numbers = {n: f for n, s in fields.items() if (f := _number_field(s.get("schema", {}))) is not None}
    return ConnectionForm(conn_type, labels, secrets, numbers)


@dataclass
class ConnectionSettings:
    """What a hook needs from its Airflow connection, read once.

    :param base_url: the API base URL, without a trailing slash.
    :param secret: the password field, stripped (API key or cookie).
    :param login: the login field, stripped.
    :param extras: the connection's extras, decoded.
    :param timeout: seconds per request.
    :param max_retries: tries after the first one.
    :param retry_max_seconds: seconds from the first try beyond which no retry wait may end.
    """

    base_url: str
    secret: str
    login: str
    extras: dict[str, Any]
    timeout: float
    max_retries: int
    retry_max_seconds: float

    def __repr__(self) -> str:  # never show the secret
        return f"ConnectionSettings(base_url={self.base_url!r}, login={self.login!r}, secret=***)"


def base_url(host: str | None, port: int | None, default: str) -> str:
    """The base URL of a connection: its host (``https://`` when no scheme, its port unless the
    host names one), else the vendor's ``default``; no trailing slash."""
    import httpx

    host = (host or "").strip()
    if host and "://" not in host:
        host = f"https://{host}"
    if host and port:
        url = httpx.URL(host)
        if url.port is None:
            host = str(url.copy_with(port=int(port)))
    return (host or default).rstrip("/")
