"""Each role's main journeys that the other browser tests leave out, each ending on what the user sees.

Covered elsewhere: support looking a customer up from the home page, editing and disabling
(test_customer_journeys.py); compliance filtering the audit log, opening an entry and downloading the
CSV (test_audit_journey.py); a manager's export (test_export_journey.py).
"""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect

from customers.audit.models import AuditEntry
from customers.audit.trail import Actor, audit_entry_close, audit_entry_open, audit_entry_record
from customers.credits.client import tatum_client
from tests.e2e.helpers import sandbox_customer, sign_in
from tests.users import make_user

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def main_nav(page: Page):
    return page.get_by_role("navigation", name="Main")


def unknown_enable(user, customer) -> AuditEntry:
    """An enable that Tatum never confirmed (the call timed out)."""
    entry = audit_entry_open(
        actor=Actor(user=user, request_id="c9f0f895fb98ab9159f51fd0297e236d"),
        action=AuditEntry.Action.ENABLE,
        customer_id=customer.id,
        customer_external_id=customer.external_id,
        changes={"enabled": [False, True]},
        reason="Identity confirmed",
    )
    return audit_entry_close(
        entry, outcome=AuditEntry.Outcome.UNKNOWN, error_message="Tatum did not answer in time."
    )


def test_support_finds_a_customer_from_the_list_edits_it_and_disables_then_enables_it(
    page: Page, live_server
):
    customer = sandbox_customer("cus_0004711", customer_country="DE", provider_country="MT")
    make_user("Support", "sam")
    sign_in(page, live_server.url, "sam")

    main_nav(page).get_by_role("link", name="Customers").click()
    expect(page.get_by_role("heading", name="Customers", exact=True)).to_be_visible()
    page.get_by_label("External or internal id").fill(customer.id)
    page.get_by_role("button", name="Find customer").click()
    expect(page.get_by_role("heading", name="cus_0004711", exact=True)).to_be_visible()

    page.get_by_role("link", name="Edit", exact=True).click()
    page.get_by_label("Provider country").select_option("CY")
    page.get_by_role("button", name="Save changes").click()
    expect(page.get_by_text("Saved the changes to cus_0004711.")).to_be_visible()
    expect(page.get_by_text("Cyprus (CY)").first).to_be_visible()

    status = page.locator("#customer-status")
    for action, reason, shown in [
        ("Disable", "Chargeback, ticket 4711", "Disabled"),
        ("Enable", "Chargeback withdrawn", "Enabled"),
    ]:
        status.get_by_role("link", name=action, exact=True).click()
        dialog = page.get_by_role("dialog", name=f"{action} customer cus_0004711?")
        dialog.get_by_label(re.compile("^Reason")).fill(reason)
        dialog.get_by_role("button", name=action, exact=True).click()
        expect(dialog).to_be_hidden()
        expect(status.get_by_text(shown, exact=True)).to_be_visible()
        expect(page.locator("#customer-history")).to_contain_text(reason)

    expect(page.get_by_role("status")).to_contain_text("The customer is now enabled.")
    assert tatum_client().get_customer(customer.id).enabled is True


def test_support_settles_an_unknown_outcome_from_its_page(page: Page, live_server):
    customer = sandbox_customer("cus_0004712")  # enabled: the enable did happen
    entry = unknown_enable(make_user("Support", "sam"), customer)
    sign_in(page, live_server.url, "sam")

    main_nav(page).get_by_role("link", name="Unknown outcomes").click()
    expect(page.get_by_role("heading", name="Unknown outcomes")).to_be_visible()
    table = page.get_by_role("table", name="Changes with an unknown outcome, oldest first")
    expect(table.get_by_role("row")).to_have_count(2)  # the header and the entry
    table.get_by_role("button", name=f"Verify entry {entry.pk}: enable of cus_0004712").click()

    expect(page.get_by_role("status")).to_contain_text(
        f"Entry #{entry.pk} (enable of cus_0004712): verified, the change is in place."
    )
    expect(page.get_by_text("Nothing to verify.")).to_be_visible()


def test_compliance_sees_the_unknown_outcomes_from_the_audit_log_but_cannot_settle_them(
    page: Page, live_server
):
    customer = sandbox_customer("cus_0004713")
    entry = unknown_enable(make_user("Support", "sam"), customer)
    make_user("Compliance", "olivia")
    sign_in(page, live_server.url, "olivia")

    main_nav(page).get_by_role("link", name="Audit log").click()
    expect(page.get_by_text("1 change has an unknown outcome.")).to_be_visible()
    page.get_by_role("link", name="Review unknown outcomes").click()

    expect(page.get_by_role("heading", name="Unknown outcomes")).to_be_visible()
    row = page.locator(f"#entry-{entry.pk}")
    expect(row).to_contain_text("cus_0004713")
    expect(row).to_contain_text("Outcome unknown")
    expect(page.get_by_role("button", name=re.compile("^Verify"))).to_have_count(0)
    expect(page.get_by_text("Support staff settle these")).to_be_visible()


def test_a_manager_opens_the_audit_log_and_reads_an_entry(page: Page, live_server):
    customer = sandbox_customer("cus_0004714")
    entry = audit_entry_record(
        actor=Actor(user=make_user("Support", "sam"), request_id="8f14e45fceea167a5a36dedd4bea2543"),
        action=AuditEntry.Action.DISABLE,
        outcome=AuditEntry.Outcome.SUCCEEDED,
        customer_id=customer.id,
        customer_external_id=customer.external_id,
        changes={"enabled": [True, False]},
        reason="Chargeback, ticket 4711",
    )
    make_user("Manager", "morgan")
    sign_in(page, live_server.url, "morgan")

    main_nav(page).get_by_role("link", name="Audit log").click()
    expect(page.get_by_role("heading", name="All 1 entry")).to_be_visible()
    table = page.get_by_role("table", name="Audit entries, newest first")
    expect(table).to_contain_text("Chargeback, ticket 4711")
    table.get_by_role("link", name=f"Entry {entry.pk}: all details").click()

    expect(page.get_by_role("heading", name=f"Entry #{entry.pk}: Disable")).to_be_visible()
    expect(page.get_by_text("Seal intact")).to_be_visible()
    expect(page.get_by_text("8f14e45fceea167a5a36dedd4bea2543")).to_be_visible()


def test_an_administrator_opens_the_list_of_users_in_django_admin(page: Page, live_server):
    make_user("superuser", "ada")
    make_user("Support", "sam")
    sign_in(page, live_server.url, "ada")

    main_nav(page).get_by_role("link", name="Admin").click()
    page.get_by_role("link", name="Users", exact=True).click()

    expect(page.get_by_role("heading", name="Select user to change")).to_be_visible()
    users = page.locator("#result_list")
    expect(users.get_by_role("link", name="ada", exact=True)).to_be_visible()
    expect(users.get_by_role("link", name="sam", exact=True)).to_be_visible()


def test_support_is_told_on_the_field_when_a_reason_is_only_spaces_and_the_dialog_stays_open(
    page: Page, live_server
):
    customer = sandbox_customer("cus_0004712", customer_country="DE", provider_country="MT")
    make_user("Support", "sam")
    sign_in(page, live_server.url, "sam")
    page.goto(f"{live_server.url}/customers/{customer.id}/")

    page.locator("#customer-status").get_by_role("link", name="Disable", exact=True).click()
    dialog = page.get_by_role("dialog", name="Disable customer cus_0004712?")
    reason = dialog.get_by_label(re.compile("^Reason"))
    reason.fill("   ")  # passes the browser's own check for a required field, not the server's
    dialog.get_by_role("button", name="Disable", exact=True).click()

    # The 422 answer is swapped in: the problem is on the field, and the dialog is still open.
    expect(dialog.get_by_text("Give a reason: it goes into the audit log.")).to_be_visible()
    expect(dialog.get_by_label(re.compile("^Reason"))).to_have_attribute("aria-invalid", "true")
    expect(dialog.get_by_label(re.compile("^Reason"))).to_be_focused()
    assert AuditEntry.objects.count() == 0 and tatum_client().get_customer(customer.id).enabled is True

    dialog.get_by_label(re.compile("^Reason")).fill("Chargeback, ticket 4712")
    dialog.get_by_role("button", name="Disable", exact=True).click()
    expect(dialog).to_be_hidden()
    expect(page.locator("#customer-status").get_by_text("Disabled", exact=True)).to_be_visible()
