"""Export actions: start, cancel and retry an export (queueing its task), and audit downloads."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from django.conf import settings
from django.utils import timezone

from customers.audit.models import AuditEntry
from customers.audit.trail import Actor, audit_entry_record
from customers.background import RunNotQueued
from customers.context import new_request_id
from customers.exports.engine import export_audit_finished
from customers.exports.filters import ExportFilter
from customers.exports.models import ExportJob
from customers.exports.selectors import (
    export_checkpoint_path,
    export_estimate,
    export_file_path,
    export_partial_file_path,
    export_scope_text,
    export_source_text,
    export_stalled_for,
    export_unfinished_for,
)
from customers.exports.tasks import export_customers, export_task_abandon, export_watch_schedule
from customers.index.selectors import index_as_of

logger = logging.getLogger(__name__)

Status = ExportJob.Status
Outcome = AuditEntry.Outcome


class IndexNotSynced(Exception):
    """An export from the customer index was asked for, but the index has never been synced."""


class ExportAlreadyRunning(Exception):
    """The user already has an export waiting or running; starting another would only compete with it."""

    def __init__(self, job: ExportJob) -> None:
        super().__init__(f"Export {job.pk} is still running.")
        self.job = job


def export_start(
    *,
    actor: Actor,
    export_filter: ExportFilter,
    source: str = ExportJob.Source.LIVE,
    retry_of: ExportJob | None = None,
) -> ExportJob:
    """Create an export job, record the request in the audit trail and queue the job for a worker.

    `source` is live (read Tatum's whole ledger) or index (write the customer index, as of its last
    complete sync: no Tatum call, no credits). Raises IndexNotSynced for an export from an index that
    was never synced, and ExportAlreadyRunning when the user has an unfinished export. A stalled one
    (its worker stopped reporting) does not count: it is stopped as failed, and a new export from
    Tatum continues from the pages it had written when both have the same scope.
    """
    user = actor.user
    from_index = source == ExportJob.Source.INDEX
    as_of = index_as_of() if from_index else None
    if from_index and as_of is None:
        raise IndexNotSynced
    running = export_unfinished_for(user)
    if running is not None:
        raise ExportAlreadyRunning(running)
    for stalled in export_stalled_for(user):
        _fail_stalled(stalled, actor)
        if retry_of is None and (stalled.source, stalled.filters) == (source, export_filter.to_json()):
            retry_of = stalled
    job = ExportJob.objects.create(
        user=user,
        username=user.get_username(),
        scope=ExportJob.Scope.ALL if export_filter.is_empty else ExportJob.Scope.FILTERED,
        source=source,
        as_of=as_of,
        filters=export_filter.to_json(),
        retry_of=retry_of,
        request_id=(actor.request_id or new_request_id())[:64],
        created_at=timezone.now(),
        # An export from the index counts its rows when it starts.
        estimated_rows=None if from_index else export_estimate().customers,
    )
    reason = f"Export {job.pk}: {export_scope_text(job)}, {export_source_text(job)}"
    if retry_of is not None:
        reason += f" (retry of export {retry_of.pk})"
    audit_entry_record(
        actor=actor, action=AuditEntry.Action.EXPORT_CUSTOMERS, outcome=Outcome.SUCCEEDED, reason=reason
    )
    _enqueue(job, actor)
    return job


def _enqueue(job: ExportJob, actor: Actor) -> None:
    try:
        result = export_customers.enqueue(job.pk)
        export_watch_schedule(job)
    except Exception as exc:
        # Whatever broke (the queue's database, a misconfigured backend), the job must not look queued.
        logger.exception("Export %s could not be queued", job.pk)
        job.fail_unqueued("export")
        export_audit_finished(job, actor)
        raise RunNotQueued(job) from exc
    job.task_id = str(result.id)[:64]
    ExportJob.objects.filter(pk=job.pk).update(task_id=job.task_id)


def export_cancel(*, actor: Actor, job: ExportJob) -> ExportJob:
    """Ask the job to stop. A queued job stops at once; a running one stops before its next page."""
    if job.status == Status.QUEUED:
        cancelled = ExportJob.objects.filter(pk=job.pk, status=Status.QUEUED).update(
            status=Status.CANCELLED, cancel_requested=True, finished_at=timezone.now()
        )
        if cancelled:
            job.refresh_from_db()
            export_audit_finished(job, actor)
            return job
    ExportJob.objects.filter(pk=job.pk, status__in=ExportJob.ACTIVE_STATUSES).update(cancel_requested=True)
    job.refresh_from_db()
    if job.is_stalled:
        # No worker is left to notice the flag: stop it here (a worker that takes it over meanwhile
        # sees the flag instead).
        paths = [export_checkpoint_path(job), export_partial_file_path(job) if job.file_name else None]
        if _end_stalled(job, actor, status=Status.CANCELLED, partial_name="", partial_bytes=0):
            for path in paths:
                if path is not None:
                    path.unlink(missing_ok=True)
    return job


def _fail_stalled(job: ExportJob, actor: Actor) -> None:
    """Stop a stalled job as failed, keeping its partial file and checkpoint for a retry to continue.

    Raises ExportAlreadyRunning when the job turned out to be alive (a worker took it over meanwhile).
    """
    message = "Its worker stopped reporting before it finished. Retry goes on from the pages already written."
    if not _end_stalled(job, actor, status=Status.FAILED, error_code="worker_lost", error_message=message):
        job.refresh_from_db()
        if job.is_active:
            raise ExportAlreadyRunning(job)


def _end_stalled(job: ExportJob, actor: Actor, **fields: Any) -> bool:
    """End a stalled job with a compare-and-set on the heartbeat it was seen with; False when a worker
    reported or took it over since (it is alive, or ended otherwise). Its task row is failed too."""
    ended = ExportJob.objects.filter(
        pk=job.pk, status=Status.RUNNING, attempts=job.attempts, heartbeat_at=job.heartbeat_at
    ).update(finished_at=timezone.now(), **fields)
    if not ended:
        return False
    export_task_abandon(task_id=job.task_id, job=job)
    job.refresh_from_db()
    export_audit_finished(job, actor)
    return True


def export_retry(*, actor: Actor, job: ExportJob) -> ExportJob:
    """A new job with the same scope as a failed, cancelled or stalled one (which it stops first).

    A failed export keeps its partial file, so its retry continues from the pages already written.
    """
    if job.status == Status.RUNNING and job.is_stalled:
        _fail_stalled(job, actor)
    return export_start(
        actor=actor, export_filter=ExportFilter.from_json(job.filters), source=job.source, retry_of=job
    )


def export_audit_download(*, actor: Actor, job: ExportJob, outcome: str, message: str = "") -> None:
    """Record a download (or a refused or failed one) in the audit trail."""
    fields: dict[str, Any] = {"reason": f"Export {job.pk}: {job.file_name or 'no file'}"}
    if outcome != Outcome.SUCCEEDED:
        fields.update(error_message=message, http_status=404 if outcome == Outcome.FAILED else 403)
    audit_entry_record(actor=actor, action=AuditEntry.Action.DOWNLOAD_EXPORT, outcome=outcome, **fields)


# --- Retention (`manage.py prune_exports`) ---------------------------------------------------------


def export_remove_old_files(*, days: int, dry_run: bool = False) -> tuple[int, int]:
    """Delete finished export files older than `days` days, and abandoned partial files.

    Returns (files removed, bytes freed). The job rows stay, marked as having had their file removed.
    """
    cutoff = timezone.now() - timedelta(days=days)
    removed = freed = 0
    jobs = ExportJob.objects.filter(
        status=ExportJob.Status.SUCCEEDED, finished_at__lt=cutoff, file_removed_at__isnull=True
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
