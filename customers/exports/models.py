"""Export jobs: one row per customer CSV export, the job's whole state."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone


class ExportJob(models.Model):
    """One customer CSV export: what was asked for, how far the worker got, and the file it wrote.

    The row is the job's whole state, so a web restart loses nothing and any worker can pick it up.
    """

    class Status(models.TextChoices):
        QUEUED = "queued", "Waiting for a worker"
        RUNNING = "running", "Running"
        SUCCEEDED = "succeeded", "Finished"
        FAILED = "failed", "Failed"
        CANCELLED = "cancelled", "Cancelled"

    class Scope(models.TextChoices):
        ALL = "all", "All customers"
        FILTERED = "filtered", "Customers matching a filter"

    ACTIVE_STATUSES = (Status.QUEUED, Status.RUNNING)

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    username = models.CharField(max_length=150)

    class Source(models.TextChoices):
        LIVE = "live", "Live from Tatum"
        INDEX = "index", "The customer index"

    scope = models.CharField(max_length=16, choices=Scope.choices)
    source = models.CharField(max_length=8, choices=Source.choices, default=Source.LIVE)
    # For an export from the index: the time of the index it was written from (its last complete sync).
    as_of = models.DateTimeField(null=True, blank=True)
    filters = models.JSONField(default=dict, blank=True)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.QUEUED, db_index=True)
    retry_of = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.SET_NULL, related_name="retries"
    )
    task_id = models.CharField(max_length=64, blank=True)
    request_id = models.CharField(max_length=64, blank=True)
    created_at = models.DateTimeField(db_index=True)
    started_at = models.DateTimeField(null=True, blank=True)
    # Written with every progress update: a running job whose heartbeat stops has lost its worker.
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    # Customers the last complete export read, when there was one: the progress bar's maximum.
    estimated_rows = models.PositiveIntegerField(null=True, blank=True)
    pages_read = models.PositiveIntegerField(default=0)
    rows_read = models.PositiveIntegerField(default=0)
    rows_written = models.PositiveIntegerField(default=0)
    duplicates_skipped = models.PositiveIntegerField(default=0)
    page_retries = models.PositiveIntegerField(default=0)
    credits_spent = models.PositiveIntegerField(default=0)
    cancel_requested = models.BooleanField(default=False)
    error_code = models.CharField(max_length=100, blank=True)
    error_message = models.TextField(blank=True)
    file_name = models.CharField(max_length=100, blank=True)
    # How many times a worker has started the job: 2 or more after a takeover. Each run writes only
    # while the count is still its own, so a worker that comes back after a takeover changes nothing.
    attempts = models.PositiveIntegerField(default=0)
    # The checkpoint: the partial file (in EXPORT_ROOT) holding the pages counted in `pages_read`,
    # and its length once they were written and fsynced. A resumed run truncates the file to it.
    partial_name = models.CharField(max_length=120, blank=True)
    partial_bytes = models.PositiveBigIntegerField(default=0)
    file_size = models.PositiveBigIntegerField(null=True, blank=True)
    file_removed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["user", "created_at"])]

    def __str__(self) -> str:
        return f"Export {self.pk} ({self.get_status_display()})"

    @property
    def is_active(self) -> bool:
        return self.status in self.ACTIVE_STATUSES

    @classmethod
    def stalled_after_seconds(cls) -> float:
        """How long a running export may go without a heartbeat (`EXPORT_STALLED_AFTER_SECONDS`)."""
        return settings.EXPORT_STALLED_AFTER_SECONDS

    @property
    def is_stalled(self) -> bool:
        if self.status != self.Status.RUNNING or self.heartbeat_at is None:
            return False
        return (timezone.now() - self.heartbeat_at).total_seconds() > self.stalled_after_seconds()
