"""Export jobs: one row per customer CSV export, the job's whole state."""

from __future__ import annotations

from django.db import models

from customers.background import BackgroundRun


class ExportJob(BackgroundRun):
    """One customer CSV export: what was asked for, how far the worker got, and the file it wrote."""

    class Scope(models.TextChoices):
        ALL = "all", "All customers"
        FILTERED = "filtered", "Customers matching a filter"

    class Source(models.TextChoices):
        LIVE = "live", "Live from Tatum"
        INDEX = "index", "The customer index"

    username = models.CharField(max_length=150)
    scope = models.CharField(max_length=16, choices=Scope.choices)
    source = models.CharField(max_length=8, choices=Source.choices, default=Source.LIVE)
    # For an export from the index: the time of the index it was written from (its last complete sync).
    as_of = models.DateTimeField(null=True, blank=True)
    filters = models.JSONField(default=dict, blank=True)
    retry_of = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.SET_NULL, related_name="retries"
    )
    # Customers the last complete export read, when there was one: the progress bar's maximum.
    estimated_rows = models.PositiveIntegerField(null=True, blank=True)
    rows_read = models.PositiveIntegerField(default=0)
    rows_written = models.PositiveIntegerField(default=0)
    page_retries = models.PositiveIntegerField(default=0)
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

    class Meta(BackgroundRun.Meta):
        indexes = [models.Index(fields=["user", "created_at"])]

    def __str__(self) -> str:
        return f"Export {self.pk} ({self.get_status_display()})"
