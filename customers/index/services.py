"""Index actions: write what Tatum just showed into the index (`records_seen`), and start or cancel a
sync of the whole ledger (one at a time; each start and end an entry in the audit trail)."""

from __future__ import annotations

import logging

from django.db import IntegrityError, transaction
from django.utils import timezone

from customers.audit.models import AuditEntry
from customers.audit.trail import Actor, audit_entry_record
from customers.background import RunNotQueued
from customers.context import new_request_id
from customers.index.engine import sync_audit_finished
from customers.index.models import SyncRun
from customers.index.records import records_mark_missing, records_seen
from customers.index.runs import SyncCost, sync_estimated_customers
from customers.index.tasks import sync_customers

__all__ = [
    "SyncAlreadyRunning",
    "records_mark_missing",
    "records_seen",
    "sync_cancel",
    "sync_start",
]

logger = logging.getLogger(__name__)

Status = SyncRun.Status
Outcome = AuditEntry.Outcome

STALLED_MESSAGE = (
    "Its worker stopped reporting before it finished (it was probably restarted). The customers it had "
    "read are in the index; nothing was marked missing."
)


class SyncAlreadyRunning(Exception):
    """A sync is waiting or running: a second one would only read the same ledger again."""

    def __init__(self, run: SyncRun) -> None:
        super().__init__(f"Sync {run.pk} is still running.")
        self.run = run


def sync_start(*, actor: Actor, enqueue: bool = True) -> SyncRun:
    """Create a sync run, record the request in the audit trail and (unless `enqueue` is False, for a
    caller that runs it itself) queue it for a worker.

    Raises SyncAlreadyRunning while another sync waits or runs. One whose worker stopped reporting
    does not count: it is ended as failed first.
    """
    for active in SyncRun.objects.filter(status__in=SyncRun.ACTIVE_STATUSES):
        if not active.is_stalled:
            raise SyncAlreadyRunning(active)
        _end_stalled(
            active, actor, status=Status.FAILED, error_code="worker_lost", error_message=STALLED_MESSAGE
        )
    user = actor.user if getattr(actor.user, "is_authenticated", False) else None
    estimate = sync_estimated_customers()
    try:
        with transaction.atomic():
            run = SyncRun.objects.create(
                user=user,
                username=user.get_username() if user else "",
                request_id=(actor.request_id or new_request_id())[:64],
                created_at=timezone.now(),
                estimated_customers=estimate,
            )
    except IntegrityError:
        # Another start won the race since the check above (the constraint `one_active_sync`).
        active = SyncRun.objects.filter(status__in=SyncRun.ACTIVE_STATUSES).first()
        if active is None:
            raise
        raise SyncAlreadyRunning(active) from None
    cost = SyncCost(run.estimated_customers).text
    audit_entry_record(
        actor=actor,
        action=AuditEntry.Action.SYNC_CUSTOMERS,
        outcome=Outcome.SUCCEEDED,
        reason=f"Sync {run.pk}: the whole ledger into the customer index, {cost}",
    )
    if enqueue:
        _enqueue(run, actor)
    return run


def _enqueue(run: SyncRun, actor: Actor) -> None:
    try:
        result = sync_customers.enqueue(run.pk)
    except Exception as exc:
        # Whatever broke (the queue's database, a misconfigured backend), the run must not look queued.
        logger.exception("Sync %s could not be queued", run.pk)
        run.fail_unqueued("sync")
        sync_audit_finished(run, actor)
        raise RunNotQueued(run) from exc
    SyncRun.objects.filter(pk=run.pk, task_id="").update(task_id=str(result.id)[:64])
    run.refresh_from_db()


def sync_cancel(*, actor: Actor, run: SyncRun) -> SyncRun:
    """Ask the run to stop. A queued run stops at once; a running one before its next page; one whose
    worker stopped reporting is ended here, since no worker is left to notice."""
    cancelled = SyncRun.objects.filter(pk=run.pk, status=Status.QUEUED).update(
        status=Status.CANCELLED,
        cancel_requested=True,
        finished_at=timezone.now(),
        error_code="cancelled",
        error_message="Cancelled before a worker started it. Nothing was read.",
    )
    if cancelled:
        run.refresh_from_db()
        sync_audit_finished(run, actor)
        return run
    SyncRun.objects.filter(pk=run.pk, status=Status.RUNNING).update(cancel_requested=True)
    run.refresh_from_db()
    if run.is_stalled:
        _end_stalled(
            run,
            actor,
            status=Status.CANCELLED,
            error_code="cancelled",
            error_message="Cancelled after its worker stopped reporting. " + STALLED_MESSAGE,
        )
    return run


def _end_stalled(run: SyncRun, actor: Actor, **fields: str) -> None:
    """End a stalled run, with a compare-and-set on the heartbeat it was seen with (so a worker that
    reported meanwhile keeps it)."""
    ended = SyncRun.objects.filter(pk=run.pk, status=Status.RUNNING, heartbeat_at=run.heartbeat_at).update(
        finished_at=timezone.now(), **fields
    )
    run.refresh_from_db()
    if ended:
        sync_audit_finished(run, actor)
