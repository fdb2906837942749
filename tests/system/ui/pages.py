"""How the tests and the screenshot script drive Airflow 3.3's connection pages.

Locators follow what the UI renders: the Add/Edit dialog has a react-select "Connection
Type" combobox whose options are the hook names, and an accordion (one section open at a
time) with "Standard Fields" (inputs named ``host``, ``login``, ``password`` ...) and "Extra
Fields" (inputs named ``element_<field>``, with the description as helper text).
"""

from __future__ import annotations

import base64
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from playwright.sync_api import FloatRect, Locator, Page, ViewportSize

#: viewport of the browser tests and screenshots: tall enough for the whole dialog.
VIEWPORT: ViewportSize = {"width": 1280, "height": 1400}

#: the UI's input name of each standard field.
STANDARD_INPUT = {
    "description": "textarea[name='description']",
    "host": "input[name='host']",
    "login": "input[name='login']",
    "password": "input[name='password']",
    "port": "input[name='port']",
    "schema": "input[name='schema']",
}


def open_connections(page: Page, base_url: str, *, reload: bool = False) -> None:
    """Open Admin → Connections and wait for the list to be ready.

    Loading the UI costs seconds (a 7 MB bundle), so a page already showing the list with no
    dialog open is reused unless ``reload`` is set.
    """
    url = f"{base_url}/connections"
    if reload or page.url != url or page.get_by_role("dialog").count():
        page.goto(url, wait_until="domcontentloaded")
    page.get_by_role("button", name="Add Connection").wait_for()


def open_add_dialog(page: Page, base_url: str, hook_name: str, connection_id: str = "") -> Locator:
    """Open Admin → Connections → Add, pick the type by its display name; return the dialog.

    :param hook_name: the option to pick in "Connection Type" (the provider's ``hook-name``).
    :param connection_id: typed into "Connection ID" when given.
    """
    open_connections(page, base_url)
    page.get_by_role("button", name="Add Connection").click()
    dialog = page.get_by_role("dialog").filter(has_text="Add Connection")
    dialog.wait_for()
    if connection_id:
        dialog.locator("input[name='connection_id']").fill(connection_id)
    dialog.get_by_role("combobox", name="Connection Type").fill(hook_name)
    page.get_by_role("option", name=hook_name, exact=True).click()
    # the standard fields section opens by itself once a type is chosen
    dialog.locator(STANDARD_INPUT["host"]).wait_for()
    return dialog


def open_section(dialog: Locator, title: str) -> Locator:
    """Expand the accordion section ``title`` ("Standard Fields", "Extra Fields"); return its content."""
    trigger = dialog.get_by_role("button", name=title, exact=True)
    if trigger.get_attribute("aria-expanded") != "true":
        trigger.click()
    # located through the item, not by role: the "Extra Fields" region's aria-labelledby
    # holds an id with a space in it, so the region has no accessible name
    content = section_item(dialog, title).locator("[data-part='item-content']")
    content.wait_for()
    return content


def section_item(dialog: Locator, title: str) -> Locator:
    """The accordion item ``title`` (its header and, when open, its content)."""
    trigger = dialog.page.get_by_role("button", name=title, exact=True)  # `has` is relative to the item
    return dialog.locator("[data-scope='accordion'][data-part='item']").filter(has=trigger)


def field_root(control: Locator) -> Locator:
    """The form row (label, input, helper text) around an input."""
    return control.locator("xpath=ancestor::*[@data-part='root' and @role='group'][1]")


def field_label(control: Locator) -> str:
    """The label text of an input's row (without the required-field asterisk)."""
    text = field_root(control).locator("label[data-part='label']").first.inner_text()
    return text.replace("*", "").strip()


def field_help(control: Locator) -> str:
    """The helper text under an input ("" when none)."""
    helper = field_root(control).locator("[data-part='helper-text']")
    return helper.first.inner_text().strip() if helper.count() else ""


def extra_input(dialog: Locator, name: str) -> Locator:
    """The input of provider field ``name`` in "Extra Fields"."""
    return dialog.locator(f"input[name='element_{name}']")


def connection_row(page: Page, connection_id: str) -> Locator:
    """The row of ``connection_id`` in the connections list."""
    return page.get_by_role("row").filter(has=page.get_by_role("cell", name=connection_id, exact=True))


def toast(page: Page) -> Locator:
    """The newest notification (e.g. the result of "Test Connection")."""
    return page.locator("[data-scope='toast'][data-part='root']").last


def form_screenshot(page: Page, dialog: Locator) -> bytes:
    """One PNG of the whole form: the dialog with "Standard Fields" open, then "Extra Fields".

    The accordion opens one section at a time, so the two states are captured and stacked
    (the page must be tall enough for the dialog to fit without scrolling).
    """
    open_section(dialog, "Standard Fields")
    _settle(dialog)
    box = dialog.bounding_box()
    top = _clip(page, box, section_item(dialog, "Standard Fields").bounding_box(), from_dialog_top=True)
    open_section(dialog, "Extra Fields")
    _settle(dialog)
    box = dialog.bounding_box()
    bottom = _clip(page, box, section_item(dialog, "Extra Fields").bounding_box(), from_dialog_top=False)
    return _stack(page, top, bottom, width=round(box["width"]) if box else 0)


def _settle(dialog: Locator) -> None:
    """Wait for the dialog's finite animations (the accordion opening and closing) to end."""
    dialog.page.wait_for_function(
        """dialog => dialog.getAnimations({subtree: true}).every(
            a => a.playState !== 'running' || a.effect.getComputedTiming().endTime === Infinity)""",
        arg=dialog.element_handle(),
    )


def _clip(
    page: Page, dialog_box: FloatRect | None, item_box: FloatRect | None, *, from_dialog_top: bool
) -> bytes:
    """Screenshot the dialog's width, from its top to the item's bottom, or from the item's top down."""
    if dialog_box is None or item_box is None:
        raise AssertionError("the connection dialog is not visible")
    if from_dialog_top:
        y0, y1 = dialog_box["y"], item_box["y"] + item_box["height"]
    else:
        y0, y1 = item_box["y"], dialog_box["y"] + dialog_box["height"]
    clip: FloatRect = {"x": dialog_box["x"], "y": y0, "width": dialog_box["width"], "height": y1 - y0}
    return page.screenshot(clip=clip, animations="disabled")


def _stack(page: Page, top: bytes, bottom: bytes, width: int) -> bytes:
    """Stack two PNGs vertically by rendering them in a blank page (no imaging library needed)."""
    images = "".join(
        f'<img style="display:block" src="data:image/png;base64,{base64.b64encode(png).decode()}">'
        for png in (top, bottom)
    )
    canvas = page.context.new_page()
    try:
        canvas.set_content(
            f'<body style="margin:0"><div id="form" style="width:{width}px">{images}</div></body>'
        )
        canvas.wait_for_function("() => [...document.images].every(i => i.complete && i.naturalWidth > 0)")
        return canvas.locator("#form").screenshot()
    finally:
        canvas.close()
