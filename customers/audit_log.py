"""The audit log for compliance review: filtering, paging, CSV export, chain verification and the
settling of changes whose outcome is unknown. Views and commands stay thin over these functions.
"""

from __future__ import annotations

import csv
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from urllib.parse import urlencode

from django import forms
from django.contrib.auth import get_user_model
from django.db.models import Max, Q, QuerySet
from django.utils import timezone

from customers.audit import Actor, audit_entry_record
from customers.csv_safety import safe_row
from customers.errors import UserMessage, message_for
from customers.models import AuditChainHead, AuditEntry
from customers.services import STATE_ACTIONS, audit_entry_verify
from customers.tatum import TatumError
from customers.templatetags.customer_tags import display_value, utc_text

Action = AuditEntry.Action
Outcome = AuditEntry.Outcome

PAGE_SIZE = 50
CSV_CHUNK_SIZE = 1000
CHAIN_CHUNK_SIZE = 1000
# A `pending` entry younger than this may still have its request in flight: leave it alone.
PENDING_GRACE = timedelta(minutes=10)
# Changes to a customer, which reading the customer once can confirm or refute.
VERIFIABLE_ACTIONS = (Action.UPDATE, *STATE_ACTIONS)
_ORDER_NEWEST_FIRST = ("-started_at", "-id")
_ORDER_OLDEST_FIRST = ("started_at", "id")


# --- Filters -------------------------------------------------------------------------------------


class AuditLogFilterForm(forms.Form):
    """The audit log's filters, read from the query string; every field is optional."""

    actor = forms.CharField(
        label="Who (username)",
        max_length=150,
        required=False,
        strip=True,
        widget=forms.TextInput(attrs={"list": "audit-actor-suggestions", "autocomplete": "off"}),
    )
    action = forms.ChoiceField(label="Action", choices=[("", "Any action"), *Action.choices], required=False)
    outcome = forms.ChoiceField(
        label="Outcome", choices=[("", "Any outcome"), *Outcome.choices], required=False
    )
    customer = forms.CharField(
        label="Customer (external or internal id)",
        max_length=100,
        required=False,
        strip=True,
        error_messages={"max_length": "Customer ids are at most 100 characters long."},
    )
    date_from = forms.DateField(
        label="From (UTC)",
        required=False,
        input_formats=["%Y-%m-%d"],
        widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d"),
        error_messages={"invalid": "Enter the date as YYYY-MM-DD, for example 2024-05-31."},
    )
    date_to = forms.DateField(
        label="To (UTC, inclusive)",
        required=False,
        input_formats=["%Y-%m-%d"],
        widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d"),
        error_messages={"invalid": "Enter the date as YYYY-MM-DD, for example 2024-05-31."},
    )

    def clean_customer(self) -> str:
        value = self.cleaned_data["customer"]
        if any(ord(ch) < 32 or ord(ch) == 127 for ch in value):
            raise forms.ValidationError("That is not a valid customer id.")
        return value

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        start, end = data.get("date_from"), data.get("date_to")
        if start and end and start > end:
            self.add_error("date_to", "The 'to' date is before the 'from' date.")
        return data

    def filters(self) -> AuditFilters:
        return AuditFilters(**{name: self.cleaned_data.get(name) or None for name in AuditFilters.NAMES})


@dataclass(frozen=True)
class AuditFilters:
    actor: str | None = None
    action: str | None = None
    outcome: str | None = None
    customer: str | None = None
    date_from: date | None = None
    date_to: date | None = None

    NAMES = ("actor", "action", "outcome", "customer", "date_from", "date_to")

    def items(self) -> list[tuple[str, str]]:
        """The filters in use, as query-string pairs (dates as YYYY-MM-DD)."""
        values = ((name, getattr(self, name)) for name in self.NAMES)
        return [
            (name, value.isoformat() if isinstance(value, date) else value) for name, value in values if value
        ]

    def query_string(self, **extra: Any) -> str:
        return urlencode(self.items() + [(key, value) for key, value in extra.items() if value])

    def describe(self) -> str:
        """The filters in words, for the export's own audit entry."""
        if not self.items():
            return "none (the whole log)"
        words = {
            "actor": lambda v: f"who = {v}",
            "action": lambda v: f"action = {Action(v).label}",
            "outcome": lambda v: f"outcome = {Outcome(v).label}",
            "customer": lambda v: f"customer = {v}",
            "date_from": lambda v: f"from {v} (UTC)",
            "date_to": lambda v: f"to {v} (UTC, inclusive)",
        }
        return "; ".join(words[name](value) for name, value in self.items())


def audit_entry_filter(filters: AuditFilters) -> QuerySet[AuditEntry]:
    """Entries matching every given filter (in no particular order)."""
    entries = AuditEntry.objects.all()
    if filters.actor:
        entries = entries.filter(actor_username__iexact=filters.actor)
    if filters.action:
        entries = entries.filter(action=filters.action)
    if filters.outcome:
        entries = entries.filter(outcome=filters.outcome)
    if filters.customer:
        entries = entries.filter(_customer_q(filters.customer))
    if filters.date_from:
        entries = entries.filter(started_at__gte=_utc_midnight(filters.date_from))
    if filters.date_to:
        entries = entries.filter(started_at__lt=_utc_midnight(filters.date_to + timedelta(days=1)))
    return entries


def _customer_q(customer: str) -> Q:
    # An external id can be renamed; entries written under the old name share the internal id, so an
    # external id also finds every entry of the internal ids it was ever recorded with.
    internal_ids = (
        AuditEntry.objects.filter(customer_external_id=customer).exclude(customer_id="").values("customer_id")
    )
    return Q(customer_id=customer) | Q(customer_external_id=customer) | Q(customer_id__in=internal_ids)


def _utc_midnight(day: date) -> datetime:
    return datetime.combine(day, time.min, tzinfo=UTC)


def actor_username_suggestions(limit: int = 500) -> list[str]:
    """Usernames to suggest in the "who" filter."""
    usernames = get_user_model().objects.order_by("username").values_list("username", flat=True)[:limit]
    return [*usernames, "(system)"]


# --- Paging --------------------------------------------------------------------------------------


class InvalidCursor(ValueError):
    """A page link names no entry (edited by hand, or from another database)."""


@dataclass(frozen=True)
class AuditPage:
    entries: list[AuditEntry]
    total: int
    has_previous: bool
    has_next: bool

    @property
    def newest_id(self) -> int | None:
        return self.entries[0].pk if self.entries else None

    @property
    def oldest_id(self) -> int | None:
        return self.entries[-1].pk if self.entries else None


def entry_page(
    entries: QuerySet[AuditEntry],
    *,
    after: int | None = None,
    before: int | None = None,
    size: int = PAGE_SIZE,
) -> AuditPage:
    """One page of `entries`, newest first, by keyset: `after` an entry id for older entries, `before`
    for newer.

    Keyset paging stays stable while new entries arrive and costs the same on every page. The first
    page, when it holds every entry, is its own count (most customers' whole history fits on one).
    """
    if before is not None:
        newer = list(entries.filter(_newer_than(before)).order_by(*_ORDER_OLDEST_FIRST)[: size + 1])
        page = list(reversed(newer[:size]))
        has_next = entries.filter(_older_than(before)).exists()
        return AuditPage(
            entries=page, total=entries.count(), has_previous=len(newer) > size, has_next=has_next
        )
    if after is not None:
        entries_after = entries.filter(_older_than(after))
        has_previous = entries.filter(_newer_than(after)).exists()
    else:
        entries_after, has_previous = entries, False
    older = list(entries_after.order_by(*_ORDER_NEWEST_FIRST)[: size + 1])
    has_next = len(older) > size
    total = len(older) if after is None and not has_next else entries.count()
    return AuditPage(entries=older[:size], total=total, has_previous=has_previous, has_next=has_next)


@dataclass(frozen=True)
class RequestedPage:
    """The page a link asks for, or the newest one when the link names no entry."""

    page: AuditPage
    after: int | None
    before: int | None
    cursor_invalid: bool


def entry_page_requested(entries: QuerySet[AuditEntry], params: Any) -> RequestedPage:
    """The page of `entries` that the query string's `after`/`before` names (see `page_cursor`)."""
    try:
        after, before = page_cursor(params)
        return RequestedPage(entry_page(entries, after=after, before=before), after, before, False)
    except InvalidCursor:
        return RequestedPage(entry_page(entries), None, None, True)


def _cursor_started_at(entry_id: int) -> datetime:
    started_at = AuditEntry.objects.filter(pk=entry_id).values_list("started_at", flat=True).first()
    if started_at is None:
        raise InvalidCursor(f"No audit entry {entry_id}.")
    return started_at


def _older_than(entry_id: int) -> Q:
    started_at = _cursor_started_at(entry_id)
    return Q(started_at__lt=started_at) | Q(started_at=started_at, pk__lt=entry_id)


def _newer_than(entry_id: int) -> Q:
    started_at = _cursor_started_at(entry_id)
    return Q(started_at__gt=started_at) | Q(started_at=started_at, pk__gt=entry_id)


def page_cursor(params: Any) -> tuple[int | None, int | None]:
    """`(after, before)` from the query string; raises `InvalidCursor` for anything but one entry id."""
    after, before = params.get("after", ""), params.get("before", "")
    if after and before:
        raise InvalidCursor("A page link names both directions.")
    for value in (after, before):
        if value and not (value.isdigit() and 0 < int(value) < 2**63):
            raise InvalidCursor(f"{value!r} is not an entry id.")
    return (int(after) if after else None), (int(before) if before else None)


# --- CSV export ----------------------------------------------------------------------------------


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
    entries = entries.filter(pk__lte=last_id).order_by(*_ORDER_NEWEST_FIRST)
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


# --- Chain verification --------------------------------------------------------------------------


@dataclass(frozen=True)
class ChainReport:
    sealed: int
    open: int
    head_sequence: int
    head_hash: str
    problem: str = ""

    @property
    def ok(self) -> bool:
        return not self.problem


class _ChainBroken(Exception):
    pass


@dataclass
class _Walk:
    """Where the walk is: the sequence and predecessor hash the next entry must have."""

    expected_sequence: int
    expected_prev: str
    previous: AuditEntry | None = None


def _describe(entry: AuditEntry, *, capital: bool = False) -> str:
    action = entry.get_action_display().lower()
    text = f"entry #{entry.pk} (sequence {entry.sequence}, {action} by {entry.actor_username})"
    return text[0].upper() + text[1:] if capital else text


def audit_chain_verify(
    *,
    chunk_size: int = CHAIN_CHUNK_SIZE,
    anchors: Iterable[tuple[int, str]] = (),
    start: tuple[int, str] = (1, ""),
) -> ChainReport:
    """Walk the sealed entries in sequence order, recomputing each hash, and report the first break.

    Reads `chunk_size` entries at a time, so memory does not grow with the log. `anchors` are
    (sequence, hash) pairs recorded earlier (for instance from a previous run's success line); they
    catch a chain rewritten wholesale, which the database alone cannot reveal. `start` is where the
    chain begins: (1, "") unless older entries were archived and removed, in which case it is the
    first kept sequence and the hash of the last archived entry.
    """
    head = AuditChainHead.objects.filter(pk=1).first()
    head_sequence, head_hash = (head.last_sequence, head.last_hash) if head else (0, "")
    open_count = AuditEntry.objects.filter(sequence__isnull=True).count()
    pending_anchors = dict(anchors)
    walk = _Walk(expected_sequence=start[0], expected_prev=start[1])
    try:
        _walk_chain(walk, head_sequence, pending_anchors, chunk_size)
        _check_head(walk, head_sequence, head_hash)
        _check_anchors_found(pending_anchors)
    except _ChainBroken as broken:
        return ChainReport(0, open_count, head_sequence, head_hash, problem=str(broken))
    return ChainReport(walk.expected_sequence - start[0], open_count, head_sequence, head_hash)


def _walk_chain(walk: _Walk, head_sequence: int, anchors: dict[int, str], chunk_size: int) -> None:
    last_sequence = -1
    while True:
        sealed = AuditEntry.objects.filter(sequence__isnull=False, sequence__gt=last_sequence)
        chunk = list(sealed.order_by("sequence")[:chunk_size])
        if not chunk:
            return
        for entry in chunk:
            _check_entry(entry, walk, head_sequence)
            if entry.sequence in anchors and anchors.pop(entry.sequence) != entry.entry_hash:
                raise _ChainBroken(
                    f"{_describe(entry, capital=True)} does not match the hash recorded for sequence "
                    f"{entry.sequence}: the chain was rewritten from there or earlier."
                )
            walk.expected_sequence, walk.expected_prev, walk.previous = (
                entry.sequence + 1,
                entry.entry_hash,
                entry,
            )
        last_sequence = chunk[-1].sequence


def _check_entry(entry: AuditEntry, walk: _Walk, head_sequence: int) -> None:
    if entry.sequence < walk.expected_sequence or entry.sequence > head_sequence:
        raise _ChainBroken(
            f"{_describe(entry, capital=True)} was inserted out of order: the chain head says the last "
            f"sequence is {head_sequence} and the chain expected sequence {walk.expected_sequence} next."
        )
    if entry.sequence > walk.expected_sequence:
        raise _ChainBroken(
            f"The entry with {_sequences(walk.expected_sequence, entry.sequence - 1)} is missing "
            f"(deleted, or unsealed) before {_describe(entry)}."
        )
    if entry.content_hash(entry.prev_hash) != entry.entry_hash:
        raise _ChainBroken(
            f"{_describe(entry, capital=True)} was changed after it was sealed: "
            "its content no longer matches its hash."
        )
    if entry.prev_hash != walk.expected_prev:
        before = _describe(walk.previous) if walk.previous else "the start of the chain"
        raise _ChainBroken(
            f"{_describe(entry, capital=True)} does not link to {before}: one of the two was replaced or "
            "rewritten with a new hash."
        )


def _sequences(first: int, last: int) -> str:
    return f"sequence {first}" if first == last else f"sequences {first} to {last}"


def _check_head(walk: _Walk, head_sequence: int, head_hash: str) -> None:
    last = walk.expected_sequence - 1
    if last < head_sequence:
        raise _ChainBroken(
            f"The newest sealed entries ({_sequences(last + 1, head_sequence)}) are missing: "
            "deleted, or unsealed."
        )
    if walk.expected_prev != head_hash:
        raise _ChainBroken(
            f"The chain head's hash does not match the last sealed entry (sequence {last}): "
            "one of them was rewritten after it was sealed."
        )


def _check_anchors_found(anchors: dict[int, str]) -> None:
    if anchors:
        sequence = min(anchors)
        raise _ChainBroken(f"No sealed entry has the recorded sequence {sequence}: the chain lost entries.")


# --- Unknown outcomes ----------------------------------------------------------------------------


def unsettled_entry_list(
    *, pending_grace: timedelta = PENDING_GRACE, now: datetime | None = None
) -> QuerySet:
    """Customer changes whose outcome nobody knows, oldest first.

    `unknown` entries (the call timed out or lost its connection) are listed at once; `pending` ones
    only once `pending_grace` has passed, when their request can no longer be running (a crash).
    """
    now = now or timezone.now()
    stale_pending = Q(outcome=Outcome.PENDING, started_at__lt=now - pending_grace)
    return (
        AuditEntry.objects.filter(sequence__isnull=True, action__in=VERIFIABLE_ACTIONS)
        .exclude(customer_id="")
        .filter(Q(outcome=Outcome.UNKNOWN) | stale_pending)
        .order_by(*_ORDER_OLDEST_FIRST)
    )


@dataclass(frozen=True)
class SettleResult:
    entry: AuditEntry
    verdict: str  # "succeeded", "failed", "already" (someone settled it first) or "error"
    error: UserMessage | None = None

    def sentence(self) -> str:
        action = self.entry.get_action_display().lower()
        what = f"Entry #{self.entry.pk} ({action} of {_customer_name(self.entry)})"
        if self.verdict == "succeeded":
            return f"{what}: verified, the change is in place."
        if self.verdict == "failed":
            return f"{what}: verified, the change did not happen."
        if self.verdict == "already":
            return f"{what} was already settled; nothing to do."
        return f"{what} could not be verified: {self.error}"


def _customer_name(entry: AuditEntry) -> str:
    return entry.customer_external_id or entry.customer_id


def unsettled_entry_settle(*, entry: AuditEntry, actor: Actor) -> SettleResult:
    """Read the customer once to settle `entry`, and record who verified it and how it ended.

    A Tatum error leaves the entry open and is returned (and recorded), never raised.
    """
    try:
        settled = audit_entry_verify(entry=entry)
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


def unsettled_entry_settle_all(
    *, actor: Actor, pending_grace: timedelta = PENDING_GRACE
) -> Iterator[SettleResult]:
    """Settle every unsettled entry, one by one; a failure moves on to the next."""
    ids = list(unsettled_entry_list(pending_grace=pending_grace).values_list("pk", flat=True))
    for entry_id in ids:
        entry = AuditEntry.objects.filter(pk=entry_id, sequence__isnull=True).first()
        if entry is None:
            continue
        yield unsettled_entry_settle(entry=entry, actor=actor)
