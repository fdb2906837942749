"""The four connection forms in a real Airflow UI, driven in headless Chromium.

One ``airflow api-server`` (on the session's migrated SQLite database) and one browser
serve every test here (see ``conftest.py``).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import pytest

from airflow_provider_credits.get_provider_info import get_provider_info
from airflow_provider_credits.sandbox.keys import CLODURA_API_KEY
from tests.system.ui.expected import FORMS, STANDARD_FIELDS
from tests.system.ui.pages import (
    STANDARD_INPUT,
    connection_row,
    extra_input,
    field_help,
    field_label,
    field_root,
    form_screenshot,
    open_add_dialog,
    open_connections,
    open_section,
    toast,
)
from tests.system.ui.server import AirflowApiServer

try:
    from playwright.sync_api import expect
except ImportError:  # the `browser` fixture skips (or fails under CI) with the reason
    expect = None  # type: ignore[assignment]

if TYPE_CHECKING:
    from playwright.sync_api import Locator, Page, Route

    from airflow_provider_credits.sandbox.server import SandboxServer

pytestmark = pytest.mark.ui

CONN_FIELDS = {
    item["connection-type"]: item["conn-fields"] for item in get_provider_info()["connection-types"]
}


def _input_type(control: Locator) -> str:
    """The input's effective type (``text`` when the attribute is absent)."""
    return str(control.evaluate("e => e.type"))


@pytest.mark.parametrize("conn_type", list(FORMS))
def test_connection_form(page: Page, ui_server: AirflowApiServer, conn_type: str) -> None:
    """Picking the type by its display name shows the provider's form, secrets masked."""
    form = FORMS[conn_type]
    dialog = open_add_dialog(page, ui_server.url, form.hook_name)
    combobox = dialog.get_by_role("combobox", name="Connection Type")
    expect(field_root(combobox).get_by_text(form.hook_name, exact=True)).to_be_visible()

    open_section(dialog, "Standard Fields")
    for name in STANDARD_FIELDS:
        control = dialog.locator(STANDARD_INPUT[name])
        if name in form.hidden:
            expect(control, f"{conn_type}: standard field {name} must be hidden").to_have_count(0)
            continue
        spec = form.standard[name]
        expect(control).to_be_visible()
        assert field_label(control) == spec.label, f"{conn_type}: label of {name}"
        expect(control).to_have_attribute("placeholder", spec.placeholder)
        expected_type = "password" if spec.secret else "textarea" if name == "description" else "text"
        assert _input_type(control) == expected_type, f"{conn_type}: {name} masked iff secret"

    open_section(dialog, "Extra Fields")
    shown = dialog.locator("input[name^='element_']").evaluate_all("els => els.map(e => e.name)")
    assert shown == [f"element_{field.name}" for field in form.extra], f"{conn_type}: extra fields"
    for field in form.extra:
        control = extra_input(dialog, field.name)
        expect(control).to_be_visible()
        assert field_label(control) == field.label, f"{conn_type}: label of {field.name}"
        assert field_help(control) == CONN_FIELDS[conn_type][field.name]["description"]
        expect(control).to_have_value(field.default)
        assert _input_type(control) == ("password" if field.kind == "secret" else "text")
        if field.kind == "number":
            expect(control).to_have_attribute("role", "spinbutton")
        else:
            assert control.get_attribute("role") is None, f"{conn_type}: {field.name} is not a number"


def test_masked_secret_can_be_revealed(page: Page, ui_server: AirflowApiServer) -> None:
    """A typed cookie stays masked until "Show value" is pressed."""
    dialog = open_add_dialog(page, ui_server.url, FORMS["clay"].hook_name)
    password = dialog.locator(STANDARD_INPUT["password"])
    password.fill("not-a-real-cookie")
    expect(password).to_have_attribute("type", "password")
    field_root(password).get_by_role("button", name="Show value").click()
    expect(password).to_have_attribute("type", "text")
    expect(password).to_have_value("not-a-real-cookie")


def test_generic_form_shows_every_standard_field(page: Page, ui_server: AirflowApiServer) -> None:
    """Control case: the locators used for hidden fields do find them when a type shows them."""
    dialog = open_add_dialog(page, ui_server.url, "Generic")
    for name in STANDARD_FIELDS:
        expect(dialog.locator(STANDARD_INPUT[name])).to_be_visible()


def test_form_screenshot_shows_both_sections(page: Page, ui_server: AirflowApiServer) -> None:
    """The ``make screenshots`` composition works: a PNG taller than the visible dialog."""
    dialog = open_add_dialog(page, ui_server.url, FORMS["theirstack"].hook_name, "theirstack_default")
    png = form_screenshot(page, dialog)
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = int.from_bytes(png[16:20], "big"), int.from_bytes(png[20:24], "big")
    box = dialog.bounding_box()
    assert box is not None
    assert width == round(box["width"])
    assert height > box["height"]  # the Standard Fields part was stacked on top


# --------------------------------------------------------------------- Test button

#: connections the Test-button tests create; deleted afterwards.
GOOD_ID, WRONG_ID = "ui_clodura_sandbox", "ui_clodura_wrong_key"


@pytest.fixture
def cleanup_connections(ui_server: AirflowApiServer) -> Iterator[None]:
    yield
    for conn_id in (GOOD_ID, WRONG_ID):
        ui_server.api("DELETE", f"/api/v2/connections/{conn_id}")


def _omit_port_zero(route: Route) -> None:
    """Work around Airflow 3.3.2's list "Test Connection" button for port-less connections.

    The button posts ``"port": 0`` for a connection saved without a port (``Number(null)``),
    and the API then answers 400 "The host or port to test differs from the stored
    connection" because the stored port is NULL (see ``test_airflow_test_button_fails_without_a_port``).
    """
    body: dict[str, Any] = json.loads(route.request.post_data or "{}")
    if body.get("port") == 0:
        del body["port"]
    route.continue_(post_data=json.dumps(body))


def _press_test(page: Page, base_url: str, conn_id: str) -> str:
    """Press "Test Connection" in the row of ``conn_id``; return the notification's text."""
    open_connections(page, base_url, reload=True)
    connection_row(page, conn_id).get_by_role("button", name="Test Connection").click()
    notification = toast(page)
    expect(notification).to_contain_text("Test Connection")
    return notification.inner_text()


def test_save_clodura_connection_and_test_it(
    page: Page, ui_server: AirflowApiServer, sandbox: SandboxServer, cleanup_connections: None
) -> None:
    """Save a Clodura connection through the form; the Test button reaches the sandbox."""
    dialog = open_add_dialog(page, ui_server.url, FORMS["clodura"].hook_name, GOOD_ID)
    dialog.locator(STANDARD_INPUT["host"]).fill(sandbox.url)
    dialog.locator(STANDARD_INPUT["password"]).fill(CLODURA_API_KEY)
    dialog.get_by_role("button", name="Save").click()
    expect(dialog).to_be_hidden()
    expect(connection_row(page, GOOD_ID)).to_contain_text("clodura")

    saved = ui_server.api("GET", f"/api/v2/connections/{GOOD_ID}").json()
    assert (saved["conn_type"], saved["host"], saved["port"]) == ("clodura", sandbox.url, None)
    assert json.loads(saved["extra"]) == {"timeout": 30, "max_retries": 4, "retry_max_seconds": 120}
    assert saved["password"] != CLODURA_API_KEY  # the API never returns the key

    page.route("**/api/v2/connections/test", _omit_port_zero)
    sandbox.clear_requests()
    message = _press_test(page, ui_server.url, GOOD_ID)
    assert "Test Connection Successful" in message, message
    remaining = sandbox.state()["pools"]["clodura"]["credits"]["remaining"]
    assert "Connected to clodura" in message and f"credits={remaining}" in message, message
    assert [r["status"] for r in sandbox.requests("clodura")] == [200]

    conn = {"conn_type": "clodura", "host": sandbox.url, "password": "wrong-key-NOT-REAL"}
    assert ui_server.api("POST", "/api/v2/connections", json={"connection_id": WRONG_ID, **conn}).is_success
    sandbox.clear_requests()
    message = _press_test(page, ui_server.url, WRONG_ID)
    assert "Test Connection Failed" in message, message
    assert "HTTP 401" in message and "check the API key" in message, message
    assert [r["status"] for r in sandbox.requests("clodura")] == [401]  # auth errors are not retried


def test_airflow_test_button_fails_without_a_port(
    page: Page, ui_server: AirflowApiServer, sandbox: SandboxServer, cleanup_connections: None
) -> None:
    """Airflow 3.3.2 bug, pinned: without the workaround, Test answers "Bad Request".

    The list's button posts ``"port": 0`` for a connection without a port, and the API
    refuses to reuse the stored (masked) key for a "different" port; the sandbox is never
    called. If this fails because Test now succeeds, Airflow fixed it: drop
    ``_omit_port_zero`` and this test.
    """
    conn = {"conn_type": "clodura", "host": sandbox.url, "password": CLODURA_API_KEY}
    assert ui_server.api("POST", "/api/v2/connections", json={"connection_id": GOOD_ID, **conn}).is_success
    sandbox.clear_requests()
    with page.expect_request("**/api/v2/connections/test") as sent:
        message = _press_test(page, ui_server.url, GOOD_ID)
    assert json.loads(sent.value.post_data or "{}")["port"] == 0
    assert "Test Connection Failed" in message and "Bad Request" in message, message
    assert sandbox.requests("clodura") == []
