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
    return audit_entries_open(
        actor=actor,
        action=action,
        about=[
            {
                "customer_id": customer_id,
                "customer_external_id": customer_external_id,
                "changes": changes,
                "reason": reason,
            }
        ],
    )[0]


def audit_entries_open(*, actor: Actor, action: str, about: list[dict[str, Any]]) -> list[AuditEntry]:
    """Write a `pending` entry for each of several like events at once, committed together before any of
    their changes is made. Each dict of `about` gives an entry's `customer_id`, `customer_external_id`,
    `changes` and `reason` (all optional)."""
    user = actor.user if getattr(actor.user, "is_authenticated", False) else None
    request_id = actor.request_id or request_id_to_store()
    entries = [
        AuditEntry(
            actor=user,
            actor_username=user.get_username() if user else "(system)",
            action=action,
            customer_id=fields.get("customer_id", ""),
            customer_external_id=fields.get("customer_external_id", ""),
            changes=fields.get("changes") or {},
            reason=fields.get("reason", ""),
            request_id=request_id,
            client_ip=actor.ip,
            user_agent=actor.user_agent,
            started_at=timezone.now(),
        )
        for fields in about
    ]
    with transaction.atomic(durable=True):
        # One INSERT; both databases return the new rows' ids.
        return AuditEntry.objects.bulk_create(entries)


def audit_entry_close(entry: AuditEntry, *, outcome: str, **fields: Any) -> AuditEntry:
    """Record how the call ended: `outcome`, and any of `http_status`, `error_code`, `error_message`,
    `changes` and `customer_id`. `unknown` stays open for verification; every other outcome is final."""
    _set_outcome(entry, outcome=outcome, **fields)
    if outcome in (Outcome.PENDING, Outcome.UNKNOWN):
        _save_open_entry(entry)
    else:
        _finalise([entry])
    return entry


def audit_entries_close(closings: list[tuple[AuditEntry, dict[str, Any]]]) -> None:
    """Close several entries with final outcomes, each with the keyword arguments `audit_entry_close`
    takes, and chain them in one transaction: one lock of the chain head for the whole batch."""
    for entry, fields in closings:
        if fields["outcome"] in (Outcome.PENDING, Outcome.UNKNOWN):
            raise ValueError(f"Audit entry {entry.pk}: only final outcomes are closed together.")
    for entry, fields in closings:
        _set_outcome(entry, **fields)
    _finalise([entry for entry, _ in closings])


def _set_outcome(
    entry: AuditEntry,
    *,
    outcome: str,
    http_status: int | None = None,
    error_code: str = "",
    error_message: str = "",
    changes: dict[str, list[Any]] | None = None,
    customer_id: str | None = None,
) -> None:
    entry.outcome = outcome
    entry.http_status = http_status
    entry.error_code = error_code[:100]
    entry.error_message = error_message
    if changes is not None:
        entry.changes = changes
    if customer_id:
        entry.customer_id = customer_id
    entry.finished_at = timezone.now()


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


def _finalise(entries: list[AuditEntry]) -> None:
    """Seal the entries into the chain, in order, under one lock of its head."""
    with transaction.atomic(durable=True):
        head, _ = AuditChainHead.objects.select_for_update().get_or_create(pk=1)
        for entry in entries:
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
