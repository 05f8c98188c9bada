"""Running an export: read every customer from Tatum, write the CSV file, keep the job row current.

Tatum has no filters and no total count, so every export reads the whole ledger, 50 customers a page,
and filters while reading. The ledger is read by `customers.index.reader.LedgerReader` (the one the
index sync uses too: `TATUM_EXPORT_CONCURRENCY` requests in flight under the client's process-wide
`TATUM_MAX_RPS`, the client's retries only, each customer once) and rows are written in page order as
pages arrive. A page that still fails after the client's retries fails the export. The file is written
under a temporary name and renamed when complete, so a file with the final name is always a whole export.

The coordinating thread does all database work (progress, the record of each Tatum call, the audit
trail), so no reading thread opens a database connection that it would have to close.

Jobs outlive their worker. Each page is fsynced and then checkpointed in the job row (pages, rows and
the partial file's length), and the row's heartbeat is refreshed at least every PROGRESS_INTERVAL. A
job whose heartbeat stops is taken over by a live worker (`export_take_over`, run by the task
`export_watch`), which copies the partial file up to the checkpoint, dropping a half-written page,
and reads on from the next page. Every write is conditional on the run still owning the job, so a
worker that comes back after a takeover stops without touching it.
"""

from __future__ import annotations

import csv
import logging
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import QuerySet
from django.utils import timezone

from customers.audit.models import AuditEntry
from customers.audit.trail import Actor, audit_entry_record
from customers.context import acting_as
from customers.credits.calls import record_api_call
from customers.csv_safety import safe_cell
from customers.exports.csv_file import CSV_COLUMNS, CSV_ENCODING, csv_row, export_file_name
from customers.exports.filters import ExportFilter
from customers.exports.from_index import IndexExportRun
from customers.exports.models import ExportJob
from customers.exports.selectors import (
    export_checkpoint_path,
    export_file_path,
    export_partial_file_path,
    export_source_text,
    read_window,
)
from customers.index.reader import CallLog, LedgerPage, LedgerReader, PageFailed

logger = logging.getLogger(__name__)

Status = ExportJob.Status
Outcome = AuditEntry.Outcome

# Progress reaches the database at most this often (and once more at the end), never per row.
PROGRESS_INTERVAL = 0.5


class ExportCancelled(Exception):
    """The user asked the job to stop."""


# --- Running a job ---------------------------------------------------------------------------------


def export_run(*, job_id: int) -> ExportJob:
    """Run a queued export to the end: the worker's entry point (see customers.exports.tasks).

    Returns the job as it ended (finished, failed or cancelled). A job that is no longer queued (a
    cancelled one, or one another worker took) is returned untouched.
    """
    job = _claim(job_id)
    if job is None:
        return ExportJob.objects.get(pk=job_id)
    return export_continue(job)


def export_take_over(*, job: ExportJob, task_id: str) -> ExportJob | None:
    """Claim a running job whose worker stopped reporting, for the task `task_id` to continue it.

    A compare-and-set on the heartbeat (and the attempt) the caller saw: of two workers that find the
    same stalled job, one wins and the other gets None, as does a job that is alive after all.
    """
    if not job.is_stalled:
        return None
    taken = ExportJob.objects.filter(
        pk=job.pk, status=Status.RUNNING, attempts=job.attempts, heartbeat_at=job.heartbeat_at
    ).update(attempts=job.attempts + 1, heartbeat_at=timezone.now(), task_id=task_id[:64])
    if not taken:
        return None
    logger.warning("Export %s: its worker stopped reporting; this worker takes it over", job.pk)
    job.refresh_from_db()
    return job


def export_continue(job: ExportJob) -> ExportJob:
    """Run a job this worker has claimed (`_claim` or `export_take_over`) from its checkpoint to the end."""
    with acting_as(job.user, request_id=job.request_id or None):
        # An export from the customer index writes the same file without reading Tatum.
        run = IndexExportRun(job) if job.source == ExportJob.Source.INDEX else _ExportRun(job)
        try:
            run.execute()
        except _JobLost:
            logger.warning("Export %s was taken over by another worker; this run stops", job.pk)
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
            if not run.lost:
                export_audit_finished(run.job, Actor(user=job.user, request_id=job.request_id))
    if run.lost:
        return ExportJob.objects.get(pk=job.pk)
    return run.job


def _claim(job_id: int) -> ExportJob | None:
    """Move the job from queued to running; None when it was not queued (so nobody else runs it)."""
    now = timezone.now()
    job = ExportJob.objects.filter(pk=job_id).first()
    if job is None or job.status != Status.QUEUED:
        return None
    claimed = ExportJob.objects.filter(pk=job_id, status=Status.QUEUED).update(
        status=Status.RUNNING,
        attempts=job.attempts + 1,
        started_at=now,
        heartbeat_at=now,
        file_name=export_file_name(job, now),
    )
    if not claimed:
        return None
    job.refresh_from_db()
    return job


def _failure_fields(failure: PageFailed) -> dict[str, str]:
    return {"error_code": failure.error_code, "error_message": failure.reason}


@dataclass
class _Counters:
    """What the checkpoint covers (pages and rows in the fsynced file) and the credits spent."""

    pages_read: int = 0
    rows_read: int = 0
    rows_written: int = 0
    duplicates_skipped: int = 0
    credits_spent: int = 0


# The counters a resumed run takes over from the checkpoint along with the file.
_CHECKPOINT_COUNTERS = ("pages_read", "rows_read", "rows_written", "duplicates_skipped")


@dataclass
class _ExportRun:
    """One run of one job: reading threads, the CSV file and the progress row."""

    job: ExportJob
    counters: _Counters = field(default_factory=_Counters)
    calls: CallLog = field(default_factory=CallLog)
    seen: set[str] = field(default_factory=set)
    partial_bytes: int = 0
    last_flush: float = 0.0
    # Set when another worker took the job over: this run then writes nothing more.
    lost: bool = False

    def __post_init__(self) -> None:
        self.concurrency = max(1, int(settings.TATUM_EXPORT_CONCURRENCY))
        self.window = read_window(self.concurrency)
        self.export_filter = ExportFilter.from_json(self.job.filters)
        self.attempt = self.job.attempts
        self.temp_path = export_partial_file_path(self.job)
        # A job taken over keeps counting its credits and retries; a new job starts at 0.
        self.counters.credits_spent = self.job.credits_spent
        self.retries_before = self.job.page_retries

    def execute(self) -> None:
        self.temp_path.parent.mkdir(parents=True, exist_ok=True)
        first_page = self._open_partial_file()
        # Appending: plain UTF-8, since the byte order mark is already at the start of the file.
        with self.temp_path.open("a", encoding="utf-8", newline="") as file:
            self.file = file
            self.writer = csv.writer(file)
            self._read_all_pages(first_page)
        final_path = export_file_path(self.job)
        os.replace(self.temp_path, final_path)
        self.finish(Status.SUCCEEDED, file_size=final_path.stat().st_size)

    # --- The partial file and its checkpoint ---

    def _open_partial_file(self) -> int:
        """Continue from the checkpoint an earlier run left, or start the file; the first page to read."""
        source = _checkpoint_source(self.job)
        if source is not None and self._adopt(source):
            logger.info("Export %s resumes after page %s", self.job.pk, self.counters.pages_read)
            return self.counters.pages_read
        with self.temp_path.open("w", encoding=CSV_ENCODING, newline="") as file:
            csv.writer(file).writerow(CSV_COLUMNS)
            self._sync(file)
        self._flush()
        return 0

    def _adopt(self, source: ExportJob) -> bool:
        """Copy the checkpointed part of the earlier run's file (dropping any half-written page after
        it) and take its counters; False when that file is gone or shorter than the checkpoint."""
        path = export_checkpoint_path(source)
        if path is None or not _copy_prefix(path, self.temp_path, source.partial_bytes):
            return False
        for name in _CHECKPOINT_COUNTERS:
            setattr(self.counters, name, getattr(source, name))
        self.partial_bytes = source.partial_bytes
        self.seen = _ids_in(self.temp_path)
        self._flush()
        # Only once the checkpoint names this run's copy: until then the earlier file is still needed.
        path.unlink(missing_ok=True)
        if source.pk != self.job.pk:
            ExportJob.objects.filter(pk=source.pk).update(partial_name="", partial_bytes=0)
        return True

    def _sync(self, file: Any) -> None:
        """Make what was written durable and remember its length: the checkpoint's end."""
        file.flush()
        os.fsync(file.fileno())
        self.partial_bytes = os.fstat(file.fileno()).st_size

    # --- Reading and writing pages ---

    def _read_all_pages(self, first_page: int) -> None:
        """Write the pages in page order as the reader hands them out, reporting between them."""
        reader = LedgerReader(
            calls=self.calls,
            concurrency=self.concurrency,
            window=self.window,
            interval=PROGRESS_INTERVAL,
            first_page=first_page,
            # Kept as written (spreadsheet-safe), so a resumed run rebuilds the set from the file.
            seen=self.seen,
            key=lambda customer: safe_cell(customer.id),
            on_wait=self._beat_while_mine,
            name=f"export-{self.job.pk}",
        )
        with reader:
            for page in reader.pages():
                if page is not None:
                    self._write_page(self.writer, page.number, page)
                self._tick()

    def _beat_while_mine(self) -> None:
        if not self.lost:
            self._beat()

    def _write_page(self, writer: Any, number: int, page: LedgerPage) -> None:
        """Write the page's customers not written before (page `number`), fsync the file and store the
        checkpoint: a page counts once it is durable."""
        rows = [csv_row(customer) for customer in page.customers if self.export_filter.matches(customer)]
        writer.writerows(rows)
        self._sync(self.file)
        counters = self.counters
        counters.pages_read += 1
        counters.rows_read += page.read
        counters.rows_written += len(rows)
        counters.duplicates_skipped += page.duplicates
        self._flush()

    # --- The job row ---

    def _tick(self) -> None:
        """Between pages, report at least every PROGRESS_INTERVAL (the heartbeat)."""
        if time.monotonic() - self.last_flush >= PROGRESS_INTERVAL:
            self._flush()

    def _flush(self, **final: Any) -> None:
        """Store the calls made since the last flush, the checkpoint and the heartbeat, in one short
        transaction. Raises ExportCancelled when the user asked to stop, _JobLost when the job is no
        longer this run's (another worker took it over)."""
        records = self.calls.drain()
        self.counters.credits_spent += sum(record.credits for record in records)
        values: dict[str, Any] = {
            "credits_spent": self.counters.credits_spent,
            "page_retries": self.retries_before + self.calls.retries,
            "heartbeat_at": timezone.now(),
        }
        if self.partial_bytes:
            # This run's file is started: it now holds the checkpoint (until then, an earlier one may).
            values.update({name: getattr(self.counters, name) for name in _CHECKPOINT_COUNTERS})
            values.update(partial_name=self.temp_path.name, partial_bytes=self.partial_bytes)
        values.update(final)
        mine = self._mine()
        with transaction.atomic():
            # Calls are recorded even when the job is no longer ours: Tatum charged them all the same.
            for record in records:
                record_api_call(record)
            updated = (mine if final else mine.filter(cancel_requested=False)).update(**values)
        self.last_flush = time.monotonic()
        if not updated:
            if not final and mine.exists():
                raise ExportCancelled
            self.lost = True
            raise _JobLost
        for name, value in values.items():
            setattr(self.job, name, value)

    def _beat(self) -> None:
        self._mine().update(heartbeat_at=timezone.now())

    def _mine(self) -> QuerySet[ExportJob]:
        """The job row, as long as this run still owns it."""
        return ExportJob.objects.filter(pk=self.job.pk, status=Status.RUNNING, attempts=self.attempt)

    def finish(self, status: str, **fields: Any) -> None:
        """Store the outcome (and any error fields). A cancelled run deletes its partial file; a failed
        one keeps it, with its checkpoint, so that Retry continues from the pages already written."""
        if self.lost:
            return
        if status != Status.FAILED:
            fields.update(partial_name="", partial_bytes=0)
        if status == Status.CANCELLED:
            self.temp_path.unlink(missing_ok=True)
            # An earlier run's file, when this run stopped before it had taken the checkpoint over.
            earlier = export_checkpoint_path(self.job)
            if earlier is not None:
                earlier.unlink(missing_ok=True)
        try:
            self._flush(status=status, finished_at=timezone.now(), **fields)
        except _JobLost:
            logger.warning("Export %s was taken over by another worker before this run ended", self.job.pk)


class _JobLost(Exception):
    """The job is no longer this run's: another worker took it over, or it was stopped as stalled."""


def _checkpoint_source(job: ExportJob) -> ExportJob | None:
    """Whose checkpoint a run starts from: the job's own (an earlier run of it), or, for the retry of
    a failed export with the same scope, the failed one's; None to start from the first page."""
    if job.partial_name and job.partial_bytes:
        return job
    earlier = job.retry_of
    if earlier is None or earlier.status != Status.FAILED or earlier.filters != job.filters:
        return None
    return earlier if earlier.partial_name and earlier.partial_bytes else None


def _copy_prefix(source: Path, target: Path, length: int) -> bool:
    """Copy the first `length` bytes of `source` to `target` and fsync it; False if `source` is
    missing or shorter."""
    try:
        with source.open("rb") as reader, target.open("wb") as writer:
            if os.fstat(reader.fileno()).st_size < length:
                return False
            remaining = length
            while remaining:
                chunk = reader.read(min(remaining, 1 << 20))
                if not chunk:
                    return False
                writer.write(chunk)
                remaining -= len(chunk)
            writer.flush()
            os.fsync(writer.fileno())
    except FileNotFoundError:
        return False
    return True


def _ids_in(path: Path) -> set[str]:
    """The ids a partial file holds (its first column), to skip repeats after a resume."""
    with path.open(encoding=CSV_ENCODING, newline="") as file:
        reader = csv.reader(file)
        next(reader, None)
        return {row[0] for row in reader if row}


# --- Audit -----------------------------------------------------------------------------------------


def export_audit_finished(job: ExportJob, actor: Actor) -> None:
    """Record how the job ended: finished, failed with its reason, or cancelled."""
    reason = f"Export {job.pk} ({export_source_text(job)}): {job.rows_written} rows written"
    reason += f" from {job.rows_read} customers read, {job.credits_spent} credits"
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
