"""What the Airflow UI must show for each of the four connection types.

Written out literally (not derived from ``get_provider_info()``) so that an accidental
change of a label, placeholder, hidden field or secret flag in the provider info fails the
UI tests instead of silently changing the form users see.
"""

from __future__ import annotations

from dataclasses import dataclass, field

#: the UI's own names of the standard fields (``hook_meta`` calls ``schema`` ``url_schema``).
STANDARD_FIELDS = ("description", "host", "login", "password", "port", "schema")
#: the labels Airflow gives the standard fields when a provider does not relabel them.
DEFAULT_LABELS = {
    "description": "Description",
    "host": "Host",
    "login": "Login",
    "password": "Password",
    "port": "Port",
    "schema": "Schema",
}


@dataclass(frozen=True)
class StandardField:
    """A visible standard field: its label, placeholder ("" when none) and masking."""

    label: str
    placeholder: str = ""
    secret: bool = False


@dataclass(frozen=True)
class ExtraField:
    """A provider-defined field (``conn-fields``) shown under "Extra Fields".

    :param kind: ``text``, ``secret`` (a masked input) or ``number``.
    :param default: the value the form starts with ("" when none).
    """

    name: str
    label: str
    kind: str = "text"
    default: str = ""


@dataclass(frozen=True)
class ConnectionForm:
    """The form of one connection type."""

    conn_type: str
    hook_name: str
    hook_class_name: str
    #: visible standard fields (name -> label, placeholder, masking).
    standard: dict[str, StandardField]
    #: provider fields, in the order the form shows them.
    extra: tuple[ExtraField, ...] = field(default_factory=tuple)

    @property
    def hidden(self) -> tuple[str, ...]:
        """Standard fields the form must not show."""
        return tuple(name for name in STANDARD_FIELDS if name not in self.standard)


_HTTP_EXTRAS = (
    ExtraField("timeout", "Timeout (seconds)", "number", "30"),
    ExtraField("max_retries", "Max retries", "number", "4"),
    ExtraField("retry_max_seconds", "Retry budget (seconds)", "number", "120"),
)
_DESCRIPTION = StandardField("Description")


def _api_key_form(conn_type: str, hook_name: str, class_name: str, host: str, key_placeholder: str, *extra):
    return ConnectionForm(
        conn_type=conn_type,
        hook_name=hook_name,
        hook_class_name=f"airflow_provider_credits.hooks.{conn_type}.{class_name}",
        standard={
            "description": _DESCRIPTION,
            "host": StandardField("Host", host),
            "password": StandardField("API key", key_placeholder, secret=True),
        },
        extra=(*extra, *_HTTP_EXTRAS),
    )


FORMS: dict[str, ConnectionForm] = {
    "clay": ConnectionForm(
        conn_type="clay",
        hook_name="Clay (credits, unofficial API)",
        hook_class_name="airflow_provider_credits.hooks.clay.ClayHook",
        standard={
            "description": _DESCRIPTION,
            "host": StandardField("Host", "https://api.clay.com"),
            "login": StandardField(
                "Email (optional, to sign in)", "only when the cookie should be refreshed by signing in"
            ),
            "password": StandardField("Session cookie", "value of the claysession cookie", secret=True),
        },
        extra=(
            ExtraField("workspace_id", "Workspace ID"),
            ExtraField("account_password", "Account password (optional)", "secret"),
            *_HTTP_EXTRAS,
        ),
    ),
    "clodura": _api_key_form(
        "clodura", "Clodura (credits)", "CloduraHook", "https://api.clodura.ai", "Clodura API key (X-API-KEY)"
    ),
    "theirstack": _api_key_form(
        "theirstack",
        "TheirStack (credits)",
        "TheirStackHook",
        "https://api.theirstack.com",
        "TheirStack API key",
        ExtraField("timezone", "Usage time zone", "text", "UTC"),
    ),
    "trendtrack": _api_key_form(
        "trendtrack", "Trendtrack (credits)", "TrendtrackHook", "https://api.trendtrack.io", "tt_live_..."
    ),
}
