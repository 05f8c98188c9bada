"""Running an export: read every customer from Tatum, write the CSV file, keep the job row current.

Tatum has no filters and no total count, so every export reads the whole ledger, 50 customers a page,
and filters while reading. A few threads read pages (up to `TATUM_EXPORT_CONCURRENCY` requests in
flight, all under the client's process-wide `TATUM_MAX_RPS`) and rows are written in page order as
pages arrive, so a run holds at most a small window of pages and a set of ids, never the whole
customer base. The file is written under a temporary name and renamed when complete, so a file with
the final name is always a whole export.

Retries are the Tatum client's alone (reads, up to 1 + `TATUM_MAX_RETRIES` calls): a page that still
fails fails the export, so no page ever costs more than that many credits.

Threads only speak HTTP: the coordinating thread does all database work (progress, the record of each
Tatum call, the audit trail), so no thread opens a database connection that it would have to close.
"""

from __future__ import annotations

import contextvars
import csv
import logging
import os
import threading
import time
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from customers.audit.models import AuditEntry
from customers.audit.trail import Actor, audit_entry_record
from customers.context import acting_as
from customers.credits.calls import record_api_call
from customers.credits.client import tatum_client
from customers.csv_safety import safe_row
from customers.exports.filters import ExportFilter
from customers.exports.models import ExportJob
from customers.exports.selectors import PAGE_SIZE, export_file_path, export_partial_file_path, read_window
from customers.tatum import CallRecord, Customer, TatumError, TatumProtocolError
from customers.tatum.reference import country_name
from customers.user_messages import message_for

logger = logging.getLogger(__name__)

Status = ExportJob.Status
Outcome = AuditEntry.Outcome

# Excel opens UTF-8 correctly only when the file starts with a byte order mark; other tools ignore it.
CSV_ENCODING = "utf-8-sig"
CSV_COLUMNS = (
    "id",
    "externalId",
    "active",
    "enabled",
    "accountingCurrency",
    "customerCountry",
    "customerCountryName",
    "providerCountry",
    "providerCountryName",
)
# Progress reaches the database at most this often (and once more at the end), never per row.
PROGRESS_INTERVAL = 0.5


class SamePageTwice(TatumProtocolError):
    """Tatum answered a full page with the previous page again: it ignored the offset, which means
    `TATUM_OFFSET_MODE` does not match how it counts. Reading on would never end."""


class PageFailed(Exception):
    """A page could not be read (after the client's own retries), so the export cannot be complete."""

    def __init__(self, page: int, error: TatumError) -> None:
        super().__init__(f"Page {page + 1} could not be read: {error}")
        self.page = page
        self.error = error


class ExportCancelled(Exception):
    """The user asked the job to stop."""


class _Stopped(Exception):
    """A page read skipped because the export is stopping."""


# --- The file --------------------------------------------------------------------------------------


def export_file_name(job: ExportJob, started: datetime) -> str:
    """The name the user downloads, e.g. `customers-all-20261125T120000Z.csv`."""
    return f"customers-{job.scope}-{started.astimezone(UTC):%Y%m%dT%H%M%SZ}.csv"


def csv_row(customer: Customer) -> list[str]:
    """One customer as a CSV row, every cell made safe for spreadsheets."""
    return safe_row(
        [
            customer.id,
            customer.external_id,
            customer.active,
            customer.enabled,
            customer.accounting_currency,
            customer.customer_country,
            country_name(customer.customer_country) if customer.customer_country else "",
            customer.provider_country,
            country_name(customer.provider_country) if customer.provider_country else "",
        ]
    )


# --- Running a job ---------------------------------------------------------------------------------


def export_run(*, job_id: int) -> ExportJob:
    """Run a queued export to the end: the worker's entry point (see customers.exports.tasks).

    Returns the job as it ended (finished, failed or cancelled). A job that is no longer queued (a
    cancelled one, or one another worker took) is returned untouched.
    """
    job = _claim(job_id)
    if job is None:
        return ExportJob.objects.get(pk=job_id)
    with acting_as(job.user, request_id=job.request_id or None):
        run = _ExportRun(job)
        try:
            run.execute()
        except ExportCancelled:
            run.finish(Status.CANCELLED)
        except PageFailed as failure:
            run.finish(Status.FAILED, **_failure_fields(failure))
        except OSError as exc:
            message = f"The export file could not be written ({exc.strerror or exc})."
            run.finish(Status.FAILED, error_message=message)
        except Exception:
            logger.exception("Export %s stopped by an unexpected error", job.pk)
            run.finish(Status.FAILED, error_message="An unexpected error stopped the export. Try again.")
            raise
        finally:
            export_audit_finished(run.job, Actor(user=job.user, request_id=job.request_id))
    return run.job


def _claim(job_id: int) -> ExportJob | None:
    """Move the job from queued to running; None when it was not queued (so nobody else runs it)."""
    now = timezone.now()
    job = ExportJob.objects.filter(pk=job_id).first()
    if job is None or job.status != Status.QUEUED:
        return None
    claimed = ExportJob.objects.filter(pk=job_id, status=Status.QUEUED).update(
        status=Status.RUNNING, started_at=now, heartbeat_at=now, file_name=export_file_name(job, now)
    )
    if not claimed:
        return None
    job.refresh_from_db()
    return job


def _failure_fields(failure: PageFailed) -> dict[str, str]:
    error = failure.error
    # A garbled answer came with a 200: its class says more than its status.
    status_code = f"http_{error.status}" if error.status and error.status >= 300 else ""
    code = error.error_code or status_code or type(error).__name__
    return {"error_code": code[:100], "error_message": f"Page {failure.page + 1} {_failure_reason(error)}"}


def _failure_reason(error: TatumError) -> str:
    if isinstance(error, SamePageTwice):
        return "came back the same as the page before it: check the TATUM_OFFSET_MODE setting."
    user_message = message_for(error)
    return f"could not be read. {user_message.title} {user_message.next_step}"


class _CallLog:
    """Collects the client's call records from the reading threads for the coordinator to store.

    Every call beyond the first of a page read is the client retrying it, so retries are calls less reads.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._records: list[CallRecord] = []
        self._calls = 0
        self._reads = 0

    def add(self, record: CallRecord) -> None:
        with self._lock:
            self._records.append(record)
            self._calls += 1

    def count_read(self) -> None:
        with self._lock:
            self._reads += 1

    @property
    def retries(self) -> int:
        # While a read waits for its first answer it is counted and its call is not yet: never below 0.
        with self._lock:
            return max(0, self._calls - self._reads)

    def drain(self) -> list[CallRecord]:
        with self._lock:
            records, self._records = self._records, []
            return records


@dataclass
class _Counters:
    pages_read: int = 0
    rows_read: int = 0
    rows_written: int = 0
    duplicates_skipped: int = 0
    credits_spent: int = 0


@dataclass
class _ExportRun:
    """One run of one job: reading threads, the CSV file and the progress row."""

    job: ExportJob
    counters: _Counters = field(default_factory=_Counters)
    calls: _CallLog = field(default_factory=_CallLog)
    stop: threading.Event = field(default_factory=threading.Event)
    seen: set[str] = field(default_factory=set)
    previous_ids: list[str] = field(default_factory=list)
    last_flush: float = 0.0

    def __post_init__(self) -> None:
        self.concurrency = max(1, int(settings.TATUM_EXPORT_CONCURRENCY))
        self.window = read_window(self.concurrency)
        self.export_filter = ExportFilter.from_json(self.job.filters)
        self.temp_path = export_partial_file_path(self.job)

    def execute(self) -> None:
        # Calls are handed to the call log and recorded by this thread (see the module docstring).
        self.client = tatum_client(on_call=self.calls.add)
        self.temp_path.parent.mkdir(parents=True, exist_ok=True)
        with self.temp_path.open("w", encoding=CSV_ENCODING, newline="") as file:
            writer = csv.writer(file)
            writer.writerow(CSV_COLUMNS)
            self._read_all_pages(writer)
            file.flush()
            os.fsync(file.fileno())
        final_path = export_file_path(self.job)
        os.replace(self.temp_path, final_path)
        self.finish(Status.SUCCEEDED, file_size=final_path.stat().st_size)

    def _read_all_pages(self, writer: Any) -> None:
        pool = ThreadPoolExecutor(max_workers=self.concurrency, thread_name_prefix=f"export-{self.job.pk}")
        try:
            self._drive(pool, writer)
        finally:
            self.stop.set()
            pool.shutdown(wait=True, cancel_futures=True)

    def _drive(self, pool: ThreadPoolExecutor, writer: Any) -> None:
        """Keep up to `concurrency` pages in flight; write them in page order; stop after a short page."""
        in_flight: dict[int, Future[list[Customer]]] = {}
        arrived: dict[int, Future[list[Customer]]] = {}
        next_to_read = next_to_write = 0
        last_page: int | None = None
        while last_page is None:
            while len(in_flight) < self.concurrency and next_to_read - next_to_write < self.window:
                in_flight[next_to_read] = self._submit(pool, next_to_read)
                next_to_read += 1
            wait(in_flight.values(), timeout=PROGRESS_INTERVAL, return_when=FIRST_COMPLETED)
            for page in [page for page, future in in_flight.items() if future.done()]:
                arrived[page] = in_flight.pop(page)
            while last_page is None and next_to_write in arrived:
                # A failure surfaces only in turn: a page after the last one may fail harmlessly.
                customers = _page_result(next_to_write, arrived.pop(next_to_write))
                self._write_page(writer, next_to_write, customers)
                if len(customers) < PAGE_SIZE:
                    last_page = next_to_write
                next_to_write += 1
            self._tick()

    def _submit(self, pool: ThreadPoolExecutor, page: int) -> Future[list[Customer]]:
        # Each read runs in a copy of this context, so its log lines and headers carry the job's request id.
        context = contextvars.copy_context()
        return pool.submit(context.run, self._read_page, page)

    def _read_page(self, page: int) -> list[Customer]:
        """One page (runs in a reading thread). The client retries what may pass; nothing here does."""
        if self.stop.is_set():
            raise _Stopped
        self.calls.count_read()
        return self.client.list_customers(page_size=PAGE_SIZE, page=page)

    def _write_page(self, writer: Any, page: int, customers: list[Customer]) -> None:
        ids = [customer.id for customer in customers]
        if page > 0 and len(customers) == PAGE_SIZE and ids == self.previous_ids:
            raise PageFailed(page, SamePageTwice("Tatum returned the same page twice."))
        self.previous_ids = ids
        counters = self.counters
        counters.pages_read += 1
        counters.rows_read += len(customers)
        rows = []
        for customer in customers:
            if customer.id in self.seen:
                # Offset paging over a ledger that changes while it is read can repeat a customer.
                counters.duplicates_skipped += 1
                continue
            self.seen.add(customer.id)
            if self.export_filter.matches(customer):
                rows.append(csv_row(customer))
        writer.writerows(rows)
        counters.rows_written += len(rows)

    def _tick(self) -> None:
        now = time.monotonic()
        if now - self.last_flush < PROGRESS_INTERVAL:
            return
        self.last_flush = now
        self._flush()
        if ExportJob.objects.filter(pk=self.job.pk, cancel_requested=True).exists():
            raise ExportCancelled

    def _flush(self, **final: Any) -> None:
        """Store the calls made since the last flush and the progress, in one short transaction."""
        records = self.calls.drain()
        self.counters.credits_spent += sum(record.credits for record in records)
        values = {
            **vars(self.counters),
            "page_retries": self.calls.retries,
            "heartbeat_at": timezone.now(),
            **final,
        }
        with transaction.atomic():
            for record in records:
                record_api_call(record)
            ExportJob.objects.filter(pk=self.job.pk).update(**values)
        for name, value in values.items():
            setattr(self.job, name, value)

    def finish(self, status: str, **fields: Any) -> None:
        """Store the outcome (and any error fields); a failed or cancelled run leaves no file behind."""
        if status != Status.SUCCEEDED:
            self.temp_path.unlink(missing_ok=True)
        self._flush(status=status, finished_at=timezone.now(), **fields)


def _page_result(page: int, future: Future[list[Customer]]) -> list[Customer]:
    try:
        return future.result()
    except TatumError as error:
        raise PageFailed(page, error) from error


# --- Audit -----------------------------------------------------------------------------------------


def export_audit_finished(job: ExportJob, actor: Actor) -> None:
    """Record how the job ended: finished, failed with its reason, or cancelled."""
    reason = f"Export {job.pk}: {job.rows_written} rows written from {job.rows_read} customers read"
    reason += f", {job.credits_spent} credits"
    if job.status == Status.SUCCEEDED:
        audit_entry_record(
            actor=actor, action=AuditEntry.Action.EXPORT_FINISHED, outcome=Outcome.SUCCEEDED, reason=reason
        )
        return
    cancelled = job.status == Status.CANCELLED
    audit_entry_record(
        actor=actor,
        action=AuditEntry.Action.EXPORT_FINISHED,
        outcome=Outcome.FAILED,
        reason=reason,
        error_code="cancelled" if cancelled else job.error_code,
        error_message="Cancelled before it finished; no file was kept." if cancelled else job.error_message,
    )
