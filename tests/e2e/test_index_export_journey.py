"""A manager exports disabled customers from the customer index and downloads the file: no Tatum call,
no credits, and the index's "as of" time in the page and the file name.

The index is filled straight from rows (how it got there is the sync's business); a real `db_worker`
loop runs the export, as in production.
"""

from __future__ import annotations

import csv
import re
from datetime import UTC, datetime

import pytest
from playwright.sync_api import Page, expect

from customers.credits.models import ApiCall
from customers.index.models import CustomerRecord, SyncRun
from tests.e2e.helpers import sign_in
from tests.e2e.test_export_journey import running_worker
from tests.users import make_user, roles_ensure

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

SYNCED_AT = datetime(2026, 12, 7, 1, 0, tzinfo=UTC)
CUSTOMERS = 300


def index_fill() -> None:
    """Every third customer disabled; the last complete sync finished at SYNCED_AT."""
    CustomerRecord.objects.bulk_create(
        CustomerRecord(
            tatum_id=f"{number:024x}",
            external_id=f"journey-{number:04d}",
            accounting_currency="EUR",
            customer_country="DE",
            provider_country="AT",
            active=True,
            enabled=number % 3 != 0,
            compliance_gap=False,
            first_seen_at=SYNCED_AT,
            last_seen_at=SYNCED_AT,
            last_seen_by=CustomerRecord.SeenBy.SYNC,
        )
        for number in range(CUSTOMERS)
    )
    SyncRun.objects.create(status=SyncRun.Status.SUCCEEDED, created_at=SYNCED_AT, finished_at=SYNCED_AT)


def test_a_manager_exports_disabled_customers_from_the_index_and_downloads_them(
    page: Page, live_server, settings, tmp_path
):
    roles_ensure()
    settings.EXPORT_ROOT = tmp_path / "exports"
    make_user("Manager", "morgan")
    index_fill()
    sign_in(page, live_server.url, "morgan")

    page.get_by_role("navigation", name="Main").get_by_role("link", name="Exports").click()
    index_choice = page.get_by_label("The customer index (free, instant, as of 2026-12-07 01:00 UTC)")
    expect(index_choice).to_be_checked()
    page.get_by_label("Only customers matching the filters below").check()
    page.get_by_label("Enabled").select_option(label="Disabled only")
    page.get_by_role("button", name="Start export").click()
    expect(page).to_have_url(re.compile(r"/exports/\d+/$"))
    calls_before = ApiCall.objects.count()

    with running_worker():
        expect(page.locator("#export-progress")).to_have_attribute("data-status", "succeeded", timeout=30_000)

    disabled = CUSTOMERS // 3
    expect(
        page.get_by_text(f"{disabled} rows written from the customer index as of 2026-12-07 01:00 UTC")
    ).to_be_visible()
    expect(page.get_by_text("From the customer index as of 2026-12-07 01:00 UTC;")).to_be_visible()
    with page.expect_download() as download_info:
        page.get_by_role("link", name="Download CSV").click()
    download = download_info.value
    assert download.suggested_filename == "customers-index-as-of-20261207T010000Z-filtered.csv"
    with open(download.path(), encoding="utf-8-sig", newline="") as file:
        rows = list(csv.DictReader(file))
    assert [row["externalId"] for row in rows] == [
        f"journey-{number:04d}" for number in range(0, CUSTOMERS, 3)
    ]
    assert {row["enabled"] for row in rows} == {"false"}
    assert ApiCall.objects.count() == calls_before, "an export from the index calls Tatum"
