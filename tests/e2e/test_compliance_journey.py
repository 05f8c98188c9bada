"""A compliance officer works a case the dashboard opened on a compliance gap: claims it, starts the
review, adds a note, clears it, and finds each step in the audit log.
"""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect

from customers.audit.models import AuditEntry
from customers.compliance.models import ComplianceCase
from customers.index.models import CustomerRecord
from customers.index.services import records_seen
from tests.e2e.helpers import sandbox_customer, sign_in
from tests.live import sharing_the_test_database
from tests.users import make_user

# The live server needs committed data; the roles come back after each test's flush.
pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

Action = AuditEntry.Action


@pytest.fixture
def ledger(live_server):
    with sharing_the_test_database(live_server):
        yield live_server


def test_a_compliance_officer_works_a_case_and_finds_each_step_in_the_audit_log(page: Page, ledger):
    make_user("Compliance", "olivia")
    gap = sandbox_customer("nomad-042", provider_country="MT")  # no customer country
    records_seen([gap], seen_by=CustomerRecord.SeenBy.SYNC)  # as a sync finds it
    case = ComplianceCase.objects.get(record__tatum_id=gap.id)
    sign_in(page, ledger.url, "olivia")

    page.get_by_role("navigation", name="Main").get_by_role("link", name="Compliance").click()
    expect(page.get_by_role("heading", name="Compliance review")).to_be_visible()
    expect(page.get_by_role("heading", name="1 case", exact=True)).to_be_visible()
    row = page.get_by_role("row").filter(has_text="nomad-042")
    expect(row).to_contain_text("Customer country missing")
    expect(row).to_contain_text("Unassigned")
    row.get_by_role("link", name=f"Case #{case.pk}").click()

    expect(page.get_by_role("heading", name=f"Case #{case.pk}: nomad-042")).to_be_visible()
    card = page.locator("#case-card")
    page.get_by_role("button", name="Claim this case").click()
    expect(page.get_by_role("status")).to_contain_text("The case is assigned to you.")
    expect(card.get_by_role("definition").nth(1)).to_have_text("You")

    page.get_by_role("button", name="Start review").click()
    expect(card.get_by_text("In review", exact=True)).to_be_visible()

    page.get_by_label("Add a note").fill("Customer says they moved to Malta; asked for proof of address.")
    page.get_by_role("button", name="Add note").click()
    expect(card.get_by_role("listitem")).to_contain_text("asked for proof of address")
    expect(page.get_by_label("Add a note")).to_have_value("")

    page.get_by_label("Reason to clear").fill("Proof of address received")
    page.get_by_role("button", name="Clear", exact=True).click()
    expect(card.get_by_text("Cleared", exact=True)).to_be_visible()
    expect(page.get_by_role("button", name="Claim this case")).to_have_count(0)
    history = page.locator("#case-history")
    expect(history.get_by_role("row")).to_have_count(6)  # the header and five entries

    page.get_by_role("navigation", name="Main").get_by_role("link", name="Audit log").click()
    page.get_by_label("Customer (external or internal id)").fill("nomad-042")
    page.get_by_role("button", name="Apply filters").click()
    expect(page).to_have_url(re.compile(r"/audit/\?customer=nomad-042$"))
    expect(page.get_by_role("heading", name="5 entries match the filters")).to_be_visible()
    table = page.get_by_role("table", name="Audit entries, newest first")
    for action, who, text in [
        ("Open case", "(system)", "Customer country missing"),
        ("Claim case", "olivia", "olivia"),
        ("Case status", "olivia", re.compile(r"Open\b[\s\S]+\bIn review")),
        ("Case note", "olivia", "asked for proof of address"),
        (
            "Case status",
            "olivia",
            re.compile(r"In review\b[\s\S]+\bCleared[\s\S]+Proof of address"),
        ),
    ]:
        expect(
            table.get_by_role("row").filter(has_text=action).filter(has_text=who).filter(has_text=text)
        ).to_have_count(1)
    table.get_by_role("link", name=f"Case note (case #{case.pk})").click()
    expect(page.get_by_role("heading", name=f"Case #{case.pk}: nomad-042")).to_be_visible()

    case.refresh_from_db()
    assert case.status == ComplianceCase.Status.CLEARED and case.closed_at is not None
    assert list(
        AuditEntry.objects.filter(changes__case=case.pk)
        .order_by("sequence")
        .values_list("action", "actor_username")
    ) == [
        (Action.CASE_OPEN, "(system)"),
        (Action.CASE_CLAIM, "olivia"),
        (Action.CASE_STATUS, "olivia"),
        (Action.CASE_NOTE, "olivia"),
        (Action.CASE_STATUS, "olivia"),
    ]
