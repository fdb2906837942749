"""What the Airflow UI must show for each connection type (the four code vendors, the registry
vendors and `credits_http`).

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


def _registry_form(conn_type: str, hook_name: str, class_name: str, host: str, key_placeholder: str):
    """A registry vendor's form: the API-key form, its hook class in ``hooks.registry``."""
    form = _api_key_form(conn_type, hook_name, class_name, host, key_placeholder)
    return ConnectionForm(
        conn_type=conn_type,
        hook_name=hook_name,
        hook_class_name=f"airflow_provider_credits.hooks.registry.{class_name}",
        standard=form.standard,
        extra=form.extra,
    )


FORMS.update(
    {
        "hunter": _registry_form(
            "hunter", "Hunter.io (credits)", "HunterHook", "https://api.hunter.io", "Hunter API key (api_key)"
        ),
        "lusha": _registry_form(
            "lusha", "Lusha (credits)", "LushaHook", "https://api.lusha.com", "Lusha API key (api_key header)"
        ),
        "zerobounce": _registry_form(
            "zerobounce",
            "ZeroBounce (credits)",
            "ZeroBounceHook",
            "https://api.zerobounce.net",
            "ZeroBounce API key (api_key)",
        ),
        "prospeo": _registry_form(
            "prospeo", "Prospeo (credits)", "ProspeoHook", "https://api.prospeo.io", "Prospeo API key (X-KEY)"
        ),
        "serpapi": _registry_form(
            "serpapi", "SerpApi (searches)", "SerpApiHook", "https://serpapi.com", "SerpApi API key (api_key)"
        ),
        "apify": _registry_form(
            "apify", "Apify (usage in USD)", "ApifyHook", "https://api.apify.com", "Apify API token"
        ),
        "firecrawl": _registry_form(
            "firecrawl", "Firecrawl (credits)", "FirecrawlHook", "https://api.firecrawl.dev", "fc-..."
        ),
        "tavily": _registry_form(
            "tavily", "Tavily (credits)", "TavilyHook", "https://api.tavily.com", "tvly-..."
        ),
        "credits_http": ConnectionForm(
            conn_type="credits_http",
            hook_name="Credits over HTTP (any vendor)",
            hook_class_name="airflow_provider_credits.hooks.registry.CreditsHttpHook",
            standard={
                "description": _DESCRIPTION,
                "host": StandardField("Base URL", "https://api.vendor.example"),
                "login": StandardField("Login (basic auth only)", "only with the basic auth style"),
                "password": StandardField(
                    "Secret (API key or token)", "the vendor's API key or token", secret=True
                ),
            },
            extra=(
                ExtraField("balance_path", "Balance path"),
                ExtraField("method", "HTTP method", "text", "GET"),
                ExtraField("body", "Request body (JSON)"),
                ExtraField("auth", "Auth style", "text", "bearer"),
                ExtraField("pools", "Pools (JSON)"),
                ExtraField("ok_when", "OK when (JMESPath)"),
                *_HTTP_EXTRAS,
            ),
        ),
    }
)
