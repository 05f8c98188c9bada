"""Support, compliance and keyboard journeys through the customer screens, on the live sandbox."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect

from customers.audit.models import AuditEntry
from customers.audit.trail import Actor, audit_entry_record
from customers.credits.client import tatum_client
from tests.e2e.helpers import sandbox_customer, sign_in
from tests.users import make_user

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def test_support_looks_up_a_customer_fixes_a_country_and_disables_with_a_reason(page: Page, live_server):
    customer = sandbox_customer("e2e-alice", customer_country="DE", provider_country="CZ")
    make_user("Support", "sam")
    sign_in(page, live_server.url, "sam")

    page.get_by_label("External or internal id").fill("e2e-alice")
    page.get_by_role("button", name="Find customer").click()
    expect(page).to_have_url(re.compile(f"/customers/{customer.id}/$"))
    expect(page.get_by_role("heading", name="e2e-alice")).to_be_visible()

    page.get_by_role("link", name="Edit", exact=True).click()
    page.get_by_label("Customer country").select_option("FR")
    page.get_by_role("button", name="Save changes").click()
    expect(page.get_by_text("Saved the changes to e2e-alice.")).to_be_visible()
    expect(page.get_by_text("France (FR)").first).to_be_visible()

    credits = page.locator("#credits-today")
    spent = int(credits.inner_text().split()[0])
    page.get_by_role("link", name="Disable").click()
    dialog = page.get_by_role("dialog")
    expect(dialog).to_contain_text("available balance of every account is set to 0")
    dialog.get_by_label("Reason").fill("Suspected account takeover, ticket 4711")
    dialog.get_by_role("button", name="Disable").click()

    status = page.locator("#customer-status")
    expect(status.get_by_text("Disabled", exact=True)).to_be_visible()
    expect(status).not_to_contain_text("Compliance gap")  # both countries are still set
    accounts = page.locator("#customer-accounts")
    expect(accounts).to_contain_text("These balances were read before the change")
    expect(page.get_by_role("status")).to_contain_text("The customer is now disabled.")
    # The change reads the customer (1) and writes (2); the header follows the swapped-in status.
    expect(credits).to_have_text(f"{spent + 3} credits today")
    history = page.locator("#customer-history")
    expect(history).to_contain_text("Suspected account takeover, ticket 4711")
    expect(history).to_contain_text("Customer country")
    assert tatum_client().get_customer(customer.id).enabled is False
    assert list(AuditEntry.objects.values_list("action", "outcome").order_by("started_at")) == [
        ("update", "succeeded"),
        ("disable", "succeeded"),
    ]


def test_a_conflicting_edit_is_caught_and_nothing_is_written(page: Page, live_server):
    customer = sandbox_customer("e2e-bob", customer_country="DE", provider_country="CZ")
    make_user("Support", "sam")
    sign_in(page, live_server.url, "sam")
    page.goto(f"{live_server.url}/customers/{customer.id}/edit/")
    page.get_by_label("Customer country").select_option("FR")

    # Meanwhile someone else changes the same customer.
    tatum_client().update_customer(customer.id, external_id="e2e-bob", customer_country="AT")

    page.get_by_role("button", name="Save changes").click()
    expect(page.get_by_role("heading", name="Someone else changed this customer")).to_be_visible()
    expect(page.locator(".conflict")).to_contain_text("Austria (AT)")
    expect(page.locator(".conflict")).to_contain_text("France (FR)")
    assert tatum_client().get_customer(customer.id).customer_country == "AT"
    assert not AuditEntry.objects.exists()


def test_compliance_sees_no_edit_or_state_buttons(page: Page, live_server):
    customer = sandbox_customer("e2e-carol")
    make_user("Compliance", "cora")
    sign_in(page, live_server.url, "cora")
    page.goto(f"{live_server.url}/customers/{customer.id}/")
    expect(page.get_by_role("heading", name="e2e-carol")).to_be_visible()
    expect(page.get_by_role("link", name="Edit", exact=True)).to_have_count(0)
    for action in ("Activate", "Deactivate", "Enable", "Disable"):
        expect(page.get_by_role("link", name=action, exact=True)).to_have_count(0)
        expect(page.get_by_role("button", name=action, exact=True)).to_have_count(0)


def test_the_confirmation_dialog_works_by_keyboard_alone(page: Page, live_server):
    customer = sandbox_customer("e2e-dave")
    make_user("Support", "sam")
    sign_in(page, live_server.url, "sam")
    page.goto(f"{live_server.url}/customers/{customer.id}/")

    disable = page.get_by_role("link", name="Disable", exact=True)
    disable.focus()
    page.keyboard.press("Enter")
    dialog = page.get_by_role("dialog")
    expect(dialog).to_be_visible()
    expect(dialog.get_by_role("link", name="Cancel")).to_be_focused()
    page.keyboard.press("Escape")
    expect(dialog).to_be_hidden()

    disable.focus()
    page.keyboard.press("Enter")
    expect(dialog.get_by_role("link", name="Cancel")).to_be_focused()
    page.keyboard.press("Shift+Tab")  # from Cancel back to the reason box
    expect(dialog.get_by_label("Reason")).to_be_focused()
    page.keyboard.type("Customer asked to pause the account")
    page.keyboard.press("Tab")
    page.keyboard.press("Tab")
    expect(dialog.get_by_role("button", name="Disable")).to_be_focused()
    page.keyboard.press("Enter")
    expect(page.locator("#customer-status").get_by_text("Disabled", exact=True)).to_be_visible()
    assert tatum_client().get_customer(customer.id).enabled is False


def test_a_long_history_shows_the_newest_changes_and_opens_in_full(page: Page, live_server):
    customer = sandbox_customer("e2e-long", customer_country="DE", provider_country="CZ")
    make_user("Support", "sam")
    for number in range(12):
        audit_entry_record(
            actor=Actor(user=None),
            action=AuditEntry.Action.DISABLE,
            outcome=AuditEntry.Outcome.FAILED,
            customer_id=customer.id,
            customer_external_id="e2e-long",
            reason=f"Ticket {number:03d}",
        )
    sign_in(page, live_server.url, "sam")
    page.goto(f"{live_server.url}/customers/{customer.id}/")

    history = page.locator("#customer-history")
    expect(history).to_contain_text("The 10 newest of 12 are shown.")
    expect(history.locator("tbody tr")).to_have_count(10)
    expect(history).not_to_contain_text("Ticket 001")
    history.get_by_role("link", name="All 12 changes, with older ones").click()

    expect(page.get_by_role("heading", name="Change history of e2e-long")).to_be_visible()
    expect(page.locator("tbody tr")).to_have_count(12)
    expect(page.get_by_text("Ticket 000")).to_be_visible()
    page.get_by_role("link", name="e2e-long").click()
    expect(page).to_have_url(re.compile(f"/customers/{customer.id}/$"))
