"""Support finds customers in the index: types part of an external id, filters, sorts, opens one, and
comes back to the same view with the back button."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect

from customers.credits.client import tatum_client
from customers.index.models import CustomerRecord
from customers.index.services import records_seen
from tests.e2e.helpers import sandbox_customer, sign_in
from tests.users import make_user

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def ledger_in_the_index() -> None:
    """A few customers in the sandbox, some disabled, read into the index as a sync would."""
    for external_id, country, disabled in [
        ("e2e-ann-001", "DE", True),
        ("e2e-ann-002", "DE", True),
        ("e2e-ann-003", "DE", False),
        ("e2e-ann-004", "FR", True),
        ("e2e-bob-005", "DE", True),
    ]:
        customer = sandbox_customer(external_id, customer_country=country, provider_country="CZ")
        if disabled:
            tatum_client().disable_customer(customer.id)
    records_seen(tatum_client().list_customers(page_size=50), seen_by=CustomerRecord.SeenBy.SYNC)


def table_ids(page: Page) -> list[str]:
    return page.locator("#customer-table tbody tr td:first-child a").all_inner_texts()


def test_support_narrows_the_index_as_they_type_filters_sorts_and_comes_back_to_the_same_view(
    page: Page, live_server
):
    ledger_in_the_index()
    make_user("Support", "sam")
    sign_in(page, live_server.url, "sam")
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Customers").click()
    table = page.locator("#customer-table")
    expect(table).to_contain_text("5 customers match")

    search = page.get_by_label("External or internal id")
    expect(search).to_be_focused()
    search.press_sequentially("AN", delay=50)
    expect(table).to_contain_text("4 customers match")
    search.press_sequentially("N-00", delay=50)
    expect(table).to_contain_text("4 customers match")
    expect(table).not_to_contain_text("e2e-bob-005")
    expect(search).to_be_focused()  # only the results were swapped
    expect(search).to_have_value("ANN-00")
    expect(page).to_have_url(re.compile(r"/customers/\?q=ANN-00$"))

    page.get_by_label("Customer country").select_option(label="Germany (DE)")
    expect(table).to_contain_text("3 customers match")
    page.get_by_label("Enabled").select_option(label="Disabled")
    expect(table).to_contain_text("2 customers match")
    assert table_ids(page) == ["e2e-ann-001", "e2e-ann-002"]

    header = page.get_by_role("columnheader", name="External id")
    expect(header).to_have_attribute("aria-sort", "ascending")
    header.get_by_role("link").click()
    expect(page.get_by_role("columnheader", name="External id")).to_have_attribute("aria-sort", "descending")
    assert table_ids(page) == ["e2e-ann-002", "e2e-ann-001"]
    expect(page).to_have_url(re.compile(r"sort=-external_id"))
    view = page.url
    for part in ("q=ANN-00", "country=DE", "enabled=false"):
        assert part in view, view

    page.get_by_role("link", name="e2e-ann-002").click()
    expect(page.get_by_role("heading", name="e2e-ann-002", exact=True)).to_be_visible()

    page.go_back()
    expect(page).to_have_url(view)
    expect(page.get_by_role("columnheader", name="External id")).to_have_attribute("aria-sort", "descending")
    assert table_ids(page) == ["e2e-ann-002", "e2e-ann-001"]
    expect(page.get_by_label("External or internal id")).to_have_value("ANN-00")
    expect(page.get_by_label("Customer country")).to_have_value("DE")
    expect(page.get_by_label("Enabled")).to_have_value("false")

    # Back again: the view before the sort, and the filters as they were then.
    page.go_back()
    expect(page.get_by_role("columnheader", name="External id")).to_have_attribute("aria-sort", "ascending")
    expect(page).not_to_have_url(re.compile(r"sort="))
    assert table_ids(page) == ["e2e-ann-001", "e2e-ann-002"]
    page.go_back()
    expect(page.locator("#customer-table")).to_contain_text("3 customers match")
    expect(page.get_by_label("Enabled")).to_have_value("")
    expect(page.get_by_label("Customer country")).to_have_value("DE")
    page.go_forward()
    # Each step forward lands (htmx restores the view) before the next one is taken.
    expect(page.get_by_label("Enabled")).to_have_value("false")
    expect(page.get_by_role("columnheader", name="External id")).to_have_attribute("aria-sort", "ascending")
    page.go_forward()
    expect(page).to_have_url(view)
    expect(page.get_by_role("columnheader", name="External id")).to_have_attribute("aria-sort", "descending")

    # Typing more keeps the filters and the sort.
    page.get_by_label("External or internal id").press("End")
    page.get_by_label("External or internal id").press_sequentially("1")
    expect(page.locator("#customer-table")).to_contain_text("1 customer matches")
    expect(page).to_have_url(re.compile(r"sort=-external_id"))


def test_an_exact_id_submitted_from_the_search_box_opens_the_customer(page: Page, live_server):
    ledger_in_the_index()
    make_user("Support", "sam")
    sign_in(page, live_server.url, "sam")
    page.goto(f"{live_server.url}/customers/")
    page.get_by_label("External or internal id").fill("e2e-ann-003")
    page.get_by_label("External or internal id").press("Enter")
    expect(page.get_by_role("heading", name="e2e-ann-003", exact=True)).to_be_visible()


def test_nothing_matching_offers_to_clear_the_filters(page: Page, live_server):
    ledger_in_the_index()
    make_user("Support", "sam")
    sign_in(page, live_server.url, "sam")
    page.goto(f"{live_server.url}/customers/?q=nobody&country=FR")
    expect(page.get_by_text("No customers match.")).to_be_visible()
    page.get_by_role("link", name="Clear filters").click()
    expect(page.locator("#customer-table")).to_contain_text("5 customers match")
    expect(page.get_by_label("Customer country")).to_have_value("")
