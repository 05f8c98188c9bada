"""A manager exports the customer base: starts the export, watches the bar move, downloads the file.

A real `db_worker` loop runs in a thread of the test process, so the job goes through the database
queue and the page learns about its progress only by polling, as it does in production.
"""

from __future__ import annotations

import contextlib
import csv
import io
import re
import threading
from collections.abc import Iterator
from datetime import timedelta

import pytest
from django.core.management import call_command
from django.db import connections
from django.utils import timezone
from django_tasks_db.management.commands.db_worker import Worker
from playwright.sync_api import Page, expect

from customers.credits.client import tatum_client
from customers.exports.models import ExportJob
from tests.e2e.helpers import sign_in, watch_progress
from tests.live import hang_up, sharing_the_test_database
from tests.users import make_user, roles_ensure

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

CUSTOMERS = 1500  # 31 pages: at 15 requests a second the export takes about two seconds


@contextlib.contextmanager
def running_worker() -> Iterator[Worker]:
    """`manage.py db_worker` in a thread, stopped when the block ends."""
    # An in-memory SQLite test database exists only on the test's own connection: share it, as the
    # live server does. Other databases get a connection per thread.
    shared = [conn for conn in connections.all() if conn.vendor == "sqlite" and conn.is_in_memory_db()]
    worker = Worker(
        queue_names=["default"],
        interval=0.2,
        batch=False,
        backend_name="default",
        startup_delay=False,
        max_tasks=None,
        worker_id="e2e-worker",
        excluded_queue_names=[],
    )

    def run() -> None:
        for conn in shared:
            connections[conn.alias] = conn
        try:
            worker.run()
        finally:
            connections.close_all()

    for conn in shared:
        conn.inc_thread_sharing()
    thread = threading.Thread(target=run, name="e2e-db-worker", daemon=True)
    thread.start()
    try:
        yield worker
    finally:
        worker.running = False
        thread.join(timeout=15)
        for conn in shared:
            conn.dec_thread_sharing()


@pytest.fixture
def ledger(live_server, settings, tmp_path):
    roles_ensure()
    settings.EXPORT_ROOT = tmp_path / "exports"
    settings.SANDBOX_LATENCY_MS = 20
    settings.TATUM_MAX_RPS = 15
    with sharing_the_test_database(live_server):
        call_command("seed_sandbox", customers=CUSTOMERS, seed=7, stdout=io.StringIO())
        # Today's credit counter row exists before pages are read concurrently.
        tatum_client().list_customers(page_size=1)
        yield live_server
    hang_up(live_server)


def earlier_complete_export(user) -> None:
    """Last week's export, which gives this one its estimate (and so a determinate bar)."""
    finished = timezone.now() - timedelta(days=7)
    ExportJob.objects.create(
        user=user,
        username=user.username,
        scope=ExportJob.Scope.ALL,
        status=ExportJob.Status.SUCCEEDED,
        created_at=finished,
        started_at=finished,
        finished_at=finished,
        rows_read=CUSTOMERS,
        rows_written=CUSTOMERS,
        file_removed_at=finished,
        file_name="customers-all-20261118T120000Z.csv",
    )


def test_a_manager_exports_all_customers_watches_progress_and_downloads_the_file(page: Page, ledger):
    manager = make_user("Manager", "morgan")
    earlier_complete_export(manager)
    sign_in(page, ledger.url, "morgan")

    page.get_by_role("navigation", name="Main").get_by_role("link", name="Exports").click()
    expect(page.get_by_role("heading", name="Exports", exact=True)).to_be_visible()
    expect(page.get_by_text(f"The last complete export read {CUSTOMERS:,} customers")).to_be_visible()
    page.get_by_label("All customers").check()
    page.get_by_role("button", name="Start export").click()
    expect(page).to_have_url(re.compile(r"/exports/\d+/$"))
    expect(page.get_by_text("Waiting for a worker", exact=True)).to_be_visible()

    with running_worker():
        expect(page.locator("#export-bar")).to_have_attribute("max", str(CUSTOMERS))
        seen = watch_progress(page, "#export-progress", "rows-read")

    assert any(0 < value < CUSTOMERS for value in seen), f"the bar never showed work in progress: {seen}"
    assert seen[-1] == CUSTOMERS
    expect(page.get_by_text("Finished", exact=True)).to_be_visible()
    expect(page.locator("#export-bar")).to_have_attribute("value", str(CUSTOMERS))
    expect(page.locator("#export-progress")).not_to_have_attribute("hx-trigger", re.compile(".*"))

    with page.expect_download() as download_info:
        page.get_by_role("link", name="Download CSV").click()
    download = download_info.value
    assert re.fullmatch(r"customers-all-\d{8}T\d{6}Z\.csv", download.suggested_filename)
    with open(download.path(), encoding="utf-8-sig", newline="") as file:
        rows = list(csv.DictReader(file))
    assert len(rows) == CUSTOMERS
    assert len({row["id"] for row in rows}) == CUSTOMERS
    assert all(re.fullmatch(r"[0-9a-f]{24}", row["id"]) for row in rows)

    page.get_by_role("link", name="All exports").click()
    table = page.locator("#export-table")
    expect(table.get_by_role("link", name="Download export")).to_be_visible()
    expect(table.get_by_text("Removed after 30 days")).to_be_visible()


def test_a_failing_export_says_why_and_can_be_retried(page: Page, ledger):
    from sandbox.faults import fault_plan_clear, fault_plan_set

    make_user("Manager", "morgan")
    sign_in(page, ledger.url, "morgan")
    fault_plan_set(rate=1.0, kinds=["500"])
    page.goto(f"{ledger.url}/exports/")
    page.get_by_role("button", name="Start export").click()

    with running_worker():
        expect(page.locator("#export-progress")).to_have_attribute("data-status", "failed", timeout=30_000)
    expect(page.get_by_role("alert")).to_contain_text("could not be read.")
    expect(page.get_by_role("alert")).to_contain_text("Tatum had an internal error.")

    fault_plan_clear()
    page.get_by_role("button", name="Retry export").click()
    with running_worker():
        expect(page.locator("#export-progress")).to_have_attribute("data-status", "succeeded", timeout=30_000)

    expect(page.get_by_role("link", name="Download CSV")).to_be_visible()
    expect(page.get_by_text("Retry of")).to_be_visible()
