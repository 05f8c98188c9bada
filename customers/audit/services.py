"""Writes of the audit trail beyond the write-ahead entries: the CSV export of the log (itself an
audited action) and the settling of changes whose outcome is unknown."""

from __future__ import annotations

import csv
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from django.db.models import Max, QuerySet
from django.utils import timezone

from customers.audit.locks import CustomerBusy, customer_lock
from customers.audit.models import AuditEntry
from customers.audit.selectors import (
    ACCOUNT_ACTIONS,
    ORDER_NEWEST_FIRST,
    AuditFilters,
    audit_entry_filter,
    changes_since,
    unsettled_entry_list,
)
from customers.audit.trail import Actor, audit_entry_close, audit_entry_record
from customers.credits.client import tatum_client
from customers.csv_safety import safe_row
from customers.tatum import CUSTOMER_JSON_NAMES, MAX_PAGE_SIZE, Account, TatumError
from customers.templatetags.customer_tags import display_value, utc_text
from customers.user_messages import UserMessage, message_for

Action = AuditEntry.Action
Outcome = AuditEntry.Outcome
CSV_CHUNK_SIZE = 1000


def _changes_text(changes: dict[str, Any]) -> str:
    return "; ".join(
        f"{name}: {display_value(pair[0])} -> {display_value(pair[1])}"
        if isinstance(pair, list | tuple) and len(pair) == 2
        else f"{name}: {display_value(pair)}"
        for name, pair in (changes or {}).items()
    )


CSV_COLUMNS: list[tuple[str, Any]] = [
    ("Entry", lambda e: e.pk),
    ("Started (UTC)", lambda e: utc_text(e.started_at)),
    ("Finished (UTC)", lambda e: utc_text(e.finished_at)),
    ("Who", lambda e: e.actor_username),
    ("Action", lambda e: e.get_action_display()),
    ("Customer internal id", lambda e: e.customer_id),
    ("Customer external id", lambda e: e.customer_external_id),
    ("Change (before -> after)", lambda e: _changes_text(e.changes)),
    ("Reason", lambda e: e.reason),
    ("Outcome", lambda e: e.get_outcome_display()),
    ("Tatum HTTP status", lambda e: e.http_status),
    ("Tatum error code", lambda e: e.error_code),
    ("Tatum error message", lambda e: e.error_message),
    ("Request id", lambda e: e.request_id),
    ("Client IP", lambda e: e.client_ip),
    ("User agent", lambda e: e.user_agent),
    ("Chain sequence", lambda e: e.sequence),
    ("Previous hash", lambda e: e.prev_hash),
    ("Entry hash", lambda e: e.entry_hash),
]


class _Echo:
    """A file-like object whose `write` hands the line back, so csv.writer can feed a stream."""

    def write(self, value: str) -> str:
        return value


def audit_csv_rows(entries: QuerySet[AuditEntry]) -> Iterator[list[str]]:
    """The header, then one row per entry, every cell made safe for spreadsheets."""
    yield safe_row([name for name, _ in CSV_COLUMNS])
    for entry in entries.iterator(chunk_size=CSV_CHUNK_SIZE):
        yield safe_row([value(entry) for _, value in CSV_COLUMNS])


def csv_lines(rows: Iterable[list[str]]) -> Iterator[str]:
    writer = csv.writer(_Echo())
    for row in rows:
        yield writer.writerow(row)


@dataclass(frozen=True)
class AuditExport:
    filename: str
    entry_count: int
    record: AuditEntry  # the export's own audit entry
    lines: Iterator[str] = field(repr=False)


def audit_log_export(*, actor: Actor, filters: AuditFilters, now: datetime | None = None) -> AuditExport:
    """Record the export in the audit trail, then stream the matching entries as CSV, newest first.

    The export covers the entries that existed when it started (up to the highest id then), so the
    count in its audit entry is exact and the export does not include its own record.
    """
    now = now or timezone.now()
    entries = audit_entry_filter(filters)
    last_id = AuditEntry.objects.aggregate(last=Max("id"))["last"] or 0
    entries = entries.filter(pk__lte=last_id).order_by(*ORDER_NEWEST_FIRST)
    count = entries.count()
    record = audit_entry_record(
        actor=actor,
        action=Action.EXPORT_AUDIT,
        outcome=Outcome.SUCCEEDED,
        reason=f"Exported {count} entr{'y' if count == 1 else 'ies'} as CSV. Filters: {filters.describe()}.",
    )
    filename = f"audit-log-{now.astimezone(UTC):%Y%m%d-%H%M%S}Z.csv"
    return AuditExport(
        filename=filename, entry_count=count, record=record, lines=csv_lines(audit_csv_rows(entries))
    )


# --- Unknown outcomes ----------------------------------------------------------------------------


@dataclass(frozen=True)
class SettleResult:
    entry: AuditEntry
    # "succeeded", "failed", "undetermined", "already" (someone settled it first) or "error"
    verdict: str
    error: UserMessage | None = None

    def sentence(self) -> str:
        action = self.entry.get_action_display().lower()
        what = f"Entry #{self.entry.pk} ({action} of {_customer_name(self.entry)})"
        if self.verdict == "succeeded":
            return f"{what}: verified, the change is in place."
        if self.verdict == "failed":
            return f"{what}: verified, the change did not happen."
        if self.verdict == "undetermined":
            return f"{what}: whether the change happened could not be determined. {self.entry.error_message}"
        if self.verdict == "already":
            return f"{what} was already settled; nothing to do."
        return f"{what} could not be verified: {self.error}"


def _customer_name(entry: AuditEntry) -> str:
    return entry.customer_external_id or entry.customer_id


_BUSY = UserMessage(
    "Another change to this customer is running.", "Nothing was settled. Try again in a moment."
)


def unsettled_entry_settle(*, entry: AuditEntry, actor: Actor) -> SettleResult:
    """Read the customer once to settle `entry`, and record who verified it and how it ended.

    Runs under the customer's write lock, so that no change of the dashboard's moves the customer
    between the read and the verdict. A Tatum error leaves the entry open and is returned (and
    recorded), never raised.
    """
    try:
        with customer_lock(entry.customer_id):
            if not AuditEntry.objects.filter(pk=entry.pk, sequence__isnull=True).exists():
                return SettleResult(entry=entry, verdict="already")
            settled = audit_entry_verify(entry=entry)
    except CustomerBusy:
        return SettleResult(entry=entry, verdict="error", error=_BUSY)
    except TatumError as exc:
        _record_verification(actor, entry, f"Could not verify entry #{entry.pk}.", exc)
        return SettleResult(entry=entry, verdict="error", error=message_for(exc))
    except ValueError:
        # Sealed by someone else between our read and our write.
        return SettleResult(entry=entry, verdict="already")
    result = SettleResult(entry=settled, verdict=settled.outcome)
    _record_verification(actor, settled, result.sentence())
    return result


def _record_verification(
    actor: Actor, entry: AuditEntry, reason: str, error: TatumError | None = None
) -> None:
    audit_entry_record(
        actor=actor,
        action=Action.VERIFY,
        outcome=Outcome.FAILED if error else Outcome.SUCCEEDED,
        customer_id=entry.customer_id,
        customer_external_id=entry.customer_external_id,
        reason=reason,
        http_status=error.status if error else None,
        error_code=error.error_code if error else "",
        error_message=str(error) if error else "",
    )


def unsettled_entry_settle_all(*, actor: Actor) -> Iterator[SettleResult]:
    """Settle every unsettled entry, one by one; a failure moves on to the next."""
    ids = list(unsettled_entry_list().values_list("pk", flat=True))
    for entry_id in ids:
        entry = AuditEntry.objects.filter(pk=entry_id, sequence__isnull=True).first()
        if entry is None:
            continue
        yield unsettled_entry_settle(entry=entry, actor=actor)


def audit_entry_verify(*, entry: AuditEntry) -> AuditEntry:
    """Settle an `unknown` or stale `pending` entry: read what it changed once and compare (the
    customer, or for an account action the customer's active accounts).

    The verdict is "happened" (every changed field holds its new value) or "did not happen" (every one
    holds its old value) only when no other change of the dashboard's may have moved it since.
    Otherwise, or when it holds neither, it is "could not be determined", with the state read now.
    Changes made outside the dashboard cannot be seen: Tatum keeps no history of a customer. Raises
    the read's `TatumError` (the entry stays open).
    """
    changes = {
        name: pair
        for name, pair in (entry.changes or {}).items()
        if isinstance(pair, list | tuple) and len(pair) == 2
    }
    now = _account_now(entry) if entry.action in ACCOUNT_ACTIONS else _customer_now(entry)
    now_reads = "; ".join(f"{field} is {display_value(now.values[field])}" for field in changes)
    later = changes_since(entry).first()
    if later is not None:
        outcome = Outcome.UNDETERMINED
        note = (
            f"Could not be determined: entry #{later.pk} ({later.get_action_display().lower()}, "
            f"{later.get_outcome_display().lower()}) may have changed {now.holder} since. Read now: "
            f"{now_reads}."
        )
    elif all(now.values[field] == pair[1] for field, pair in changes.items()):
        outcome, note = Outcome.SUCCEEDED, f"Verified by reading {now.source}: the change is in place."
    elif all(now.values[field] == pair[0] for field, pair in changes.items()):
        outcome, note = Outcome.FAILED, f"Verified by reading {now.source}: the change did not happen."
    else:
        outcome = Outcome.UNDETERMINED
        note = (
            f"Could not be determined: {now.holder} holds neither the old nor the new value. "
            f"Read now: {now_reads}."
        )
    return audit_entry_close(
        entry,
        outcome=outcome,
        http_status=entry.http_status,
        error_code=entry.error_code,
        error_message="\n".join(filter(None, [entry.error_message, note])),
    )


_ATTRIBUTES = {json_name: name for name, json_name in CUSTOMER_JSON_NAMES.items()}


@dataclass(frozen=True)
class _ReadNow:
    values: dict[str, Any]  # the changed fields' values now, under the names the entry uses
    source: str  # what was read, in words
    holder: str  # what holds the values, in words


def _customer_now(entry: AuditEntry) -> _ReadNow:
    """The customer's fields as Tatum holds them now (1 credit)."""
    current = tatum_client().get_customer(entry.customer_id)
    values = {json_name: getattr(current, name) for json_name, name in _ATTRIBUTES.items()}
    return _ReadNow(values=values, source="the customer", holder="the customer")


def _account_now(entry: AuditEntry) -> _ReadNow:
    """The account's flags as Tatum shows them now, from the customer's active accounts (1 credit a
    page of 50). Tatum lists active accounts only: one missing is inactive, and whether it is frozen
    cannot be read."""
    account_id = (entry.changes or {}).get("account")
    listed = next((a for a in _active_accounts(entry.customer_id) if a.id == account_id), None)
    values = {
        "active": listed is not None,
        "frozen": listed.frozen if listed is not None else "unknown (the account is not active)",
    }
    return _ReadNow(values=values, source="the customer's active accounts", holder="the account")


def _active_accounts(customer_id: str) -> Iterator[Account]:
    client = tatum_client()
    page = 0
    while True:
        accounts = client.list_customer_accounts(customer_id, page_size=MAX_PAGE_SIZE, page=page)
        yield from accounts
        if len(accounts) < MAX_PAGE_SIZE:
            return
        page += 1
