"""The customer index and its sync runs."""

from __future__ import annotations

from django.db import models

from customers.background import BackgroundRun


class CustomerRecord(models.Model):
    """One Tatum customer as the dashboard last saw it. Written only from Tatum's answers: a sync page,
    a read, or the customer a successful write returned."""

    class SeenBy(models.TextChoices):
        SYNC = "sync", "Sync"
        READ = "read", "Read"
        WRITE = "write", "Write"

    # Tatum's internal id ("id" in its JSON).
    tatum_id = models.CharField(max_length=50, unique=True)
    # Tatum counts 1..100 characters its own way, which may be more code points.
    external_id = models.TextField(db_index=True)
    accounting_currency = models.CharField(max_length=8, blank=True)
    customer_country = models.CharField(max_length=2, blank=True)
    provider_country = models.CharField(max_length=2, blank=True)
    active = models.BooleanField()
    enabled = models.BooleanField()
    # Either country missing: Tatum's compliance engine cannot place the customer.
    compliance_gap = models.BooleanField()
    first_seen_at = models.DateTimeField()
    last_seen_at = models.DateTimeField()
    last_seen_by = models.CharField(max_length=8, choices=SeenBy.choices)
    # Set when a complete sync did not find the customer; cleared when it is seen again.
    missing_since = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["external_id", "tatum_id"]
        # The list sorts by any column with tatum_id as the tiebreak, and filters on the same columns:
        # one (column, tatum_id) index each lets a page of a large index come from an index walk instead
        # of a sort. On PostgreSQL, migration 0013 adds a trigram index for partial external-id search.
        indexes = [
            models.Index(fields=["external_id", "tatum_id"], name="cr_external_id_sort"),
            models.Index(fields=["accounting_currency", "tatum_id"], name="cr_currency_sort"),
            models.Index(fields=["customer_country", "tatum_id"], name="cr_country_sort"),
            models.Index(fields=["provider_country", "tatum_id"], name="cr_provider_country_sort"),
            models.Index(fields=["active", "tatum_id"], name="cr_active_sort"),
            models.Index(fields=["enabled", "tatum_id"], name="cr_enabled_sort"),
            models.Index(fields=["compliance_gap", "tatum_id"], name="cr_gap_sort"),
            models.Index(fields=["first_seen_at", "tatum_id"], name="cr_first_seen_sort"),
            models.Index(fields=["last_seen_at", "tatum_id"], name="cr_last_seen_sort"),
            models.Index(fields=["missing_since", "tatum_id"], name="cr_missing_sort"),
        ]

    def __str__(self) -> str:
        return f"{self.external_id} ({self.tatum_id})"


class SyncRun(BackgroundRun):
    """One read of the whole ledger into the index: what was asked, how far it got, what it cost."""

    # "" when started from the command line or a timer.
    username = models.CharField(max_length=150, blank=True)
    # Customers the last complete sync read, when there was one: the progress bar's maximum.
    estimated_customers = models.PositiveIntegerField(null=True, blank=True)
    customers_read = models.PositiveIntegerField(default=0)
    # Rows a complete sync marked missing from Tatum.
    marked_missing = models.PositiveIntegerField(default=0)

    class Meta(BackgroundRun.Meta):
        constraints = [
            # One sync at a time, however many managers press Start at once: a unique index on a
            # constant over the waiting and running rows.
            models.UniqueConstraint(
                models.Value(True),
                condition=models.Q(status__in=["queued", "running"]),
                name="one_active_sync",
            ),
        ]

    def __str__(self) -> str:
        return f"Sync {self.pk} ({self.get_status_display()})"
