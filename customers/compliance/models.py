"""Compliance cases and their notes."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.db import models
from django.db.models import Q


class CaseNoteImmutable(Exception):
    """Notes are append-only."""


class ComplianceCase(models.Model):
    """A review of one customer. At most one case per customer is not yet cleared."""

    class Status(models.TextChoices):
        OPEN = "open", "Open"
        IN_REVIEW = "in_review", "In review"
        CLEARED = "cleared", "Cleared"
        ESCALATED = "escalated", "Escalated"

    NOT_CLEARED = (Status.OPEN, Status.IN_REVIEW, Status.ESCALATED)

    # By name: the index sits above compliance (a sync opens cases), so this module does not import it.
    record = models.ForeignKey("customers.CustomerRecord", on_delete=models.PROTECT, related_name="cases")
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.OPEN, db_index=True)
    # None when the dashboard opened the case itself, on a compliance gap that a sync or read found.
    opened_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    opened_by_username = models.CharField(max_length=150, blank=True)
    # Why it was opened: the gap found, or the officer's reason for flagging.
    reason = models.TextField()
    assignee = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    opened_at = models.DateTimeField(db_index=True)
    updated_at = models.DateTimeField()
    closed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["opened_at", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["record"],
                condition=Q(status__in=["open", "in_review", "escalated"]),
                name="compliance_one_case_not_cleared",
            )
        ]

    def __str__(self) -> str:
        return f"Case {self.pk} ({self.get_status_display()})"


class CaseNote(models.Model):
    """A note on a case: written once, never changed or deleted."""

    case = models.ForeignKey(ComplianceCase, on_delete=models.PROTECT, related_name="notes")
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    author_username = models.CharField(max_length=150)
    text = models.TextField()
    created_at = models.DateTimeField()

    class Meta:
        ordering = ["created_at", "id"]

    def __str__(self) -> str:
        return f"Note {self.pk} on case {self.case_id}"

    def save(self, *args: Any, **kwargs: Any) -> None:
        if not self._state.adding:
            raise CaseNoteImmutable("Case notes cannot be changed.")
        super().save(*args, **kwargs)

    def delete(self, *args: Any, **kwargs: Any) -> Any:
        raise CaseNoteImmutable("Case notes cannot be deleted.")
