"""Customer CSV exports: the filter, the file, the jobs, and the engine that reads every customer.

Tatum has no filters and no total count, so every export reads the whole ledger, 50 customers a page,
and filters while reading. The engine reads pages with a few worker threads (up to
`TATUM_EXPORT_CONCURRENCY` requests in flight, all under the client's process-wide `TATUM_MAX_RPS`)
and writes rows in page order as pages arrive, so it holds at most a small window of pages and a set of
ids, never the whole customer base. The file is written under a temporary name and renamed when
complete, so a file with the final name is always a whole export.

Threads only speak HTTP: the coordinating thread does all database work (progress, the record of each
Tatum call, the audit trail), so no thread opens a database connection that it would have to close.
"""

from __future__ import annotations

import contextvars
import csv
import logging
import math
import os
import random
import threading
import time
from collections.abc import Iterable
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import QuerySet
from django.utils import timezone

from customers.apicalls import record_api_call
from customers.audit import Actor, audit_entry_record
from customers.csv_safety import safe_row
from customers.errors import message_for
from customers.models import AuditEntry, ExportJob
from customers.reference import country_label, country_name
from customers.tatum import (
    CREDIT_COSTS,
    MAX_PAGE_SIZE,
    CallRecord,
    Customer,
    TatumAuthError,
    TatumError,
    TatumInvalidInput,
    TatumNotFound,
    TatumProtocolError,
    TatumRateLimited,
    TatumRuleError,
    TatumValidationError,
    tatum_client,
)
from dashboard.context import acting_as, new_request_id

logger = logging.getLogger(__name__)

Status = ExportJob.Status
Outcome = AuditEntry.Outcome

PAGE_SIZE = MAX_PAGE_SIZE
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
# A page is tried this many times (each try may itself retry inside the client) before the export fails.
PAGE_ATTEMPTS = 5
PAGE_BACKOFF_SECONDS = 0.5
PAGE_BACKOFF_CAP_SECONDS = 8.0
# Errors that will not go away by asking again: a bad key, a refused or malformed request.
_PERMANENT_ERRORS = (TatumAuthError, TatumInvalidInput, TatumValidationError, TatumNotFound, TatumRuleError)


# --- The filter ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ExportFilter:
    """Which customers go into the file. None means "any"; Tatum cannot filter, so this runs here."""

    active: bool | None = None
    enabled: bool | None = None
    customer_country: str | None = None
    compliance_gap: bool | None = None

    @classmethod
    def from_json(cls, data: dict[str, Any] | None) -> ExportFilter:
        data = data or {}
        return cls(
            active=data.get("active"),
            enabled=data.get("enabled"),
            customer_country=data.get("customer_country") or None,
            compliance_gap=data.get("compliance_gap"),
        )

    def to_json(self) -> dict[str, Any]:
        values = {
            "active": self.active,
            "enabled": self.enabled,
            "customer_country": self.customer_country,
            "compliance_gap": self.compliance_gap,
        }
        return {key: value for key, value in values.items() if value is not None}

    @property
    def is_empty(self) -> bool:
        return not self.to_json()

    def matches(self, customer: Customer) -> bool:
        return (
            (self.active is None or customer.active == self.active)
            and (self.enabled is None or customer.enabled == self.enabled)
            and (self.customer_country is None or customer.customer_country == self.customer_country)
            and (self.compliance_gap is None or customer.compliance_gap == self.compliance_gap)
        )

    def describe(self) -> str:
        """The filter in words, as in "active, disabled, customer country DE: Germany"."""
        parts = []
        if self.active is not None:
            parts.append("active" if self.active else "inactive")
        if self.enabled is not None:
            parts.append("enabled" if self.enabled else "disabled")
        if self.customer_country:
            parts.append(f"customer country {country_label(self.customer_country)}")
        if self.compliance_gap is not None:
            parts.append("missing a country" if self.compliance_gap else "both countries set")
        return ", ".join(parts) or "all customers"


def export_scope_text(job: ExportJob) -> str:
    """What the job exports, in words."""
    if job.scope == ExportJob.Scope.ALL:
        return "All customers"
    return "Customers matching: " + ExportFilter.from_json(job.filters).describe()


def duration_text(seconds: float | None) -> str:
    """A duration as people say it: "45 s", "3 min 05 s", "1 h 02 min"."""
    if seconds is None:
        return ""
    total = max(0, round(seconds))
    hours, rest = divmod(total, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours} h {minutes:02d} min"
    if minutes:
        return f"{minutes} min {secs:02d} s"
    return f"{secs} s"


# --- Estimates -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ExportEstimate:
    """What an export will cost, from the last complete export (None when there was none)."""

    customers: int | None
    pages: int | None
    credits: int | None
    seconds: float | None
    credits_per_page: int = CREDIT_COSTS["GET"]
    page_size: int = PAGE_SIZE

    @property
    def duration(self) -> str:
        return duration_text(self.seconds)


def read_window(concurrency: int) -> int:
    """How many pages an export may have read and not yet written: those in flight, and those that
    arrived early and wait for an earlier, slower page."""
    return 2 * max(1, int(concurrency))


def export_estimate() -> ExportEstimate:
    """Cost and duration of reading the whole ledger, judged by the last export that read all of it."""
    last = ExportJob.objects.filter(status=Status.SUCCEEDED).order_by("-finished_at", "-id").first()
    if last is None:
        return ExportEstimate(customers=None, pages=None, credits=None, seconds=None)
    # The last page is the first one that comes back short (empty when the count divides evenly), and
    # the pages read ahead of it are charged too: at most a window less one (`read_window`).
    pages = last.rows_read // PAGE_SIZE + 1
    credits = (pages + read_window(settings.TATUM_EXPORT_CONCURRENCY) - 1) * CREDIT_COSTS["GET"]
    seconds = pages / settings.TATUM_MAX_RPS
    if last.started_at and last.finished_at:
        seconds = max(seconds, (last.finished_at - last.started_at).total_seconds())
    return ExportEstimate(customers=last.rows_read, pages=pages, credits=credits, seconds=seconds)


# --- Jobs: start, cancel, retry, find --------------------------------------------------------------


class ExportAlreadyRunning(Exception):
    """The user already has an export waiting or running; starting another would only compete with it."""

    def __init__(self, job: ExportJob) -> None:
        super().__init__(f"Export {job.pk} is still running.")
        self.job = job


def export_start(
    *, actor: Actor, export_filter: ExportFilter, retry_of: ExportJob | None = None
) -> ExportJob:
    """Create an export job, record the request in the audit trail and queue the job for a worker.

    Raises ExportAlreadyRunning when the user has an unfinished export (a stalled one does not count).
    """
    user = actor.user
    running = _unfinished_job(user)
    if running is not None:
        raise ExportAlreadyRunning(running)
    job = ExportJob.objects.create(
        user=user,
        username=user.get_username(),
        scope=ExportJob.Scope.ALL if export_filter.is_empty else ExportJob.Scope.FILTERED,
        filters=export_filter.to_json(),
        retry_of=retry_of,
        request_id=(actor.request_id or new_request_id())[:64],
        created_at=timezone.now(),
        estimated_rows=export_estimate().customers,
    )
    reason = f"Export {job.pk}: {export_scope_text(job)}"
    if retry_of is not None:
        reason += f" (retry of export {retry_of.pk})"
    audit_entry_record(
        actor=actor, action=AuditEntry.Action.EXPORT_CUSTOMERS, outcome=Outcome.SUCCEEDED, reason=reason
    )
    _enqueue(job, actor)
    return job


def _unfinished_job(user: Any) -> ExportJob | None:
    for job in ExportJob.objects.filter(user=user, status__in=ExportJob.ACTIVE_STATUSES):
        if not job.is_stalled:
            return job
    return None


def _enqueue(job: ExportJob, actor: Actor) -> None:
    # Imported here: customers.tasks imports this module.
    from customers.tasks import export_customers

    try:
        result = export_customers.enqueue(job.pk)
    except Exception as exc:
        # Whatever broke (the queue's database, a misconfigured backend), the job must not look queued.
        _finish_failed(
            job, actor, "The export could not be queued. Try again in a minute.", "queue", str(exc)
        )
        raise
    ExportJob.objects.filter(pk=job.pk).update(task_id=str(result.id)[:64])
    job.task_id = str(result.id)[:64]


def export_cancel(*, actor: Actor, job: ExportJob) -> ExportJob:
    """Ask the job to stop. A queued job stops at once; a running one stops before its next page."""
    if job.status == Status.QUEUED:
        cancelled = ExportJob.objects.filter(pk=job.pk, status=Status.QUEUED).update(
            status=Status.CANCELLED, cancel_requested=True, finished_at=timezone.now()
        )
        if cancelled:
            job.refresh_from_db()
            _audit_finished(job, actor)
            return job
    ExportJob.objects.filter(pk=job.pk, status__in=ExportJob.ACTIVE_STATUSES).update(cancel_requested=True)
    job.refresh_from_db()
    if job.is_stalled:
        # No worker is left to notice the flag: stop it here.
        _stop_stalled(job, actor)
    return job


def _stop_stalled(job: ExportJob, actor: Actor) -> None:
    # The flag too: should the worker come back after all, it stops at its next progress update.
    stopped = ExportJob.objects.filter(pk=job.pk, status=Status.RUNNING).update(
        status=Status.CANCELLED, cancel_requested=True, finished_at=timezone.now()
    )
    if stopped:
        _remove_partial_file(job)
        job.refresh_from_db()
        _audit_finished(job, actor)


def export_retry(*, actor: Actor, job: ExportJob) -> ExportJob:
    """A new job with the same scope as a failed, cancelled or stalled one."""
    if job.status == Status.RUNNING and job.is_stalled:
        _stop_stalled(job, actor)
    return export_start(actor=actor, export_filter=ExportFilter.from_json(job.filters), retry_of=job)


def export_jobs_visible_to(user: Any) -> QuerySet[ExportJob]:
    """A manager sees their own exports; a superuser sees everyone's."""
    jobs = ExportJob.objects.all()
    return jobs if user.is_superuser else jobs.filter(user=user)


def export_can_see(user: Any, job: ExportJob) -> bool:
    return bool(user.is_superuser or (job.user_id is not None and job.user_id == user.pk))


# --- Files -----------------------------------------------------------------------------------------


def export_file_name(job: ExportJob, started: datetime) -> str:
    """The name the user downloads, e.g. `customers-all-20261125T120000Z.csv`."""
    return f"customers-{job.scope}-{started.astimezone(UTC):%Y%m%dT%H%M%SZ}.csv"


def export_file_path(job: ExportJob) -> Path | None:
    """Where the finished file lives: the job id keeps two exports started in one second apart."""
    if not job.file_name:
        return None
    return Path(settings.EXPORT_ROOT) / f"{job.pk}-{job.file_name}"


def _partial_file_path(job: ExportJob) -> Path:
    return Path(settings.EXPORT_ROOT) / f".{job.pk}-{job.file_name}.part"


def _remove_partial_file(job: ExportJob) -> None:
    if job.file_name:
        _partial_file_path(job).unlink(missing_ok=True)


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


# --- Progress for the pages ------------------------------------------------------------------------


@dataclass(frozen=True)
class ExportProgress:
    """What the progress page shows, worked out from the job row."""

    job: ExportJob
    elapsed: timedelta | None
    rows_per_second: float | None
    bar_value: int | None
    bar_max: int | None
    seconds_left: float | None

    @property
    def determinate(self) -> bool:
        return self.bar_value is not None

    @property
    def percent(self) -> int | None:
        if self.bar_value is None or not self.bar_max:
            return None
        return min(100, math.floor(100 * self.bar_value / self.bar_max))

    @property
    def elapsed_text(self) -> str:
        return duration_text(self.elapsed.total_seconds()) if self.elapsed is not None else ""

    @property
    def time_left_text(self) -> str:
        return duration_text(self.seconds_left)

    @property
    def waiting_seconds(self) -> float:
        """How long a queued job has waited for a worker."""
        return (timezone.now() - self.job.created_at).total_seconds()


def export_progress(job: ExportJob, now: datetime | None = None) -> ExportProgress:
    now = now or timezone.now()
    elapsed = rate = None
    if job.started_at is not None:
        elapsed = (job.finished_at or now) - job.started_at
        measured = ((job.finished_at or job.heartbeat_at or now) - job.started_at).total_seconds()
        rate = job.rows_read / measured if measured > 0 and job.rows_read else None
    value, maximum = _bar(job)
    seconds_left = None
    if job.is_active and rate and maximum and value is not None:
        seconds_left = max(maximum - value, 0) / rate
    return ExportProgress(job, elapsed, rate, value, maximum, seconds_left)


def _bar(job: ExportJob) -> tuple[int | None, int | None]:
    if job.status == Status.SUCCEEDED:
        total = max(job.rows_read, 1)
        return total, total
    if job.estimated_rows:
        # The ledger may have grown since the estimate: never show more than a full bar.
        maximum = max(job.estimated_rows, job.rows_read)
        return job.rows_read, maximum
    return None, None


# --- The engine ------------------------------------------------------------------------------------


class ExportCancelled(Exception):
    """The user asked the job to stop."""


class PageFailed(Exception):
    """A page could not be read, even after retrying."""

    def __init__(self, page: int, attempts: int, error: TatumError) -> None:
        super().__init__(f"Page {page + 1} failed after {attempts} attempts: {error}")
        self.page = page
        self.attempts = attempts
        self.error = error


class _Stopped(Exception):
    """A page read abandoned because the export is stopping."""


class _CallLog:
    """Collects the client's call records from the reading threads for the coordinator to store."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._records: list[CallRecord] = []
        self.retries = 0

    def add(self, record: CallRecord) -> None:
        with self._lock:
            self._records.append(record)

    def count_retry(self) -> None:
        with self._lock:
            self.retries += 1

    def drain(self) -> list[CallRecord]:
        with self._lock:
            records, self._records = self._records, []
            return records


def export_run(*, job_id: int, concurrency: int | None = None) -> ExportJob:
    """Run a queued export to the end: the worker's entry point (see customers.tasks).

    Returns the job as it ended (finished, failed or cancelled). A job that is no longer queued (a
    cancelled one, or one another worker took) is returned untouched.
    """
    job = _claim(job_id)
    if job is None:
        return ExportJob.objects.get(pk=job_id)
    actor = Actor(user=job.user, request_id=job.request_id)
    with acting_as(job.user, request_id=job.request_id or None):
        run = _ExportRun(job, concurrency or settings.TATUM_EXPORT_CONCURRENCY)
        try:
            run.execute()
        except ExportCancelled:
            run.finish(Status.CANCELLED)
        except PageFailed as failure:
            run.finish(Status.FAILED, error=failure)
        except OSError as exc:
            run.finish(
                Status.FAILED, message=f"The export file could not be written ({exc.strerror or exc})."
            )
        except Exception:
            logger.exception("Export %s stopped by an unexpected error", job.pk)
            run.finish(Status.FAILED, message="An unexpected error stopped the export. Try again.")
            raise
        finally:
            _audit_finished(run.job, actor)
    return run.job


def _claim(job_id: int) -> ExportJob | None:
    """Move the job from queued to running; None when it was not queued (so nobody else runs it)."""
    now = timezone.now()
    job = ExportJob.objects.filter(pk=job_id).first()
    if job is None or job.status != Status.QUEUED:
        return None
    name = export_file_name(job, now)
    claimed = ExportJob.objects.filter(pk=job_id, status=Status.QUEUED).update(
        status=Status.RUNNING, started_at=now, heartbeat_at=now, file_name=name
    )
    if not claimed:
        return None
    job.refresh_from_db()
    return job


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
    concurrency: int
    counters: _Counters = field(default_factory=_Counters)
    calls: _CallLog = field(default_factory=_CallLog)
    stop: threading.Event = field(default_factory=threading.Event)
    seen: set[str] = field(default_factory=set)
    previous_ids: list[str] = field(default_factory=list)
    last_flush: float = 0.0

    def __post_init__(self) -> None:
        self.concurrency = max(1, int(self.concurrency))
        self.window = read_window(self.concurrency)
        self.export_filter = ExportFilter.from_json(self.job.filters)
        self.temp_path = _partial_file_path(self.job)

    # --- Running ---

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
        self.job.file_size = final_path.stat().st_size
        self.finish(Status.SUCCEEDED)

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
                customers = arrived.pop(next_to_write).result()
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
        """One page, retried with back-off on failures that may pass (runs in a reading thread)."""
        for attempt in range(1, PAGE_ATTEMPTS + 1):
            if self.stop.is_set():
                raise _Stopped
            try:
                return self.client.list_customers(page_size=PAGE_SIZE, page=page)
            except TatumError as error:
                if attempt == PAGE_ATTEMPTS or isinstance(error, _PERMANENT_ERRORS):
                    raise PageFailed(page, attempt, error) from error
                self.calls.count_retry()
                if self.stop.wait(_page_backoff(error, attempt)):
                    raise _Stopped from error
        raise AssertionError("unreachable: the last attempt returns or raises")

    def _write_page(self, writer: Any, page: int, customers: list[Customer]) -> None:
        ids = [customer.id for customer in customers]
        if page > 0 and len(customers) == PAGE_SIZE and ids == self.previous_ids:
            error = TatumProtocolError("Tatum returned the same page twice; check TATUM_OFFSET_MODE.")
            raise PageFailed(page, 1, error)
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

    # --- Progress ---

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

    def finish(self, status: str, *, error: PageFailed | None = None, message: str = "") -> None:
        """Store the outcome; a failed or cancelled run leaves no file behind."""
        final: dict[str, Any] = {"status": status, "finished_at": timezone.now()}
        if status != Status.SUCCEEDED:
            self.temp_path.unlink(missing_ok=True)
        else:
            final["file_size"] = self.job.file_size
        if error is not None:
            final.update(_failure_fields(error))
        elif message:
            final.update(error_code="", error_message=message)
        self._flush(**final)


def _failure_fields(failure: PageFailed) -> dict[str, str]:
    error = failure.error
    user_message = message_for(error)
    where = f"Page {failure.page + 1} could not be read after {failure.attempts} attempt"
    where += "s." if failure.attempts != 1 else "."
    text = f"{where} {user_message.title} {user_message.next_step}"
    if isinstance(error, TatumProtocolError) and "same page twice" in error.message:
        text = f"{where} Tatum returned the same page twice: check the TATUM_OFFSET_MODE setting."
    code = error.error_code or (f"http_{error.status}" if error.status else type(error).__name__)
    return {"error_code": code[:100], "error_message": text}


def _page_backoff(error: TatumError, attempt: int) -> float:
    if isinstance(error, TatumRateLimited) and error.retry_after is not None:
        return min(error.retry_after, PAGE_BACKOFF_CAP_SECONDS)
    delay = PAGE_BACKOFF_SECONDS * 2 ** (attempt - 1) * random.uniform(0.5, 1.0)
    return min(delay, PAGE_BACKOFF_CAP_SECONDS)


# --- Audit -----------------------------------------------------------------------------------------


def _audit_finished(job: ExportJob, actor: Actor) -> None:
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


def _finish_failed(job: ExportJob, actor: Actor, message: str, code: str, detail: str) -> None:
    ExportJob.objects.filter(pk=job.pk).update(
        status=Status.FAILED, finished_at=timezone.now(), error_code=code, error_message=message
    )
    job.refresh_from_db()
    logger.error("Export %s could not be queued: %s", job.pk, detail)
    _audit_finished(job, actor)


def export_audit_download(*, actor: Actor, job: ExportJob, outcome: str, message: str = "") -> None:
    """Record a download (or a refused or failed one) in the audit trail."""
    fields: dict[str, Any] = {"reason": f"Export {job.pk}: {job.file_name or 'no file'}"}
    if outcome != Outcome.SUCCEEDED:
        fields.update(error_message=message, http_status=404 if outcome == Outcome.FAILED else 403)
    audit_entry_record(actor=actor, action=AuditEntry.Action.DOWNLOAD_EXPORT, outcome=outcome, **fields)


def export_remove_old_files(*, days: int, dry_run: bool = False) -> tuple[int, int]:
    """Delete finished export files older than `days` days, and abandoned partial files.

    Returns (files removed, bytes freed). The job rows stay, marked as having had their file removed.
    """
    cutoff = timezone.now() - timedelta(days=days)
    removed = freed = 0
    jobs = ExportJob.objects.filter(
        status=Status.SUCCEEDED, finished_at__lt=cutoff, file_removed_at__isnull=True
    ).exclude(file_name="")
    for job in jobs:
        path = export_file_path(job)
        size = path.stat().st_size if path is not None and path.is_file() else 0
        if not dry_run:
            if path is not None:
                path.unlink(missing_ok=True)
            ExportJob.objects.filter(pk=job.pk).update(file_removed_at=timezone.now())
        removed += 1 if size else 0
        freed += size
    for path in _abandoned_partial_files(cutoff):
        freed += path.stat().st_size
        removed += 1
        if not dry_run:
            path.unlink(missing_ok=True)
    return removed, freed


def _abandoned_partial_files(cutoff: datetime) -> Iterable[Path]:
    root = Path(settings.EXPORT_ROOT)
    if not root.is_dir():
        return []
    limit = cutoff.timestamp()
    return [path for path in root.glob(".*-customers-*.csv.part") if path.stat().st_mtime < limit]
