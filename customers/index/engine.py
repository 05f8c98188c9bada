"""Running a sync: read the whole ledger from Tatum into the index, keeping the `SyncRun` row current.

The ledger is read by `customers.index.reader.LedgerReader` (the export's reader: up to
`TATUM_EXPORT_CONCURRENCY` pages in flight under the shared `TATUM_MAX_RPS`, the client's retries only,
each customer once). Each page is upserted as it arrives, in one statement (`records_seen`), so the
index grows page by page and a run holds no more than the reader's window of pages and a set of ids.

Only a complete read says who is gone: after one, rows it did not see are marked missing from Tatum
(never deleted). A run that fails or is cancelled marks nothing missing and keeps the pages it stored.

The coordinating thread does all database work (the rows, progress, the record of each Tatum call,
the audit trail); the reading threads only speak HTTP. Progress, the calls made and the heartbeat
reach the run's row every PROGRESS_INTERVAL, between pages, which is also when a cancel is noticed:
written for every page, they would cost about as much as the page's own rows.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import QuerySet
from django.utils import timezone

from customers.audit.models import AuditEntry
from customers.audit.trail import Actor, audit_entry_record
from customers.context import acting_as
from customers.credits.calls import record_api_call
from customers.index.models import CustomerRecord, SyncRun
from customers.index.reader import PAGE_SIZE, CallLog, LedgerPage, LedgerReader, PageFailed
from customers.index.records import records_mark_missing, records_seen

logger = logging.getLogger(__name__)

Status = SyncRun.Status
Outcome = AuditEntry.Outcome

# Progress reaches the database this often, between pages (and once more at the end).
PROGRESS_INTERVAL = 0.5

CANCELLED_MESSAGE = (
    "Cancelled before it finished. The customers it had read are in the index; nothing was marked "
    "missing. Start a sync again for a complete picture."
)
FAILED_KEPT = " The customers read before that are in the index; nothing was marked missing."
UNEXPECTED_MESSAGE = "An unexpected error stopped the sync. Try again; if it happens again, check the logs."


class SyncCancelled(Exception):
    """A manager asked the run to stop."""


def sync_run(*, run_id: int, on_progress: Callable[[SyncRun], None] | None = None) -> SyncRun:
    """Run a queued sync to the end: the worker's (and `manage.py sync_customers`') entry point.

    Returns the run as it ended (finished, failed or cancelled); one that is no longer queued (a
    cancelled one, or one another worker took) is returned untouched. `on_progress` is called with the
    run after each report.
    """
    run = _claim(run_id)
    if run is None:
        return SyncRun.objects.get(pk=run_id)
    with acting_as(run.user, request_id=run.request_id or None):
        sync = _Sync(run, on_progress)
        try:
            sync.execute()
        except SyncCancelled:
            sync.finish(Status.CANCELLED, error_code="cancelled", error_message=CANCELLED_MESSAGE)
        except PageFailed as failure:
            message = failure.reason + FAILED_KEPT
            sync.finish(Status.FAILED, error_code=failure.error_code, error_message=message)
        except Exception:
            logger.exception("Sync %s stopped by an unexpected error", run.pk)
            message = UNEXPECTED_MESSAGE + FAILED_KEPT
            sync.finish(Status.FAILED, error_code="unexpected", error_message=message)
            raise
        finally:
            sync_audit_finished(sync.run, Actor(user=run.user, request_id=run.request_id))
    return sync.run


def _claim(run_id: int) -> SyncRun | None:
    """Move the run from queued to running; None when it was not queued (cancelled, or another worker
    took it). No other sync can be running: the constraint `one_active_sync` allows one waiting or
    running at a time."""
    now = timezone.now()
    claimed = SyncRun.objects.filter(pk=run_id, status=Status.QUEUED).update(
        status=Status.RUNNING, started_at=now, heartbeat_at=now
    )
    return SyncRun.objects.get(pk=run_id) if claimed else None


class _Sync:
    """One run: the reader, the upserts and the progress row."""

    def __init__(self, run: SyncRun, on_progress: Callable[[SyncRun], None] | None) -> None:
        self.run = run
        self.on_progress = on_progress
        self.calls = CallLog()
        self.last_flush = 0.0

    def execute(self) -> None:
        estimate = self.run.estimated_customers
        reader = LedgerReader(
            calls=self.calls,
            concurrency=settings.TATUM_EXPORT_CONCURRENCY,
            interval=PROGRESS_INTERVAL,
            # The last complete sync's count: its last, short page is where this one expects to end.
            expected_last_page=estimate // PAGE_SIZE if estimate is not None else None,
            on_wait=self._beat,
            name=f"sync-{self.run.pk}",
        )
        with reader:
            for page in reader.pages():
                # Before the page is stored: a cancel is honoured between pages.
                if time.monotonic() - self.last_flush >= PROGRESS_INTERVAL:
                    self._flush()
                if page is not None:
                    self._store(page)
        # Complete: whoever this read did not find is gone from Tatum (or was when it passed).
        marked = records_mark_missing(not_seen_since=self.run.started_at)
        self.finish(Status.SUCCEEDED, marked_missing=marked)

    def _store(self, page: LedgerPage) -> None:
        records_seen(page.customers, seen_by=CustomerRecord.SeenBy.SYNC)
        run = self.run
        run.pages_read += 1
        run.customers_read += page.read
        run.duplicates_skipped += page.duplicates

    def _flush(self, **final: Any) -> None:
        """Store the calls made since the last report, the counters and the heartbeat. Raises
        SyncCancelled when a manager asked the run to stop (unless this is the final report)."""
        records = self.calls.drain()
        run = self.run
        run.credits_spent += sum(record.credits for record in records)
        values: dict[str, Any] = {
            "pages_read": run.pages_read,
            "customers_read": run.customers_read,
            "duplicates_skipped": run.duplicates_skipped,
            "credits_spent": run.credits_spent,
            "heartbeat_at": timezone.now(),
            **final,
        }
        with transaction.atomic():
            # Calls are recorded whatever happens to the run: Tatum charged them all the same.
            for record in records:
                record_api_call(record)
            mine = self._mine()
            updated = (mine if final else mine.filter(cancel_requested=False)).update(**values)
        self.last_flush = time.monotonic()
        for name, value in values.items():
            setattr(run, name, value)
        if not updated and not final:
            raise SyncCancelled
        if self.on_progress is not None:
            self.on_progress(run)

    def _beat(self) -> None:
        self._mine().update(heartbeat_at=timezone.now())

    def _mine(self) -> QuerySet[SyncRun]:
        return SyncRun.objects.filter(pk=self.run.pk, status=Status.RUNNING)

    def finish(self, status: str, **fields: Any) -> None:
        """Store the outcome, the calls still unrecorded and the final counters."""
        self._flush(status=status, finished_at=timezone.now(), **fields)


# --- Audit -----------------------------------------------------------------------------------------


def sync_audit_finished(run: SyncRun, actor: Actor) -> None:
    """Record how the run ended: finished, failed with its reason, or cancelled."""
    reason = (
        f"Sync {run.pk}: {run.customers_read} customers read in {run.pages_read} pages, "
        f"{run.credits_spent} credits"
    )
    if run.status == Status.SUCCEEDED:
        reason += f", {run.marked_missing} marked missing from Tatum"
        audit_entry_record(
            actor=actor, action=AuditEntry.Action.SYNC_FINISHED, outcome=Outcome.SUCCEEDED, reason=reason
        )
        return
    audit_entry_record(
        actor=actor,
        action=AuditEntry.Action.SYNC_FINISHED,
        outcome=Outcome.FAILED,
        reason=reason,
        error_code=run.error_code,
        error_message=run.error_message,
    )
