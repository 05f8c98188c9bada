from __future__ import annotations

import hashlib
import json
from typing import Any

from django.conf import settings
from django.db import models

from customers.permissions import CUSTOM_PERMISSIONS


class CustomerAccess(models.Model):
    """Holds the customer permissions: customers live in Tatum, so there is no table behind it."""

    class Meta:
        managed = False
        default_permissions = ()
        permissions = CUSTOM_PERMISSIONS


class ApiCall(models.Model):
    """One HTTP call to Tatum (or the sandbox), with its credit cost."""

    at = models.DateTimeField(db_index=True)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    method = models.CharField(max_length=8)
    route = models.CharField(max_length=100)
    status = models.PositiveSmallIntegerField(null=True, blank=True)
    error_code = models.CharField(max_length=100, blank=True)
    duration_ms = models.PositiveIntegerField()
    credits = models.PositiveSmallIntegerField()
    request_id = models.CharField(max_length=64, blank=True)

    class Meta:
        ordering = ["-at"]
        indexes = [models.Index(fields=["user", "at"])]

    def __str__(self) -> str:
        return f"{self.method} {self.route} -> {self.status or 'no answer'}"


class CreditTally(models.Model):
    """What one user's Tatum calls cost on one day (in TIME_ZONE), kept with every stored `ApiCall`, so
    the credits in the page header are one row to read however many calls the day has seen."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    day = models.DateField()
    credits = models.PositiveIntegerField(default=0)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["user", "day"], name="credit_tally_one_row_a_day")]

    def __str__(self) -> str:
        return f"{self.user_id} on {self.day}: {self.credits} credits"


class AuditQuerySet(models.QuerySet):
    """Audit entries are append-only: bulk updates and deletes are refused."""

    def update(self, **kwargs: Any) -> int:
        raise AuditEntryImmutable("Audit entries cannot be bulk-updated.")

    def delete(self) -> tuple[int, dict[str, int]]:
        raise AuditEntryImmutable("Audit entries cannot be deleted.")


class AuditEntryImmutable(Exception):
    pass


class AuditEntry(models.Model):
    class Action(models.TextChoices):
        UPDATE = "update", "Edit"
        ACTIVATE = "activate", "Activate"
        DEACTIVATE = "deactivate", "Deactivate"
        ENABLE = "enable", "Enable"
        DISABLE = "disable", "Disable"
        EXPORT_CUSTOMERS = "export_customers", "Export customers"
        EXPORT_FINISHED = "export_finished", "Export finished"
        DOWNLOAD_EXPORT = "download_export", "Download export"
        EXPORT_AUDIT = "export_audit", "Export audit log"
        VERIFY = "verify", "Verify outcome"

    class Outcome(models.TextChoices):
        PENDING = "pending", "Pending"
        SUCCEEDED = "succeeded", "Succeeded"
        FAILED = "failed", "Failed"
        UNKNOWN = "unknown", "Outcome unknown"
        DENIED = "denied", "Denied"

    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    actor_username = models.CharField(max_length=150)
    action = models.CharField(max_length=32, choices=Action.choices)
    customer_id = models.CharField(max_length=100, blank=True, db_index=True)
    customer_external_id = models.CharField(max_length=100, blank=True, db_index=True)
    changes = models.JSONField(default=dict, blank=True)
    reason = models.TextField(blank=True)
    outcome = models.CharField(max_length=16, choices=Outcome.choices, default=Outcome.PENDING)
    http_status = models.PositiveSmallIntegerField(null=True, blank=True)
    error_code = models.CharField(max_length=100, blank=True)
    error_message = models.TextField(blank=True)
    request_id = models.CharField(max_length=64, blank=True)
    client_ip = models.GenericIPAddressField(null=True, blank=True)
    user_agent = models.CharField(max_length=300, blank=True)
    started_at = models.DateTimeField(db_index=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    # Tamper evidence: set once, when the entry is finalised (see customers/audit.py).
    sequence = models.PositiveBigIntegerField(null=True, blank=True, unique=True)
    prev_hash = models.CharField(max_length=64, blank=True)
    entry_hash = models.CharField(max_length=64, blank=True)

    objects = AuditQuerySet.as_manager()

    class Meta:
        ordering = ["-started_at", "-id"]
        verbose_name_plural = "audit entries"

    def __str__(self) -> str:
        return f"{self.actor_username} {self.action} {self.customer_id or ''} ({self.outcome})"

    @property
    def is_final(self) -> bool:
        return self.sequence is not None

    def save(self, *args: Any, **kwargs: Any) -> None:
        # Written once here; afterwards only customers.audit closes and seals an open entry.
        if not self._state.adding:
            raise AuditEntryImmutable("Audit entries cannot be saved again; use customers.audit.")
        super().save(*args, **kwargs)

    def delete(self, *args: Any, **kwargs: Any) -> Any:
        raise AuditEntryImmutable("Audit entries cannot be deleted.")

    def content_hash(self, prev_hash: str) -> str:
        """SHA-256 over the entry's content and its predecessor's hash."""
        payload = {
            "sequence": self.sequence,
            "prev": prev_hash,
            "actor_id": self.actor_id,
            "actor_username": self.actor_username,
            "action": self.action,
            "customer_id": self.customer_id,
            "customer_external_id": self.customer_external_id,
            "changes": self.changes,
            "reason": self.reason,
            "outcome": self.outcome,
            "http_status": self.http_status,
            "error_code": self.error_code,
            "error_message": self.error_message,
            "request_id": self.request_id,
            "client_ip": self.client_ip,
            "user_agent": self.user_agent,
            "started_at": self.started_at.isoformat() if self.started_at else None,
            "finished_at": self.finished_at.isoformat() if self.finished_at else None,
        }
        canonical = json.dumps(payload, sort_keys=True, separators=(",", ":"), default=str)
        return hashlib.sha256(canonical.encode()).hexdigest()


class AuditChainHead(models.Model):
    """A single row locked while an entry is chained, so sequence numbers never race."""

    last_sequence = models.PositiveBigIntegerField(default=0)
    last_hash = models.CharField(max_length=64, blank=True)


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
    # A running job whose worker has not reported for this long has lost its worker.
    STALLED_AFTER_SECONDS = 120

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    username = models.CharField(max_length=150)
    scope = models.CharField(max_length=16, choices=Scope.choices)
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

    @property
    def is_stalled(self) -> bool:
        # Imported here to keep this model's additions at the end of the module.
        from django.utils import timezone

        if self.status != self.Status.RUNNING or self.heartbeat_at is None:
            return False
        return (timezone.now() - self.heartbeat_at).total_seconds() > self.STALLED_AFTER_SECONDS
