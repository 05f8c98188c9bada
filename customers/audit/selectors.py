"""Reads of the audit trail: filters, keyset paging, and the changes whose outcome is unsettled."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from urllib.parse import urlencode

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db.models import Q, QuerySet
from django.utils import timezone

from customers.audit.models import AuditEntry

Action = AuditEntry.Action
Outcome = AuditEntry.Outcome

PAGE_SIZE = 50
# Beyond the client's timeouts, how long a request may still be working on a change (writing its
# entry's outcome): a `pending` entry older than both can no longer have its request in flight.
PENDING_MARGIN = timedelta(seconds=5)
# Changes to a customer, which reading the customer once can confirm or refute.
CUSTOMER_CHANGE_ACTIONS = (Action.UPDATE, Action.ACTIVATE, Action.DEACTIVATE, Action.ENABLE, Action.DISABLE)
# Changes to one of a customer's accounts (`changes["account"]` names it), which reading the customer's
# active accounts can confirm or refute.
ACCOUNT_ACTIONS = (
    Action.ACCOUNT_ACTIVATE,
    Action.ACCOUNT_DEACTIVATE,
    Action.ACCOUNT_FREEZE,
    Action.ACCOUNT_UNFREEZE,
)
VERIFIABLE_ACTIONS = CUSTOMER_CHANGE_ACTIONS + ACCOUNT_ACTIONS
ORDER_NEWEST_FIRST = ("-started_at", "-id")
ORDER_OLDEST_FIRST = ("started_at", "id")


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
        newer = list(entries.filter(_newer_than(before)).order_by(*ORDER_OLDEST_FIRST)[: size + 1])
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
    older = list(entries_after.order_by(*ORDER_NEWEST_FIRST)[: size + 1])
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


def pending_grace() -> timedelta:
    """How long a `pending` entry may still have its request in flight: the client's whole timeout
    for a write (which is never retried), and a margin."""
    connect, read = settings.TATUM_TIMEOUT
    return timedelta(seconds=connect + read) + PENDING_MARGIN


def unsettled_entry_list(*, customer_id: str = "", now: datetime | None = None) -> QuerySet:
    """Changes to customers and their accounts whose outcome nobody knows (of one customer, or of
    all), oldest first.

    `unknown` entries (the call timed out or lost its connection) are listed at once; `pending` ones
    once their request can no longer be running (`pending_grace`: the process stopped mid-call).
    """
    now = now or timezone.now()
    stale_pending = Q(outcome=Outcome.PENDING, started_at__lt=now - pending_grace())
    entries = AuditEntry.objects.filter(sequence__isnull=True, action__in=VERIFIABLE_ACTIONS)
    entries = entries.filter(customer_id=customer_id) if customer_id else entries.exclude(customer_id="")
    return entries.filter(Q(outcome=Outcome.UNKNOWN) | stale_pending).order_by(*ORDER_OLDEST_FIRST)


def changes_since(entry: AuditEntry) -> QuerySet:
    """Changes to what the entry changed (the customer, or one of its accounts) started after it that
    may have changed it: those that succeeded, or whose outcome is not known (yet)."""
    may_have_changed = [Outcome.SUCCEEDED, Outcome.PENDING, Outcome.UNKNOWN, Outcome.UNDETERMINED]
    if entry.action in ACCOUNT_ACTIONS:
        same_thing = Q(action__in=ACCOUNT_ACTIONS, changes__account=(entry.changes or {}).get("account"))
    else:
        same_thing = Q(action__in=CUSTOMER_CHANGE_ACTIONS)
    return (
        AuditEntry.objects.filter(same_thing, customer_id=entry.customer_id, outcome__in=may_have_changed)
        .filter(Q(started_at__gt=entry.started_at) | Q(started_at=entry.started_at, pk__gt=entry.pk))
        .order_by(*ORDER_OLDEST_FIRST)
    )
