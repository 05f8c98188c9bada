"""A compliance officer reviews one customer's history: filters the log, opens an entry and the customer,
and downloads the filtered log as CSV.
"""

from __future__ import annotations

import csv
import io
import re
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from customers.audit.models import AuditEntry
from customers.audit.trail import Actor, audit_entry_record
from customers.credits.client import tatum_client
from tests.e2e.helpers import sign_in
from tests.live import sharing_the_test_database
from tests.users import make_user

# The live server needs committed data; the roles come back after each test's flush.
pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

Action = AuditEntry.Action
Outcome = AuditEntry.Outcome


@pytest.fixture
def ledger(live_server):
    with sharing_the_test_database(live_server):
        yield live_server


def history(support) -> dict[str, str]:
    """Two sandbox customers and what support did to them; returns external id -> internal id."""
    client = tatum_client()
    ids = {}
    # Both countries set: a customer without one gets a compliance case (and its entry) when it is read.
    places = {"customer_country": "DE", "provider_country": "CZ"}
    for external_id in ("acme-001", "globex-002"):
        ids[external_id] = client.create_account(
            currency="BTC", external_id=external_id, **places
        ).customer_id
    actor = Actor(user=support, request_id="req-journey-0001")
    for external_id, reason, outcome in [
        ("acme-001", "Ticket 101: chargeback", Outcome.SUCCEEDED),
        ("globex-002", "Ticket 102: fraud check", Outcome.SUCCEEDED),
        ("acme-001", '=HYPERLINK("http://evil.example")', Outcome.FAILED),
    ]:
        audit_entry_record(
            actor=actor,
            action=Action.DISABLE,
            outcome=outcome,
            customer_id=ids[external_id],
            customer_external_id=external_id,
            changes={"enabled": [True, False]},
            reason=reason,
        )
    return ids


def test_a_compliance_officer_reviews_one_customer_and_downloads_the_csv(page: Page, ledger):
    make_user("Compliance", "olivia")
    ids = history(make_user("Support", "sam"))
    sign_in(page, ledger.url, "olivia")

    page.get_by_role("navigation", name="Main").get_by_role("link", name="Audit log").click()
    expect(page.get_by_role("heading", name="Audit log")).to_be_visible()
    expect(page.get_by_role("heading", name="All 3 entries")).to_be_visible()

    page.get_by_label("Customer (external or internal id)").fill("acme-001")
    page.get_by_role("button", name="Apply filters").click()
    expect(page.get_by_role("heading", name="2 entries match the filters")).to_be_visible()
    expect(page).to_have_url(re.compile(r"/audit/\?customer=acme-001$"))
    table = page.get_by_role("table", name="Audit entries, newest first")
    expect(table.get_by_role("row")).to_have_count(3)  # the header and two entries
    expect(table.get_by_text("Ticket 102: fraud check")).to_have_count(0)

    page.reload()
    expect(page.get_by_role("heading", name="2 entries match the filters")).to_be_visible()
    expect(page.get_by_label("Customer (external or internal id)")).to_have_value("acme-001")

    oldest = AuditEntry.objects.filter(customer_external_id="acme-001").order_by("started_at", "id").first()
    page.get_by_role("link", name=f"Entry {oldest.pk}: all details").click()
    expect(page.get_by_role("heading", name=f"Entry #{oldest.pk}: Disable")).to_be_visible()
    expect(page.get_by_text("Ticket 101: chargeback")).to_be_visible()
    expect(page.get_by_text("Seal intact")).to_be_visible()
    page.get_by_role("link", name="Open the customer").click()
    expect(page.get_by_role("heading", name="acme-001", exact=True)).to_be_visible()
    expect(page).to_have_url(re.compile(rf"/customers/{ids['acme-001']}/$"))
    expect(page.get_by_text("Ticket 101: chargeback")).to_be_visible()

    page.go_back()
    page.go_back()
    expect(page.get_by_role("heading", name="2 entries match the filters")).to_be_visible()
    with page.expect_download() as download_info:
        page.get_by_role("link", name=re.compile("^Download CSV")).click()
    download = download_info.value

    assert re.fullmatch(r"audit-log-\d{8}-\d{6}Z\.csv", download.suggested_filename)
    rows = list(csv.reader(io.StringIO(Path(download.path()).read_text(encoding="utf-8"), newline="")))
    assert rows[0][:4] == ["Entry", "Started (UTC)", "Finished (UTC)", "Who"]
    assert [row[6] for row in rows[1:]] == ["acme-001", "acme-001"]
    assert [row[8] for row in rows[1:]] == ['\'=HYPERLINK("http://evil.example")', "Ticket 101: chargeback"]
    export = AuditEntry.objects.get(action=Action.EXPORT_AUDIT)
    assert export.actor_username == "olivia"
    assert export.reason == "Exported 2 entries as CSV. Filters: customer = acme-001."
