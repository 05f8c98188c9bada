"""Writes of compliance review: opening cases (on a compliance gap, or flagged by an officer), claiming
and unassigning them, notes and status changes.

Each action is an entry in the audit trail, written before the change (`pending`) and closed once it is
made (`succeeded`), or `failed` when another officer changed the case first. The entries name the case
(`changes["case"]`) and the customer by the ids Tatum last gave for it. Changes are conditional updates
of one row, so two officers acting at once never both win. The trail writes each entry in its own
transaction: call these functions outside a transaction.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from django.db import IntegrityError, transaction
from django.utils import timezone

from customers.audit.models import AuditEntry
from customers.audit.services import csv_lines
from customers.audit.trail import (
    Actor,
    audit_entries_close,
    audit_entries_open,
    audit_entry_close,
    audit_entry_open,
    audit_entry_record,
)
from customers.compliance.models import CaseNote, ComplianceCase
from customers.compliance.selectors import CaseFilters, case_csv_rows, case_list, customer_case_get

__all__ = [
    "CaseRefused",
    "case_claim",
    "case_flag",
    "case_note_add",
    "case_status_change",
    "case_unassign",
    "cases_export",
    "cases_open_for_gaps",
    "customer_case_get",
]

Action = AuditEntry.Action
Outcome = AuditEntry.Outcome
Status = ComplianceCase.Status

# Where a case may go from each status. Cleared is final: a new finding opens a new case.
TRANSITIONS: dict[str, tuple[str, ...]] = {
    Status.OPEN: (Status.IN_REVIEW,),
    Status.IN_REVIEW: (Status.CLEARED, Status.ESCALATED),
    Status.ESCALATED: (Status.IN_REVIEW, Status.CLEARED),
}
# Decisions that need a reason in the audit trail.
REASON_REQUIRED = frozenset({Status.CLEARED, Status.ESCALATED})
# How the index last saw a record, in the words of an automatic case's reason.
_FOUND_BY = {"sync": "a sync", "read": "a read", "write": "a change"}


class CaseRefused(Exception):
    """The action cannot be taken; the message says why, in words for the officer."""


def gap_description(customer_country: str, provider_country: str) -> str:
    """Which country a record lacks, in words ("" when it lacks none)."""
    if not customer_country and not provider_country:
        return "both countries missing"
    if not customer_country:
        return "customer country missing"
    return "" if provider_country else "provider country missing"


# --- Opening -------------------------------------------------------------------------------------


def cases_open_for_gaps(records: Iterable[Any], *, actor: Actor | None = None) -> int:
    """Open a case for each record with a compliance gap that has no case still open; return how many.

    The dashboard opens these cases itself, so their audit entries name "(system)" as the actor, with
    the request id of `actor` (the request whose read found the gap) when there is one.
    """
    gaps = [record for record in records if record.compliance_gap]
    if not gaps:
        return 0
    covered = set(
        ComplianceCase.objects.filter(
            record__in=[record.pk for record in gaps], status__in=ComplianceCase.NOT_CLEARED
        ).values_list("record_id", flat=True)
    )
    to_open = [record for record in gaps if record.pk not in covered]
    if not to_open:
        return 0
    system = Actor(user=None, request_id=actor.request_id if actor else "")
    # A sync finds thousands of these: the batch is written in three commits, not three per case.
    reasons = [_gap_reason(record) for record in to_open]
    entries = audit_entries_open(
        actor=system,
        action=Action.CASE_OPEN,
        about=[{"reason": reason, **_about(record)} for record, reason in zip(to_open, reasons, strict=True)],
    )
    cases = _cases_insert(to_open, reasons)
    audit_entries_close([(entry, _case_opened(case)) for entry, case in zip(entries, cases, strict=True)])
    return sum(case is not None for case in cases)


def _gap_reason(record: Any) -> str:
    gap = gap_description(record.customer_country, record.provider_country)
    found_by = _FOUND_BY.get(record.last_seen_by, "the dashboard")
    return f"{gap[0].upper()}{gap[1:]} (found by {found_by})."


def case_flag(*, record: Any, reason: str, actor: Actor) -> ComplianceCase:
    """An officer flags a customer for review: opens a case unless one is still open."""
    current = customer_case_get(record.tatum_id)
    if current is not None and current.status in ComplianceCase.NOT_CLEARED:
        raise CaseRefused(
            f"Case #{current.pk} is already {current.get_status_display().lower()} for this customer."
        )
    case = _case_open(record=record, actor=actor, reason=reason)
    if case is None:
        raise CaseRefused("Another case was opened for this customer a moment ago; nothing was changed.")
    return case


def _case_open(*, record: Any, actor: Actor, reason: str) -> ComplianceCase | None:
    """Open a case on `record`; None when another one was opened first (at most one is not cleared)."""
    user = actor.user if getattr(actor.user, "is_authenticated", False) else None
    entry = audit_entry_open(actor=actor, action=Action.CASE_OPEN, reason=reason, **_about(record))
    case = _case_insert(record=record, user=user, reason=reason)
    audit_entry_close(entry, **_case_opened(case))
    return case


def _case_insert(*, record: Any, user: Any, reason: str) -> ComplianceCase | None:
    """Insert the case row; None when the record already has a case that is not cleared."""
    now = timezone.now()
    try:
        with transaction.atomic():
            return ComplianceCase.objects.create(
                record=record,
                opened_by=user,
                opened_by_username=user.get_username() if user else "",
                reason=reason,
                opened_at=now,
                updated_at=now,
            )
    except IntegrityError:
        return None


def _cases_insert(records: list[Any], reasons: list[str]) -> list[ComplianceCase | None]:
    """Insert a case for each record, in one statement; when one of them has gained a case meanwhile,
    one at a time, so that the others still open (None for those that had one)."""
    now = timezone.now()
    try:
        with transaction.atomic():
            return ComplianceCase.objects.bulk_create(
                ComplianceCase(record=record, reason=reason, opened_at=now, updated_at=now)
                for record, reason in zip(records, reasons, strict=True)
            )
    except IntegrityError:
        return [
            _case_insert(record=record, user=None, reason=reason)
            for record, reason in zip(records, reasons, strict=True)
        ]


def _case_opened(case: ComplianceCase | None) -> dict[str, Any]:
    """How the entry of a case's opening is closed."""
    if case is None:
        return {"outcome": Outcome.FAILED, "error_message": "A case was already open for this customer."}
    return {"outcome": Outcome.SUCCEEDED, "changes": {"case": case.pk}}


def _about(record: Any) -> dict[str, str]:
    return {"customer_id": record.tatum_id, "customer_external_id": record.external_id}


# --- Acting on a case ----------------------------------------------------------------------------


@dataclass(frozen=True)
class _Change:
    """A conditional update of one case: `expected` must still hold when `values` are written."""

    action: str
    changes: dict[str, Any]
    expected: dict[str, Any]
    values: dict[str, Any]
    lost: str  # what the officer is told when the case changed first
    reason: str = ""


def _case_change(case: ComplianceCase, change: _Change, actor: Actor) -> ComplianceCase:
    entry = audit_entry_open(
        actor=actor,
        action=change.action,
        changes={"case": case.pk, **change.changes},
        reason=change.reason,
        **_about(case.record),
    )
    values = {"updated_at": timezone.now(), **change.values}
    updated = ComplianceCase.objects.filter(pk=case.pk, **change.expected).update(**values)
    if not updated:
        case.refresh_from_db()
        message = f"{change.lost} {_current_words(case)}"
        audit_entry_close(entry, outcome=Outcome.FAILED, error_message=message)
        raise CaseRefused(message)
    audit_entry_close(entry, outcome=Outcome.SUCCEEDED)
    case.refresh_from_db()
    return case


def _current_words(case: ComplianceCase) -> str:
    who = case.assignee.get_username() if case.assignee else "nobody"
    return f"It is now {case.get_status_display().lower()}, assigned to {who}."


def _username(user: Any) -> str:
    return user.get_username() if user else ""


def case_claim(*, case: ComplianceCase, actor: Actor) -> ComplianceCase:
    """Assign the case to the acting officer, if nobody has it."""
    if case.status == Status.CLEARED:
        raise CaseRefused("This case is cleared; it cannot be claimed.")
    if case.assignee_id:
        if case.assignee_id == actor.user.pk:
            raise CaseRefused("You already have this case.")
        raise CaseRefused(f"{_username(case.assignee)} already has this case; ask them to unassign it first.")
    change = _Change(
        action=Action.CASE_CLAIM,
        # Nobody had it (the update below makes sure), so the new assignee says it all.
        changes={"assignee": _username(actor.user)},
        expected={"assignee__isnull": True, "status__in": ComplianceCase.NOT_CLEARED},
        values={"assignee": actor.user},
        lost="Someone claimed this case a moment before you, so it was not assigned to you.",
    )
    return _case_change(case, change, actor)


def case_unassign(*, case: ComplianceCase, actor: Actor) -> ComplianceCase:
    """Take the case from whoever has it (any officer may, for a colleague who is away)."""
    if case.status == Status.CLEARED:
        raise CaseRefused("This case is cleared; its assignee stays on record.")
    if not case.assignee_id:
        raise CaseRefused("Nobody has this case.")
    change = _Change(
        action=Action.CASE_UNASSIGN,
        changes={"assignee": [_username(case.assignee), None]},
        expected={"assignee": case.assignee_id, "status__in": ComplianceCase.NOT_CLEARED},
        values={"assignee": None},
        lost="The case changed a moment before, so it was not unassigned.",
    )
    return _case_change(case, change, actor)


def case_status_change(*, case: ComplianceCase, status: str, reason: str, actor: Actor) -> ComplianceCase:
    """Move the case on (`TRANSITIONS`); only the officer who has it may. Clearing closes it."""
    if status not in TRANSITIONS.get(case.status, ()):
        now, then = case.get_status_display().lower(), Status(status).label.lower()
        raise CaseRefused(f"A case that is {now} cannot become {then}.")
    if case.assignee_id != actor.user.pk:
        raise CaseRefused("Claim the case first: only the officer who has it can change its status.")
    if status in REASON_REQUIRED and not reason:
        raise CaseRefused("Give a reason for this decision.")
    change = _Change(
        action=Action.CASE_STATUS,
        changes={"status": [case.get_status_display(), Status(status).label]},
        expected={"status": case.status, "assignee": actor.user.pk},
        values={"status": status, "closed_at": timezone.now() if status == Status.CLEARED else None},
        lost="The case changed a moment before, so its status was not changed.",
        reason=reason,
    )
    return _case_change(case, change, actor)


def case_note_add(*, case: ComplianceCase, text: str, actor: Actor) -> CaseNote:
    """Append a note to the case; its text is also the audit entry's reason."""
    entry = audit_entry_open(
        actor=actor, action=Action.CASE_NOTE, changes={"case": case.pk}, reason=text, **_about(case.record)
    )
    now = timezone.now()
    note = CaseNote.objects.create(
        case=case, author=actor.user, author_username=_username(actor.user), text=text, created_at=now
    )
    ComplianceCase.objects.filter(pk=case.pk).update(updated_at=now)
    audit_entry_close(entry, outcome=Outcome.SUCCEEDED)
    return note


# --- CSV -----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class CaseExport:
    filename: str
    lines: Iterable[str]


def cases_export(*, filters: CaseFilters, actor: Actor) -> CaseExport:
    """The queue as it is filtered, as CSV lines safe to open in a spreadsheet; the download is an entry
    in the audit trail, with how many cases it held and the filters."""
    now = timezone.now()
    cases = case_list(filters, user=actor.user, now=now)
    count = cases.count()
    described = ", ".join(f"{name} = {value}" for name, value in filters.items()) or "none (cases under way)"
    audit_entry_record(
        actor=actor,
        action=Action.EXPORT_CASES,
        outcome=Outcome.SUCCEEDED,
        reason=f"Exported {count} case{'' if count == 1 else 's'} as CSV. Filters: {described}.",
    )
    filename = f"compliance-cases-{now:%Y%m%d-%H%M%S}Z.csv"
    return CaseExport(filename=filename, lines=csv_lines(case_csv_rows(cases)))
