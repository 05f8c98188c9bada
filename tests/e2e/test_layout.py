"""Every page fits a phone (390 px) and uses a desktop window (1440 px), for every role that opens it."""

from __future__ import annotations

import pytest
from playwright.sync_api import Browser, Page, expect

from tests.e2e.pages import (
    CHANGERS,
    HEIGHT,
    WIDTHS,
    Screen,
    Site,
    screen_id,
    screen_named,
    screen_open,
    screens_by_role,
    signed_in_context,
)

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

DESKTOP = max(WIDTHS)
# A cell of one line holds less than two lines of text (a badge or a small button is a little taller
# than the text around it).
ONE_LINE = 1.8


def page_width(page: Page) -> dict[str, float]:
    return page.evaluate(
        """() => ({
            scroll: document.documentElement.scrollWidth,
            window: window.innerWidth,
            main: document.querySelector("main").getBoundingClientRect().width,
        })"""
    )


def taller_rows(page: Page, table: str) -> list[str]:
    """The body rows of `table` taller than one line of text. Rows that carry an error message from
    Tatum are left out: the message wraps, between words, in the outcome column."""
    return page.evaluate(
        """([selector, oneLine]) => {
            const table = document.querySelector(selector);
            return Array.from(table.tBodies[0].rows)
              .filter((row) => !row.querySelector(".audit-message"))
              .map((row) => {
                const cell = getComputedStyle(row.cells[0]);
                const line = parseFloat(cell.lineHeight);
                const padding = parseFloat(cell.paddingTop) + parseFloat(cell.paddingBottom);
                const border = parseFloat(cell.borderBottomWidth);
                const text = row.getBoundingClientRect().height - padding - border;
                return [row.innerText.replace(/\\s+/g, " ").slice(0, 60), text, line];
              })
              .filter(([, text, line]) => text > oneLine * line)
              .map(([words, text, line]) => `"${words}": ${text}px of text, lines of ${line}px`);
        }""",
        [table, ONE_LINE],
    )


@pytest.mark.parametrize("width", WIDTHS)
@pytest.mark.parametrize("role_screen", screens_by_role(), ids=screen_id)
def test_the_page_is_no_wider_than_the_window(browser: Browser, site: Site, role_screen, width: int):
    role, screen = role_screen
    context = signed_in_context(browser, site, role, width)
    page = context.new_page()
    screen_open(page, site, role, screen)

    measured = page_width(page)
    assert measured["scroll"] <= measured["window"], (
        f"{site.text(screen.path, role)} at {width} px: {measured}"
    )
    if width == DESKTOP:
        check_desktop_use(page, screen, measured)
    context.close()


def check_desktop_use(page: Page, screen: Screen, measured: dict[str, float]) -> None:
    assert measured["main"] > 1300, f"{screen.path}: main content is {measured['main']} px wide"
    if screen.one_line_rows:
        expect(page.locator(f"{screen.one_line_rows} tbody tr").first).to_be_visible()
        taller = taller_rows(page, screen.one_line_rows)
        assert not taller, f"{screen.path}: rows of more than one line: {taller}"
        hidden = hidden_columns(page, screen.one_line_rows)
        assert hidden <= 0, f"{screen.path}: the table needs {hidden} px more than its box"


def hidden_columns(page: Page, table: str) -> float:
    """How far `table` reaches past its scroll box (columns a desktop user would have to scroll to)."""
    return page.evaluate(
        "(selector) => { const box = document.querySelector(selector).closest('.table-scroll');"
        " return box.scrollWidth - box.clientWidth; }",
        table,
    )


@pytest.mark.parametrize("role", sorted(CHANGERS))
def test_the_state_dialog_fits_a_phone_with_its_confirm_button_in_view(
    browser: Browser, site: Site, role: str
):
    context = signed_in_context(browser, site, role, min(WIDTHS))
    page = context.new_page()
    screen_open(page, site, role, screen_named("state-dialog"))

    dialog = page.get_by_role("dialog")
    confirm = dialog.get_by_role("button", name="Disable")
    box, shown = confirm.bounding_box(), dialog.bounding_box()
    assert box and shown
    assert box["x"] >= 0 and box["x"] + box["width"] <= min(WIDTHS), box
    assert box["y"] >= 0 and box["y"] + box["height"] <= HEIGHT, box
    assert shown["x"] >= 0 and shown["x"] + shown["width"] <= min(WIDTHS), shown
    expect(dialog.get_by_label("Reason")).to_be_visible()
    context.close()
