"""Keyboard: the customer list's search box has focus on arrival, and "/" focuses a page's search box."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect

from tests.e2e.helpers import sandbox_customer, sign_in
from tests.users import make_user

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def test_the_customer_lists_search_box_has_focus_on_arrival_and_a_swap_leaves_focus_alone(
    page: Page, live_server
):
    sandbox_customer("e2e-key-1")
    make_user("Support", "sam")
    sign_in(page, live_server.url, "sam")
    page.goto(f"{live_server.url}/customers/")
    lookup = page.get_by_label("External or internal id")
    expect(lookup).to_be_focused()

    # Typing goes straight into the box, "/" included.
    page.keyboard.type("e2e/key")
    expect(lookup).to_have_value("e2e/key")

    # A part of the page swapped in by htmx does not pull focus back to the box.
    rows = page.get_by_label("Rows per page")
    rows.focus()
    rows.select_option("20")
    expect(page).to_have_url(re.compile(r"size=20"))
    expect(page.get_by_role("heading", name="Matching customers, page 1")).to_be_attached()
    expect(lookup).not_to_be_focused()


def test_slash_focuses_the_search_box_unless_the_user_is_typing_in_a_field(page: Page, live_server):
    customer = sandbox_customer("e2e-key-2")
    make_user("Support", "sam")
    sign_in(page, live_server.url, "sam")
    page.goto(f"{live_server.url}/customers/")
    lookup = page.get_by_label("External or internal id")
    page.get_by_role("heading", name="Customers", exact=True).click()  # focus leaves the box
    expect(lookup).not_to_be_focused()

    page.keyboard.press("Control+/")  # a shortcut of the browser's, not ours
    expect(lookup).not_to_be_focused()
    page.keyboard.press("/")
    expect(lookup).to_be_focused()
    expect(lookup).to_have_value("")  # the key focused the box; it was not typed into it

    # In a field, "/" is just a character.
    page.goto(f"{live_server.url}/customers/{customer.id}/edit/")
    external_id = page.get_by_label("External id")
    external_id.fill("")
    external_id.press_sequentially("a/b")
    expect(external_id).to_have_value("a/b")


def test_slash_focuses_the_audit_logs_search_where_there_is_no_customer_lookup(page: Page, live_server):
    make_user("Compliance", "cora")
    sign_in(page, live_server.url, "cora")
    page.goto(f"{live_server.url}/audit/")
    who = page.get_by_label("Who (username)")
    expect(who).not_to_be_focused()
    page.keyboard.press("/")
    expect(who).to_be_focused()
    expect(who).to_have_value("")
