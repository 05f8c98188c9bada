"""What every background run records (a customer export, a sync of the index): its state, who asked
for it, its task, its times, how far it got, what it cost and why it stopped.

The row is the run's whole state: a web restart loses nothing, and any worker can pick it up. A worker
writes `heartbeat_at` with every progress update, so a running row whose heartbeat stops has lost its
worker (`is_stalled`).
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone


class RunNotQueued(Exception):
    """The run could not be queued (`BackgroundRun.fail_unqueued`): it is marked failed, and its
    `error_message` tells its user what to do."""

    def __init__(self, run: BackgroundRun) -> None:
        super().__init__(run.error_message)
        self.run = run


class BackgroundRun(models.Model):
    """The fields, states and checks that an export (`ExportJob`) and a sync (`SyncRun`) share."""

    class Status(models.TextChoices):
        QUEUED = "queued", "Waiting for a worker"
        RUNNING = "running", "Running"
        SUCCEEDED = "succeeded", "Finished"
        FAILED = "failed", "Failed"
        CANCELLED = "cancelled", "Cancelled"

    ACTIVE_STATUSES = (Status.QUEUED, Status.RUNNING)

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.QUEUED, db_index=True)
    task_id = models.CharField(max_length=64, blank=True)
    request_id = models.CharField(max_length=64, blank=True)
    created_at = models.DateTimeField(db_index=True)
    started_at = models.DateTimeField(null=True, blank=True)
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    pages_read = models.PositiveIntegerField(default=0)
    # Customers a page repeated (offset paging shifts when the ledger changes during the run).
    duplicates_skipped = models.PositiveIntegerField(default=0)
    credits_spent = models.PositiveIntegerField(default=0)
    cancel_requested = models.BooleanField(default=False)
    error_code = models.CharField(max_length=100, blank=True)
    error_message = models.TextField(blank=True)

    class Meta:
        abstract = True
        ordering = ["-created_at", "-id"]

    @property
    def is_active(self) -> bool:
        return self.status in self.ACTIVE_STATUSES

    @classmethod
    def stalled_after_seconds(cls) -> float:
        """How long a running run may go without a heartbeat (`EXPORT_STALLED_AFTER_SECONDS`)."""
        return settings.EXPORT_STALLED_AFTER_SECONDS

    @property
    def is_stalled(self) -> bool:
        """Running, but its worker has stopped reporting (it was probably restarted)."""
        if self.status != self.Status.RUNNING or self.heartbeat_at is None:
            return False
        return (timezone.now() - self.heartbeat_at).total_seconds() > self.stalled_after_seconds()

    def fail_unqueued(self, noun: str) -> None:
        """Mark a run that could not be queued as failed, so that it does not look queued; `noun` names
        it for its user ("export", "sync"). The caller then raises `RunNotQueued`."""
        type(self).objects.filter(pk=self.pk).update(
            status=self.Status.FAILED,
            finished_at=timezone.now(),
            error_code="queue",
            error_message=f"The {noun} could not be queued. Try again in a minute.",
        )
        self.refresh_from_db()
