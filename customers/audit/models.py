"""The audit trail's rows: append-only entries, sealed into a hash chain when final."""

from __future__ import annotations

import hashlib
import json
from typing import Any

from django.conf import settings
from django.db import models


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
        EXPORT_CASES = "export_cases", "Export compliance cases"
        VERIFY = "verify", "Verify outcome"
        SYNC_CUSTOMERS = "sync_customers", "Sync customer index"
        SYNC_FINISHED = "sync_finished", "Sync finished"
        # Compliance cases; short labels, so that an audit log row stays one line on a desktop screen.
        CASE_OPEN = "case_open", "Open case"
        CASE_CLAIM = "case_claim", "Claim case"
        CASE_UNASSIGN = "case_unassign", "Unassign case"
        CASE_NOTE = "case_note", "Case note"
        CASE_STATUS = "case_status", "Case status"
        ACCOUNT_ACTIVATE = "account_activate", "Activate account"
        ACCOUNT_DEACTIVATE = "account_deactivate", "Deactivate account"
        ACCOUNT_FREEZE = "account_freeze", "Freeze account"
        ACCOUNT_UNFREEZE = "account_unfreeze", "Unfreeze account"

    class Outcome(models.TextChoices):
        PENDING = "pending", "Pending"
        SUCCEEDED = "succeeded", "Succeeded"
        FAILED = "failed", "Failed"
        UNKNOWN = "unknown", "Outcome unknown"
        UNDETERMINED = "undetermined", "Could not be determined"
        DENIED = "denied", "Denied"

    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    actor_username = models.CharField(max_length=150)
    action = models.CharField(max_length=32, choices=Action.choices)
    customer_id = models.CharField(max_length=100, blank=True, db_index=True)
    # Tatum's 100 characters may be more code points (emoji presentation selectors are not counted).
    customer_external_id = models.TextField(blank=True, db_index=True)
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
    # Tamper evidence: set once, when the entry is finalised (see customers/audit/trail.py).
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
        # Written once here; afterwards only customers.audit.trail closes and seals an open entry.
        if not self._state.adding:
            raise AuditEntryImmutable("Audit entries cannot be saved again; use customers.audit.trail.")
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
