"""The vendor registry is valid (checked here, at test time, never at import) and is the one source."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from airflow_provider_credits.get_provider_info import get_provider_info
from airflow_provider_credits.hooks import HOOK_CLASS_PATHS
from airflow_provider_credits.vendors import VENDORS, VendorSpec, declarative_vendors, docs_table
from airflow_provider_credits.vendors.mapping import compile_expression
from tests.support import ROOT

DECLARATIVE = declarative_vendors()


def test_names_are_unique() -> None:
    for attribute in ("conn_type", "hook_name", "hook_class_path", "name"):
        values = [getattr(spec, attribute) for spec in VENDORS.values()]
        assert len(values) == len(set(values)), attribute


@pytest.mark.parametrize("spec", DECLARATIVE, ids=lambda s: s.conn_type)
def test_every_expression_compiles(spec: VendorSpec) -> None:
    for where, expression in spec.expressions().items():
        try:
            compile_expression(expression)
        except Exception as error:
            pytest.fail(f"{spec.conn_type}: {where} = {expression!r} does not compile: {error}")


@pytest.mark.parametrize("spec", DECLARATIVE, ids=lambda s: s.conn_type)
def test_every_pool_has_a_way_to_a_remaining_amount(spec: VendorSpec) -> None:
    assert spec.pools, "a vendor needs at least one pool"
    names = [p.name for p in spec.pools]
    assert len(names) == len(set(names))
    for pool in spec.pools:
        assert pool.remaining or (pool.limit and pool.used), pool.name
        assert re.fullmatch(r"[a-z][a-z0-9_]*", pool.name), pool.name


@pytest.mark.parametrize("spec", DECLARATIVE, ids=lambda s: s.conn_type)
def test_the_request_and_auth_are_well_formed(spec: VendorSpec) -> None:
    assert spec.balance is not None and spec.auth is not None
    assert spec.balance.method in ("GET", "POST") and spec.balance.path.startswith("/")
    assert spec.balance.body is None or spec.balance.method == "POST"
    assert spec.auth.style in ("header", "query", "basic")
    assert spec.default_base_url.startswith("https://") and not spec.default_base_url.endswith("/")
    assert all(e.kind in ("auth", "request", "exhausted") for e in spec.errors)
    if spec.balance_rate_limit is not None:
        count, seconds = spec.balance_rate_limit
        assert count > 0 and seconds > 0
    assert (ROOT / "docs" / spec.docs).is_file(), f"write docs/{spec.docs} (see docs/connections/lusha.md)"


PRIMARY = {
    "hunter": "credits",
    "lusha": "credits",
    "zerobounce": "credits",
    "prospeo": "credits",
    "serpapi": "searches",
    "apify": "usage_usd",
    "firecrawl": "credits",
    "tavily": "plan",
}


def test_primary_pools_are_the_contracts() -> None:
    """Pool names and the primary pool (listed first) are public (the design's more-vendors.md):
    a vendor's primary pool is added to PRIMARY with the vendor, and never changes after."""
    primary = {s.conn_type: s.pools[0].name for s in DECLARATIVE}
    new = set(primary) - set(PRIMARY)
    assert not new, f"a new vendor's primary pool is a public contract: add it to PRIMARY here: {new}"
    assert primary == PRIMARY
    assert [p.name for p in VENDORS["tavily"].pools] == ["plan", "key", "paygo"]
    assert [p.name for p in VENDORS["hunter"].pools] == ["credits", "searches", "verifications"]
    assert [p.name for p in VENDORS["serpapi"].pools] == ["searches", "extra_credits"]
    assert VENDORS["lusha"].balance_rate_limit == (5, 60.0)


def test_a_connection_type_declared_twice_is_refused() -> None:
    from airflow_provider_credits.vendors import CREDITS_HTTP, _by_conn_type

    with pytest.raises(ValueError, match="declares connection type 'credits_http' twice"):
        _by_conn_type((VENDORS["clay"], CREDITS_HTTP, CREDITS_HTTP))


def test_provider_info_and_hook_lookup_come_from_the_registry() -> None:
    info = {e["connection-type"]: e for e in get_provider_info()["connection-types"]}
    assert list(info) == list(VENDORS) == list(HOOK_CLASS_PATHS)
    for conn_type, spec in VENDORS.items():
        assert info[conn_type]["hook-name"] == spec.hook_name
        assert info[conn_type]["hook-class-name"] == HOOK_CLASS_PATHS[conn_type] == spec.hook_class_path
        if spec.conn_type != "credits_http":
            assert info[conn_type]["ui-field-behaviour"]["placeholders"]["host"] == spec.default_base_url


def test_code_hooks_take_their_names_from_the_registry() -> None:
    from airflow_provider_credits.hooks import hook_class_for

    for conn_type, spec in VENDORS.items():
        hook = hook_class_for(conn_type)
        assert (hook.conn_type, hook.hook_name, hook.default_conn_name) == (
            conn_type,
            spec.hook_name,
            spec.default_conn_name,
        )
        assert hook.default_base_url == spec.default_base_url


def test_readme_vendor_table_is_the_registrys() -> None:
    """The README's table of vendors is generated from the registry (``vendors.docs_table()``)."""
    table = docs_table()
    assert table in (ROOT / "README.md").read_text(), f"paste this table into README.md:\n{table}"
    for spec in VENDORS.values():
        assert f"| `{spec.conn_type}` |" in table and f"(docs/{spec.docs})" in table


def test_mkdocs_nav_has_every_vendor_page() -> None:
    nav = (ROOT / "mkdocs.yml").read_text()
    for spec in VENDORS.values():
        assert spec.docs in nav, f"add {spec.docs} to the nav of mkdocs.yml"


def test_inferred_points_are_on_the_vendor_pages() -> None:
    for spec in DECLARATIVE:
        path = ROOT / "docs" / spec.docs
        assert path.is_file(), f"write docs/{spec.docs}, with its inferred points"
        page = path.read_text()
        for point in spec.inferred:
            assert point in page, (spec.conn_type, point)


def test_importing_the_registry_is_cheap() -> None:
    """The registry is plain data: no jmespath, no hooks, no httpx at import (DAG parse), and
    its file is read on first use, not at import."""
    code = (
        "import sys, airflow_provider_credits.vendors as v, airflow_provider_credits.hooks as h\n"
        "bad = {'jmespath', 'httpx', 'airflow_provider_credits.hooks.registry', 'airflow_provider_credits.vendors.mapping'}\n"
        "assert not bad & set(sys.modules), bad & set(sys.modules)\n"
        "assert 'VENDORS' not in vars(v) and 'HOOK_CLASS_PATHS' not in vars(v), 'registry.json read at import'\n"
        "assert h.HOOK_CLASS_PATHS['hunter'].endswith('.HunterHook') and v.VENDORS['hunter'].name == 'Hunter.io'\n"
        "assert h.HOOK_CLASS_PATHS is v.HOOK_CLASS_PATHS\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr[-2000:]


def test_registry_file_entries_read_into_specs() -> None:
    """An entry of registry.json is a VendorSpec's fields; what it leaves out is filled in."""
    from airflow_provider_credits.vendors import BEARER, declared

    spec = declared(
        {
            "conn_type": "acme",
            "name": "Acme",
            "default_base_url": "https://api.acme.example",
            "hook_class_name": "AcmeHook",
            "balance": {"path": "/v1/credits", "method": "POST", "body": {"scope": "all"}},
            "pools": [{"name": "credits", "remaining": "data.left", "unit": "searches"}],
            "errors": [{"when": "error", "kind": "auth", "hint": "bad key"}],
            "balance_rate_limit": {"requests": 10, "seconds": 60},
            "inferred": ["a guess"],
        }
    )
    assert (spec.auth, spec.hook_name, spec.docs) == (BEARER, "Acme (credits)", "connections/acme.md")
    assert spec.balance is not None and (spec.balance.method, spec.balance.body) == ("POST", {"scope": "all"})
    assert spec.pools[0].unit == "searches" and spec.pools[0].remaining == "data.left"
    assert spec.errors[0].kind == "auth" and spec.balance_rate_limit == (10, 60.0)
    assert spec.inferred == ("a guess",) and spec.declarative
    assert spec.hook_class_path == "airflow_provider_credits.hooks.registry.AcmeHook"


DROP = object()  # a field a case leaves out


@pytest.mark.parametrize(
    ("change", "names"),
    [
        ({"balance": None}, "balance"),
        ({"pools": [{"name": "credits", "left": "data.left"}]}, "left"),
        ({"balance_rate_limit": {"requests": 5}}, "seconds"),
        ({"balance_rate_limit": {"requests": 0, "seconds": 60}}, "at least 1"),
        ({"inferred": "one point"}, "a JSON list, not str"),
        ({"inferred": [1]}, "a list of strings"),
        ({"error_mesage": "message"}, "error_mesage"),
        ({"default_base_url": DROP, "defualt_base_url": "x"}, "missing default_base_url; it has conn_type"),
        ({"errors": [{"when": "error", "kind": "Auth", "hint": "bad key"}]}, "errors[0].kind"),
        ({"balance": {"path": "/v1/credits", "method": "get"}}, "balance.method"),
        ({"auth": {"style": "bearer"}}, "'bearer' is not one of header, query, basic"),
    ],
)
def test_a_malformed_registry_entry_names_itself_and_the_field(change: dict[str, object], names: str) -> None:
    from airflow_provider_credits.vendors import declared

    entry = {
        "conn_type": "acme",
        "name": "Acme",
        "default_base_url": "https://api.acme.example",
        "hook_class_name": "AcmeHook",
        "balance": {"path": "/v1/credits"},
        "pools": [{"name": "credits", "remaining": "data.left"}],
        **change,
    }
    entry = {key: value for key, value in entry.items() if value is not DROP}
    with pytest.raises(ValueError, match="'acme'") as caught:
        declared(entry)
    assert names in str(caught.value)


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ('{"vendors": []}', "holds a JSON list of vendor entries, not dict"),
        ("[null]", "entry 1 of 1: a vendor registry entry is a JSON object, not NoneType"),
        ('[{"conn_type": "acme"}]', "entry 1 of 1: vendor registry entry 'acme' (its required fields)"),
        ('[{"conn_type": "acme"},]', "not valid JSON"),
    ],
)
def test_a_malformed_registry_file_says_where(
    text: str, says: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from airflow_provider_credits import vendors

    path = tmp_path / "registry.json"
    path.write_text(text)
    monkeypatch.setattr(vendors, "REGISTRY_FILE", str(path))  # an absolute path wins over the folder
    with pytest.raises(ValueError, match=r"registry\.json") as caught:
        vendors._read_registry()
    assert says in str(caught.value)
