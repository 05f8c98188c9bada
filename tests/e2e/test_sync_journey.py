"""A manager fills the customer index: sees what a sync will cost, starts it, watches it finish.

A real `db_worker` loop runs in a thread of the test process (as in the export journey), so the sync
goes through the database queue and the page learns about its progress only by polling.
"""

from __future__ import annotations

import io
import re
from datetime import timedelta

import pytest
from django.core.management import call_command
from django.utils import timezone
from playwright.sync_api import Page, expect

from customers.credits.client import tatum_client
from customers.index.models import CustomerRecord, SyncRun
from tests.e2e.helpers import sign_in, watch_progress
from tests.e2e.test_export_journey import running_worker
from tests.live import hang_up, sharing_the_test_database
from tests.users import make_user, roles_ensure

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

CUSTOMERS = 1500  # 31 pages: at 15 requests a second the sync takes about two seconds


@pytest.fixture
def ledger(live_server, settings):
    roles_ensure()
    settings.SANDBOX_LATENCY_MS = 20
    settings.TATUM_MAX_RPS = 15
    with sharing_the_test_database(live_server):
        call_command("seed_sandbox", customers=CUSTOMERS, seed=7, stdout=io.StringIO())
        # Today's credit counter row exists before pages are read concurrently.
        tatum_client().list_customers(page_size=1)
        yield live_server
    hang_up(live_server)


def earlier_complete_sync() -> None:
    """Last week's sync, which gives this one its cost and a determinate bar."""
    finished = timezone.now() - timedelta(days=7)
    SyncRun.objects.create(
        status=SyncRun.Status.SUCCEEDED,
        created_at=finished,
        started_at=finished,
        finished_at=finished,
        pages_read=CUSTOMERS // 50 + 1,
        customers_read=CUSTOMERS,
        credits_spent=CUSTOMERS // 50 + 1,
    )


def test_a_manager_starts_a_sync_and_watches_it_finish(page: Page, ledger):
    make_user("Manager", "morgan")
    earlier_complete_sync()
    sign_in(page, ledger.url, "morgan")

    page.get_by_role("navigation", name="Main").get_by_role("link", name="Sync the index").click()
    expect(page.get_by_role("heading", name="Customer index sync")).to_be_visible()
    expect(page.locator("#sync-cost")).to_contain_text("About 31 pages of 50 customers, 1 credit each")
    page.get_by_role("button", name=re.compile(r"Start sync \(about 31 credits\)")).click()
    expect(page.locator("#sync-progress").get_by_text("Waiting for a worker", exact=True)).to_be_visible()

    with running_worker():
        expect(page.locator("#sync-bar")).to_have_attribute("max", str(CUSTOMERS))
        seen = watch_progress(page, "#sync-progress", "customers-read", reloads=True)

    assert any(0 < value < CUSTOMERS for value in seen), f"the bar never showed work in progress: {seen}"
    assert seen[-1] == CUSTOMERS, seen
    expect(page.locator("#sync-progress")).to_have_attribute("data-status", "succeeded")
    expect(page.locator("#sync-progress").get_by_text("Finished", exact=True)).to_be_visible()
    expect(page.locator("#sync-progress")).not_to_have_attribute("hx-trigger", re.compile(".*"))
    expect(page.locator('[data-stat="index-size"]')).to_have_text(f"{CUSTOMERS:,}")
    expect(page.get_by_role("button", name=re.compile("Start sync"))).to_be_visible()
    assert CustomerRecord.objects.count() == CUSTOMERS
    run = SyncRun.objects.latest("created_at")
    assert (run.status, run.customers_read, run.username) == (SyncRun.Status.SUCCEEDED, CUSTOMERS, "morgan")
