"""The audit trail: entries are opened before a Tatum call, closed after it, then chained.

An entry is written in its own autocommit statement before the upstream call, so a crash mid-call
leaves a `pending` entry behind. Closing an entry and chaining it happen together in one short
transaction that locks the chain head, so sequence numbers and hashes never race. After that no code
path changes the entry.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.db import models, transaction
from django.http import HttpRequest
from django.utils import timezone

from customers.audit.models import AuditChainHead, AuditEntry
from customers.context import client_ip, request_id_to_store

Outcome = AuditEntry.Outcome


@dataclass(frozen=True)
class Actor:
    """Who is acting and from where; built from a request, or for a background task."""

    user: Any
    ip: str | None = None
    user_agent: str = ""
    request_id: str = ""

    @classmethod
    def from_request(cls, request: HttpRequest) -> Actor:
        return cls(
            user=request.user,
            ip=client_ip(request) or None,
            user_agent=request.headers.get("User-Agent", "")[:300],
            request_id=getattr(request, "request_id", "") or request_id_to_store(),
        )


def audit_entry_open(
    *,
    actor: Actor,
    action: str,
    customer_id: str = "",
    customer_external_id: str = "",
    changes: dict[str, list[Any]] | None = None,
    reason: str = "",
) -> AuditEntry:
    """Write a `pending` entry now, committed on its own, before anything is sent to Tatum."""
    user = actor.user if getattr(actor.user, "is_authenticated", False) else None
    with transaction.atomic(durable=True):
        return AuditEntry.objects.create(
            actor=user,
            actor_username=user.get_username() if user else "(system)",
            action=action,
            customer_id=customer_id,
            customer_external_id=customer_external_id,
            changes=changes or {},
            reason=reason,
            request_id=actor.request_id or request_id_to_store(),
            client_ip=actor.ip,
            user_agent=actor.user_agent,
            started_at=timezone.now(),
        )


def audit_entry_close(
    entry: AuditEntry,
    *,
    outcome: str,
    http_status: int | None = None,
    error_code: str = "",
    error_message: str = "",
    changes: dict[str, list[Any]] | None = None,
    customer_id: str | None = None,
) -> AuditEntry:
    """Record how the call ended. `unknown` stays open for verification; every other outcome is final."""
    entry.outcome = outcome
    entry.http_status = http_status
    entry.error_code = error_code[:100]
    entry.error_message = error_message
    if changes is not None:
        entry.changes = changes
    if customer_id:
        entry.customer_id = customer_id
    entry.finished_at = timezone.now()
    if outcome in (Outcome.PENDING, Outcome.UNKNOWN):
        _save_open_entry(entry)
    else:
        _finalise(entry)
    return entry


def audit_entry_record(*, actor: Actor, action: str, outcome: str, **fields: Any) -> AuditEntry:
    """Open and close an entry at once, for events with no upstream call (denials, downloads)."""
    close_fields = {k: fields.pop(k) for k in ("http_status", "error_code", "error_message") if k in fields}
    entry = audit_entry_open(actor=actor, action=action, **fields)
    return audit_entry_close(entry, outcome=outcome, **close_fields)


_OPEN_FIELDS = [
    "outcome",
    "http_status",
    "error_code",
    "error_message",
    "changes",
    "customer_id",
    "finished_at",
]


def _save_open_entry(entry: AuditEntry) -> None:
    with transaction.atomic(durable=True):
        updated = models.QuerySet.update(
            AuditEntry.objects.filter(pk=entry.pk, sequence__isnull=True),
            **{name: getattr(entry, name) for name in _OPEN_FIELDS},
        )
    if not updated:
        raise ValueError(f"Audit entry {entry.pk} is already final and cannot change.")


def _finalise(entry: AuditEntry) -> None:
    with transaction.atomic(durable=True):
        head, _ = AuditChainHead.objects.select_for_update().get_or_create(pk=1)
        entry.sequence = head.last_sequence + 1
        entry.prev_hash = head.last_hash
        entry.entry_hash = entry.content_hash(head.last_hash)
        updated = models.QuerySet.update(
            AuditEntry.objects.filter(pk=entry.pk, sequence__isnull=True),
            sequence=entry.sequence,
            prev_hash=entry.prev_hash,
            entry_hash=entry.entry_hash,
            **{name: getattr(entry, name) for name in _OPEN_FIELDS},
        )
        if not updated:
            raise ValueError(f"Audit entry {entry.pk} is already final and cannot change.")
        head.last_sequence = entry.sequence
        head.last_hash = entry.entry_hash
        head.save(update_fields=["last_sequence", "last_hash"])


def audit_entry_denied(*, actor: Actor, action: str, customer_id: str = "") -> AuditEntry:
    """Record a write the user was not allowed to make (nothing was sent to Tatum)."""
    return audit_entry_record(
        actor=actor,
        action=action,
        outcome=Outcome.DENIED,
        customer_id=customer_id,
        error_message="Permission denied",
        http_status=403,
    )
