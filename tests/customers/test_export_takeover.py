"""Exports that outlive their worker: takeover of a stalled job, resume from the checkpoint, Retry.

Tatum is faked with `responses`, and only the pages a run should read are registered: reading a page
that was already written before the takeover would be a stray call, which fails the test.
"""

from __future__ import annotations

import csv
import io
from collections import Counter
from datetime import timedelta
from urllib.parse import parse_qs, urlsplit

import pytest
from django.core.management import call_command
from django.utils import timezone
from django_tasks_db.models import DBTaskResult
from responses import matchers

from customers.audit.models import AuditEntry
from customers.audit.trail import Actor
from customers.exports import engine
from customers.exports.engine import (
    CSV_COLUMNS,
    CSV_ENCODING,
    csv_row,
    export_continue,
    export_run,
    export_take_over,
)
from customers.exports.filters import ExportFilter
from customers.exports.models import ExportJob
from customers.exports.selectors import export_file_path, export_partial_file_path
from customers.exports.services import export_start
from customers.exports.tasks import export_customers, export_watch
from customers.tatum import Customer
from tests.customers.conftest import customer_json, url
from tests.users import make_user

LIST = url("/v3/ledger/customer")
Status = ExportJob.Status
pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def export_root(settings, tmp_path):
    settings.EXPORT_ROOT = tmp_path / "exports"
    settings.EXPORT_ROOT.mkdir()
    settings.TATUM_EXPORT_CONCURRENCY = 2
    return settings.EXPORT_ROOT


@pytest.fixture
def manager(db):
    return make_user("Manager", "morgan")


def page_of(page: int, count: int = 50) -> list[dict]:
    first = page * 50
    return [customer_json(id=f"{n:024x}", externalId=f"cust-{n}") for n in range(first, first + count)]


def serve_pages(tatum, pages: dict[int, int], *, then_empty: int = 4) -> None:
    """Register each page with its number of customers, and empty pages after the last one."""
    last = max(pages)
    for page in [*pages, *range(last + 1, last + 1 + then_empty)]:
        query = matchers.query_param_matcher({"pageSize": "50", "offset": str(page * 50)})
        tatum.get(LIST, match=[query], json=page_of(page, pages.get(page, 0)))


def pages_read(tatum) -> Counter[int]:
    offsets = [parse_qs(urlsplit(call.request.url).query)["offset"][0] for call in tatum.calls]
    return Counter(int(offset) // 50 for offset in offsets)


def written_ids(job: ExportJob) -> list[str]:
    with export_file_path(job).open(encoding=CSV_ENCODING, newline="") as file:
        header, *rows = list(csv.reader(file))
    assert tuple(header) == CSV_COLUMNS
    return [row[0] for row in rows]


def stalled_job(user, *, pages_written: int, half_page: bool = True) -> ExportJob:
    """A job as a killed worker leaves it: running, silent for 31 s, with a partial file of
    `pages_written` whole pages (checkpointed) and, after them, half of the next page (not)."""
    now = timezone.now()
    job = ExportJob.objects.create(
        user=user,
        username=user.username,
        scope=ExportJob.Scope.ALL,
        status=Status.RUNNING,
        attempts=1,
        created_at=now - timedelta(minutes=1),
        started_at=now - timedelta(minutes=1),
        heartbeat_at=now - timedelta(seconds=31),
        file_name="customers-all-20261206T120000Z.csv",
        pages_read=pages_written,
        rows_read=50 * pages_written,
        rows_written=50 * pages_written,
        credits_spent=pages_written + 2,
    )
    path = export_partial_file_path(job)
    buffer = io.StringIO(newline="")
    writer = csv.writer(buffer)
    writer.writerow(CSV_COLUMNS)
    for page in range(pages_written):
        writer.writerows(csv_row(Customer.from_json(item)) for item in page_of(page))
    checkpoint = buffer.getvalue().encode(CSV_ENCODING)
    half = (
        "".join(f"{row['id']},cust-\r\n" for row in page_of(pages_written, 20)).encode() if half_page else b""
    )
    path.write_bytes(checkpoint + half)
    ExportJob.objects.filter(pk=job.pk).update(partial_name=path.name, partial_bytes=len(checkpoint))
    job.refresh_from_db()
    return job


def test_a_stalled_job_is_taken_over_and_goes_on_after_its_last_written_page(tatum, manager, export_root):
    job = stalled_job(manager, pages_written=3)
    old_partial = export_partial_file_path(job)
    serve_pages(tatum, {3: 50, 4: 50, 5: 7})

    taken = export_take_over(job=job, task_id="")
    finished = export_continue(taken)

    assert finished.status == Status.SUCCEEDED, finished.error_message
    assert min(pages_read(tatum)) == 3, "pages written before the takeover are not read again"
    assert max(pages_read(tatum).values()) == 1
    assert written_ids(finished) == [f"{n:024x}" for n in range(257)], "each customer once; no half page"
    assert (finished.pages_read, finished.rows_read, finished.rows_written) == (6, 257, 257)
    assert finished.attempts == 2
    assert finished.credits_spent == 5 + len(tatum.calls), "the job's credits go on from its own count"
    assert not old_partial.exists() and sorted(p.name for p in export_root.iterdir()) == [
        export_file_path(finished).name
    ]
    audit = AuditEntry.objects.get(action=AuditEntry.Action.EXPORT_FINISHED)
    assert audit.outcome == AuditEntry.Outcome.SUCCEEDED


def test_a_live_job_is_not_taken_over(manager):
    job = stalled_job(manager, pages_written=1)
    ExportJob.objects.filter(pk=job.pk).update(heartbeat_at=timezone.now() - timedelta(seconds=20))
    job.refresh_from_db()

    assert export_take_over(job=job, task_id="") is None
    assert ExportJob.objects.get(pk=job.pk).attempts == 1


def test_two_workers_that_find_the_same_stalled_job_take_it_over_only_once(manager):
    job = stalled_job(manager, pages_written=1)
    seen_by_second = ExportJob.objects.get(pk=job.pk)

    first = export_take_over(job=job, task_id="")
    second = export_take_over(job=seen_by_second, task_id="")

    assert first is not None and second is None
    assert ExportJob.objects.get(pk=job.pk).attempts == 2


def test_a_taken_over_job_whose_partial_file_is_gone_starts_again_from_the_first_page(tatum, manager):
    job = stalled_job(manager, pages_written=2)
    export_partial_file_path(job).unlink()
    serve_pages(tatum, {0: 50, 1: 50, 2: 10})

    finished = export_continue(export_take_over(job=job, task_id=""))

    assert finished.status == Status.SUCCEEDED
    assert written_ids(finished) == [f"{n:024x}" for n in range(110)]
    assert (finished.pages_read, finished.rows_read) == (3, 110)


def test_a_worker_that_comes_back_after_a_takeover_stops_without_touching_the_job(
    tatum, manager, monkeypatch, export_root
):
    queued = ExportJob.objects.create(
        user=manager, username=manager.username, scope=ExportJob.Scope.ALL, created_at=timezone.now()
    )
    serve_pages(tatum, {0: 50, 1: 50, 2: 50, 3: 5})
    write_page = engine._ExportRun._write_page

    def write_then_lose_the_job(run, writer, page, customers):
        if page == 1:
            # Meanwhile another worker judged this one dead and took the job over.
            ExportJob.objects.filter(pk=queued.pk).update(attempts=2)
        write_page(run, writer, page, customers)

    monkeypatch.setattr(engine._ExportRun, "_write_page", write_then_lose_the_job)
    job = export_run(job_id=queued.pk)

    assert (job.status, job.attempts, job.pages_read) == (Status.RUNNING, 2, 1), "the row is left as it was"
    assert job.finished_at is None
    assert not AuditEntry.objects.filter(action=AuditEntry.Action.EXPORT_FINISHED).exists()
    assert [path.name for path in export_root.iterdir()] == [job.partial_name], "no final file"


def test_the_retry_of_a_failed_export_goes_on_from_the_pages_it_had_written(tatum, manager, export_root):
    first = ExportJob.objects.create(
        user=manager, username=manager.username, scope=ExportJob.Scope.ALL, created_at=timezone.now()
    )
    serve_pages(tatum, {0: 50, 1: 50}, then_empty=0)
    for page in (2, 3):
        query = matchers.query_param_matcher({"pageSize": "50", "offset": str(page * 50)})
        tatum.get(LIST, match=[query], status=500, json={"statusCode": 500, "message": "Internal error"})
    failed = export_run(job_id=first.pk)
    assert (failed.status, failed.pages_read) == (Status.FAILED, 2)
    assert (export_root / failed.partial_name).exists(), "a failed export keeps its partial file"

    tatum.reset()
    serve_pages(tatum, {2: 50, 3: 20})
    retry = ExportJob.objects.create(
        user=manager,
        username=manager.username,
        scope=ExportJob.Scope.ALL,
        created_at=timezone.now(),
        retry_of=failed,
    )
    finished = export_run(job_id=retry.pk)

    assert finished.status == Status.SUCCEEDED, finished.error_message
    assert min(pages_read(tatum)) == 2, "the pages the failed export wrote are not read again"
    assert written_ids(finished) == [f"{n:024x}" for n in range(170)]
    assert finished.credits_spent == len(tatum.calls), "a retry spends credits only on the pages it reads"
    failed.refresh_from_db()
    assert failed.partial_name == ""
    assert sorted(p.name for p in export_root.iterdir()) == [export_file_path(finished).name]


def test_the_retry_of_a_failed_export_with_another_scope_starts_from_the_first_page(tatum, manager):
    failed = stalled_job(manager, pages_written=2)
    ExportJob.objects.filter(pk=failed.pk).update(status=Status.FAILED)
    failed.refresh_from_db()
    serve_pages(tatum, {0: 50, 1: 50, 2: 1})
    retry = ExportJob.objects.create(
        user=manager,
        username=manager.username,
        scope=ExportJob.Scope.FILTERED,
        filters={"active": True},
        created_at=timezone.now(),
        retry_of=failed,
    )

    finished = export_run(job_id=retry.pk)

    assert (finished.status, finished.pages_read) == (Status.SUCCEEDED, 3)
    assert min(pages_read(tatum)) == 0


# --- The watch task, through the real database queue and `db_worker` ----------------------------------
# The worker closes its database connections between tasks, as it does in production: on PostgreSQL
# that needs a test that commits (`transaction=True`), not one wrapped in a transaction.


@pytest.mark.django_db(transaction=True)
def test_a_watch_takes_a_stalled_job_over_fails_its_dead_task_row_and_queues_the_next_watch(tatum, manager):
    job = stalled_job(manager, pages_written=2)
    dead = export_customers.enqueue(job.pk)
    DBTaskResult.objects.filter(pk=dead.id).update(status="RUNNING", started_at=timezone.now())
    ExportJob.objects.filter(pk=job.pk).update(task_id=dead.id)
    serve_pages(tatum, {2: 50, 3: 3})
    watch = export_watch.enqueue(job.pk)

    call_command("db_worker", batch=True, startup_delay=False, verbosity=0)

    job.refresh_from_db()
    assert (job.status, job.rows_read, job.attempts) == (Status.SUCCEEDED, 153, 2)
    assert job.task_id == str(watch.id), "the job names the task that ran it last"
    assert min(pages_read(tatum)) == 2
    dead_row = DBTaskResult.objects.get(pk=dead.id)
    assert dead_row.status == "FAILED" and dead_row.exception_class_path.endswith("WorkerLost")
    assert DBTaskResult.objects.get(pk=watch.id).status == "SUCCESSFUL"
    later = DBTaskResult.objects.filter(status="READY", task_path__endswith="export_watch").get()
    assert later.run_after > timezone.now() + timedelta(seconds=25)


@pytest.mark.django_db(transaction=True)
def test_a_watch_leaves_a_live_job_alone_and_checks_again_after_its_heartbeat(tatum, manager):
    job = stalled_job(manager, pages_written=2)
    heartbeat = timezone.now() - timedelta(seconds=5)
    ExportJob.objects.filter(pk=job.pk).update(heartbeat_at=heartbeat)
    export_watch.enqueue(job.pk)

    call_command("db_worker", batch=True, startup_delay=False, verbosity=0)

    job.refresh_from_db()
    assert (job.status, job.attempts) == (Status.RUNNING, 1)
    assert len(tatum.calls) == 0
    later = DBTaskResult.objects.filter(status="READY", task_path__endswith="export_watch").get()
    assert later.run_after == heartbeat + timedelta(seconds=ExportJob.stalled_after_seconds() + 1)


@pytest.mark.django_db(transaction=True)
def test_a_watch_of_an_ended_job_queues_no_other(manager):
    job = stalled_job(manager, pages_written=1)
    ExportJob.objects.filter(pk=job.pk).update(status=Status.SUCCEEDED)
    export_watch.enqueue(job.pk)

    call_command("db_worker", batch=True, startup_delay=False, verbosity=0)

    assert not DBTaskResult.objects.filter(status="READY").exists()


def test_starting_an_export_queues_its_first_watch_for_when_it_could_be_stalled(manager):
    before = timezone.now()
    job = export_start(actor=Actor(user=manager), export_filter=ExportFilter())

    watch = DBTaskResult.objects.get(task_path__endswith="export_watch")
    assert watch.args_kwargs["args"] == [job.pk]
    assert watch.run_after >= before + timedelta(seconds=ExportJob.stalled_after_seconds())
