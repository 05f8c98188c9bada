"""The index sync, with Tatum faked by `responses`: paging, repeats, upserts, missing customers,
failures halfway, cancelling, its cost, the command and the page."""

from __future__ import annotations

from datetime import timedelta
from types import SimpleNamespace

import pytest
from django.core.management import CommandError, call_command
from django.db import DatabaseError, IntegrityError, transaction
from django.urls import reverse
from django.utils import timezone
from django_tasks_db.models import DBTaskResult
from responses import matchers

from customers.audit.models import AuditEntry
from customers.audit.trail import Actor
from customers.compliance.models import ComplianceCase
from customers.credits.models import ApiCall
from customers.index import engine, services
from customers.index.engine import sync_run
from customers.index.models import CustomerRecord, SyncRun
from customers.index.services import SyncAlreadyRunning, sync_cancel, sync_start
from tests.customers.conftest import customer_json, html_elements, index_row, url

LIST = url("/v3/ledger/customer")
Status = SyncRun.Status
SeenBy = CustomerRecord.SeenBy


def ledger_id(n: int) -> str:
    return f"{n:024x}"


def page_of(first: int, count: int, **overrides) -> list[dict]:
    return [
        customer_json(id=ledger_id(n), externalId=f"cust-{n}", **overrides)
        for n in range(first, first + count)
    ]


def on_page(tatum, page: int, **kwargs) -> None:
    query = matchers.query_param_matcher({"pageSize": "50", "offset": str(page * 50)})
    tatum.get(LIST, match=[query], **kwargs)


def serve(tatum, pages: list[list[dict]]) -> None:
    """The pages, then empty pages for any read past the end."""
    for number, customers in enumerate(pages):
        on_page(tatum, number, json=customers)
    for number in range(len(pages), len(pages) + 8):
        on_page(tatum, number, json=[])


def record(n: int, *, seen_at, **fields) -> CustomerRecord:
    fields.setdefault("external_id", f"old-{n}")
    return index_row(ledger_id(n), seen_at=seen_at, **fields)


@pytest.fixture(autouse=True)
def one_page_at_a_time(settings):
    """One read in flight, so the calls made are exactly the pages read (no read-ahead past the end)."""
    settings.TATUM_EXPORT_CONCURRENCY = 1


@pytest.fixture
def started(db, manager):
    def start() -> SyncRun:
        return sync_start(actor=Actor(user=manager), enqueue=False)

    return start


def finished_entry() -> AuditEntry:
    return AuditEntry.objects.get(action=AuditEntry.Action.SYNC_FINISHED)


# --- Reading the ledger ----------------------------------------------------------------------------


def test_a_sync_reads_every_page_into_the_index_at_one_credit_a_page(tatum, started):
    serve(tatum, [page_of(0, 50), page_of(50, 50), page_of(100, 7)])

    run = sync_run(run_id=started().pk)

    assert run.status == Status.SUCCEEDED
    assert (run.pages_read, run.customers_read, run.duplicates_skipped) == (3, 107, 0)
    assert run.credits_spent == 3 == len(tatum.calls) == ApiCall.objects.count()
    assert CustomerRecord.objects.count() == 107
    assert set(CustomerRecord.objects.values_list("last_seen_by", flat=True)) == {SeenBy.SYNC}
    assert finished_entry().outcome == AuditEntry.Outcome.SUCCEEDED
    assert "107 customers read in 3 pages, 3 credits" in finished_entry().reason


def test_reading_pages_at_once_a_sync_of_a_ledger_that_has_not_grown_reads_nothing_past_its_end(
    tatum, started, settings
):
    settings.TATUM_EXPORT_CONCURRENCY = 4
    settings.TATUM_MAX_RPS = 1000
    serve(tatum, [page_of(0, 50), page_of(50, 50), page_of(100, 50), page_of(150, 50), page_of(200, 7)])
    assert sync_run(run_id=started().pk).status == Status.SUCCEEDED
    calls_before = len(tatum.calls)

    run = sync_run(run_id=started().pk)

    assert (run.status, run.estimated_customers, run.pages_read) == (Status.SUCCEEDED, 207, 5)
    assert run.credits_spent == 5 == len(tatum.calls) - calls_before


def test_customers_repeated_by_shifting_pages_are_stored_once(tatum, started):
    serve(tatum, [page_of(0, 50), page_of(40, 50), page_of(90, 5)])

    run = sync_run(run_id=started().pk)

    assert (run.customers_read, run.duplicates_skipped) == (105, 10)
    assert CustomerRecord.objects.count() == 95


def test_a_customer_seen_again_is_refreshed_and_keeps_when_it_was_first_seen(tatum, started):
    long_ago = timezone.now() - timedelta(days=30)
    record(0, seen_at=long_ago, external_id="old-name", enabled=False, missing_since=long_ago)
    serve(tatum, [page_of(0, 3)])

    sync_run(run_id=started().pk)

    row = CustomerRecord.objects.get(tatum_id=ledger_id(0))
    assert (row.external_id, row.enabled, row.missing_since) == ("cust-0", True, None)
    assert row.first_seen_at == long_ago
    assert row.last_seen_at > long_ago
    assert row.last_seen_by == SeenBy.SYNC


def test_a_complete_sync_marks_customers_it_did_not_find_missing_and_deletes_none(tatum, started):
    long_ago = timezone.now() - timedelta(days=3)
    record(900, seen_at=long_ago)
    already_missing = record(901, seen_at=long_ago, missing_since=long_ago)
    serve(tatum, [page_of(0, 2)])

    run = sync_run(run_id=started().pk)

    assert run.marked_missing == 1
    assert CustomerRecord.objects.count() == 4
    assert CustomerRecord.objects.get(tatum_id=ledger_id(900)).missing_since >= run.started_at
    assert CustomerRecord.objects.get(pk=already_missing.pk).missing_since == long_ago, "keeps its date"
    assert not CustomerRecord.objects.filter(tatum_id=ledger_id(0), missing_since__isnull=False).exists()


def test_customers_with_a_compliance_gap_get_a_case(tatum, started):
    serve(
        tatum, [[*page_of(0, 2), customer_json(id=ledger_id(7), externalId="nowhere", customerCountry=None)]]
    )

    sync_run(run_id=started().pk)

    case = ComplianceCase.objects.get()
    assert case.record.tatum_id == ledger_id(7)
    assert case.status == ComplianceCase.Status.OPEN
    assert CustomerRecord.objects.get(tatum_id=ledger_id(7)).compliance_gap


# --- Failing, cancelling ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("answer", "code"),
    [({"status": 500, "json": {"statusCode": 500}}, "http_500"), ({"json": {"not": "a list"}}, "")],
)
def test_a_sync_that_fails_halfway_keeps_what_it_read_marks_nothing_missing_and_says_why(
    tatum, started, answer, code
):
    long_ago = timezone.now() - timedelta(days=3)
    record(900, seen_at=long_ago)
    on_page(tatum, 0, json=page_of(0, 50))
    on_page(tatum, 1, **answer)

    run = sync_run(run_id=started().pk)

    assert run.status == Status.FAILED
    assert run.error_message.startswith("Page 2 could not be read.")
    assert "nothing was marked missing" in run.error_message
    if code:
        assert run.error_code == code
    assert CustomerRecord.objects.count() == 51, "the page read is kept, the old row too"
    assert not CustomerRecord.objects.filter(missing_since__isnull=False).exists()
    assert run.credits_spent == ApiCall.objects.count() == len(tatum.calls)
    entry = finished_entry()
    assert (entry.outcome, entry.error_message) == (AuditEntry.Outcome.FAILED, run.error_message)


def test_the_same_page_twice_stops_the_sync_with_the_setting_to_check(tatum, started):
    on_page(tatum, 0, json=page_of(0, 50))
    on_page(tatum, 1, json=page_of(0, 50))

    run = sync_run(run_id=started().pk)

    assert (run.status, run.error_code) == (Status.FAILED, "SamePageTwice")
    assert "TATUM_OFFSET_MODE" in run.error_message


def test_cancelling_stops_the_sync_between_pages_and_marks_nothing_missing(
    tatum, started, manager, monkeypatch
):
    monkeypatch.setattr(engine, "PROGRESS_INTERVAL", 0)
    record(900, seen_at=timezone.now() - timedelta(days=3))
    serve(tatum, [page_of(0, 50), page_of(50, 50), page_of(100, 50), page_of(150, 1)])
    run = started()
    store = engine._Sync._store

    def store_then_cancel(sync, page):
        store(sync, page)
        if page.number == 0:
            sync_cancel(actor=Actor(user=manager), run=SyncRun.objects.get(pk=run.pk))

    monkeypatch.setattr(engine._Sync, "_store", store_then_cancel)

    run = sync_run(run_id=run.pk)

    assert run.status == Status.CANCELLED
    assert run.pages_read == 1
    assert CustomerRecord.objects.count() == 51
    assert not CustomerRecord.objects.filter(missing_since__isnull=False).exists()
    assert finished_entry().error_code == "cancelled"


def test_a_sync_cancelled_while_queued_is_never_run(tatum, started, manager):
    run = started()
    sync_cancel(actor=Actor(user=manager), run=run)

    run = sync_run(run_id=run.pk)

    assert run.status == Status.CANCELLED
    assert len(tatum.calls) == 0


# --- One at a time ---------------------------------------------------------------------------------


def test_a_second_sync_is_refused_while_one_runs(started):
    first = started()

    with pytest.raises(SyncAlreadyRunning) as refused:
        started()

    assert refused.value.run == first
    assert SyncRun.objects.count() == 1


def test_two_starts_at_the_same_moment_make_one_sync(started, monkeypatch):
    """The second start passes the check for a running sync before the first one's row exists."""
    from customers.index import services

    estimate = services.sync_estimated_customers
    others: list[SyncRun] = []

    def a_start_in_between() -> int | None:
        monkeypatch.setattr(services, "sync_estimated_customers", estimate)
        others.append(started())  # another manager's start lands between the check and the insert
        return estimate()

    monkeypatch.setattr(services, "sync_estimated_customers", a_start_in_between)

    with pytest.raises(SyncAlreadyRunning) as refused:
        started()

    assert refused.value.run == others[0]
    assert list(SyncRun.objects.all()) == others
    assert AuditEntry.objects.filter(action=AuditEntry.Action.SYNC_CUSTOMERS).count() == 1


def test_the_database_holds_one_waiting_or_running_sync_at_most(db):
    SyncRun.objects.create(status=Status.RUNNING, created_at=timezone.now())
    SyncRun.objects.create(status=Status.SUCCEEDED, created_at=timezone.now())

    with pytest.raises(IntegrityError), transaction.atomic():
        SyncRun.objects.create(status=Status.QUEUED, created_at=timezone.now())


def test_a_sync_whose_worker_stopped_reporting_is_failed_when_a_new_one_starts(started, settings):
    stalled = started()
    long_ago = timezone.now() - timedelta(seconds=settings.EXPORT_STALLED_AFTER_SECONDS + 60)
    SyncRun.objects.filter(pk=stalled.pk).update(
        status=Status.RUNNING, started_at=long_ago, heartbeat_at=long_ago
    )

    new = started()

    stalled.refresh_from_db()
    assert (stalled.status, stalled.error_code) == (Status.FAILED, "worker_lost")
    assert new.status == Status.QUEUED


def test_the_start_is_audited_with_its_cost_from_the_last_complete_sync(started):
    SyncRun.objects.create(
        status=Status.SUCCEEDED, created_at=timezone.now(), finished_at=timezone.now(), customers_read=1234
    )

    run = started()

    assert run.estimated_customers == 1234
    entry = AuditEntry.objects.get(action=AuditEntry.Action.SYNC_CUSTOMERS)
    assert "about 25 credits" in entry.reason


# --- The command -----------------------------------------------------------------------------------


def test_the_command_runs_a_sync_and_prints_progress_and_credits(tatum, db, capsys):
    serve(tatum, [page_of(0, 50), page_of(50, 1)])

    call_command("sync_customers")

    out = capsys.readouterr().out
    assert "finished: 51 customers read in 2 pages, 2 credits spent, 0 marked missing" in out
    assert SyncRun.objects.get().username == ""
    assert AuditEntry.objects.get(action=AuditEntry.Action.SYNC_CUSTOMERS).actor_username == "(system)"


def test_the_command_fails_with_the_reason_when_the_sync_fails(tatum, db):
    on_page(tatum, 0, status=500, json={"statusCode": 500})

    with pytest.raises(CommandError, match="Page 1 could not be read"):
        call_command("sync_customers")


def test_the_command_does_nothing_when_asked_only_for_an_empty_index(tatum, db, capsys):
    record(1, seen_at=timezone.now())

    call_command("sync_customers", "--if-empty")

    assert "already holds 1 customers" in capsys.readouterr().out
    assert not SyncRun.objects.exists()
    assert len(tatum.calls) == 0


def test_the_command_can_queue_the_sync_for_the_worker(tatum, db):
    call_command("sync_customers", "--enqueue")

    run = SyncRun.objects.get()
    assert run.status == Status.QUEUED
    assert DBTaskResult.objects.filter(pk=run.task_id).exists()
    assert len(tatum.calls) == 0


# --- The page --------------------------------------------------------------------------------------


def test_only_managers_see_the_sync_page(client, support, compliance, manager):
    page = reverse("customers:sync")
    assert client.get(page).status_code == 302
    for user in (support, compliance):
        client.force_login(user)
        assert client.get(page).status_code == 403
        assert client.post(reverse("customers:sync_start")).status_code == 403
    client.force_login(manager)
    assert client.get(page).status_code == 200
    assert not SyncRun.objects.exists()
    denied = AuditEntry.objects.filter(action=AuditEntry.Action.SYNC_CUSTOMERS, outcome="denied")
    assert denied.count() == 2


def test_the_page_states_the_cost_before_starting(client, manager):
    for n in range(120):
        record(n, seen_at=timezone.now())
    client.force_login(manager)

    page = client.get(reverse("customers:sync")).content.decode()

    assert "About 3 pages of 50 customers, 1 credit each: about 3 credits." in page
    assert "Start sync (about 3 credits)" in page


def test_a_cost_of_one_credit_reads_in_the_singular(client, manager):
    record(0, seen_at=timezone.now())
    client.force_login(manager)

    page = client.get(reverse("customers:sync")).content.decode()

    assert "About 1 page of 50 customers, 1 credit each: about 1 credit." in page
    assert "Start sync (about 1 credit)" in page


def test_the_cost_is_unknown_before_any_sync_with_an_empty_index(client, manager):
    client.force_login(manager)

    page = client.get(reverse("customers:sync")).content.decode()

    assert "Cost unknown" in page


def test_starting_from_the_page_queues_a_sync_and_follows_it(client, manager):
    client.force_login(manager)

    response = client.post(reverse("customers:sync_start"), follow=True)

    run = SyncRun.objects.get()
    assert (run.status, run.user) == (Status.QUEUED, manager)
    assert DBTaskResult.objects.filter(pk=run.task_id).exists()
    page = response.content.decode()
    assert f"Sync {run.pk} is queued" in page
    assert 'id="sync-progress"' in page
    assert "Cancel sync" in page


def test_a_sync_that_cannot_be_queued_fails_at_once_and_the_page_says_so(client, manager, monkeypatch):
    def queue_down(*args, **kwargs):
        raise DatabaseError("the task queue's table is locked")

    monkeypatch.setattr(services, "sync_customers", SimpleNamespace(enqueue=queue_down))
    client.force_login(manager)

    response = client.post(reverse("customers:sync_start"), follow=True)

    run = SyncRun.objects.get()
    assert (run.status, run.error_code) == (Status.FAILED, "queue") and run.finished_at is not None
    assert response.redirect_chain == [(reverse("customers:sync"), 302)]
    assert f"Sync {run.pk}: The sync could not be queued. Try again in a minute." in response.content.decode()
    assert finished_entry().outcome == AuditEntry.Outcome.FAILED
    # Nothing is left waiting: the next start is not refused as "already running".
    monkeypatch.undo()
    client.post(reverse("customers:sync_start"))
    assert SyncRun.objects.filter(status=Status.QUEUED).count() == 1


def test_cancelling_from_the_page_stops_a_queued_sync(client, manager):
    client.force_login(manager)
    client.post(reverse("customers:sync_start"))
    run = SyncRun.objects.get()

    response = client.post(reverse("customers:sync_cancel", args=[run.pk]), follow=True)

    run.refresh_from_db()
    assert run.status == Status.CANCELLED
    assert f"Sync {run.pk} is cancelled." in response.content.decode()


def test_the_progress_poll_returns_the_progress_while_running_and_reloads_the_page_when_done(client, manager):
    client.force_login(manager)
    client.post(reverse("customers:sync_start"))
    run = SyncRun.objects.get()
    SyncRun.objects.filter(pk=run.pk).update(
        status=Status.RUNNING, started_at=timezone.now(), heartbeat_at=timezone.now(), customers_read=150
    )

    running = client.get(reverse("customers:sync"), headers={"HX-Request": "true"})
    assert running.templates[0].name == "customers/partials/sync_poll.html"
    page = running.content.decode()
    assert 'data-stat="customers-read">150<' in page
    # The recent syncs come along, swapped in out of band, with the run's status as it is now.
    sections = {attrs.get("id"): attrs for _, attrs in html_elements(page, "section")}
    assert sections["sync-runs"].get("hx-swap-oob") == "true"
    runs_table = page[page.index('id="sync-runs"') :]
    assert "Running" in runs_table and "Waiting for a worker" not in runs_table

    SyncRun.objects.filter(pk=run.pk).update(status=Status.SUCCEEDED, finished_at=timezone.now())
    done = client.get(reverse("customers:sync"), headers={"HX-Request": "true"})
    assert (done.status_code, done["HX-Refresh"]) == (204, "true")
