"""Reads for the customer screens: customers and their accounts from Tatum, their history from the
audit trail. No writes here."""

from __future__ import annotations

import contextvars
import hashlib
import json
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime

from django.conf import settings
from django.db.models import QuerySet
from django.utils import timezone

from customers.audit.models import AuditEntry
from customers.compliance.selectors import CASE_ACTIONS
from customers.credits.client import tatum_client
from customers.tatum import Account, Customer, TatumError

ACCOUNTS_PAGE_SIZE = 50
# A detail page reads the customer and its accounts at once: the accounts on one of these threads,
# the customer on the request's own (one a web thread, so as many as a process has web threads).
_accounts_readers = ThreadPoolExecutor(max_workers=settings.WEB_THREADS, thread_name_prefix="accounts")


@dataclass(frozen=True)
class CustomerSnapshot:
    """A customer as read from Tatum, with when it was read."""

    customer: Customer
    read_at: datetime

    @property
    def fingerprint(self) -> str:
        return customer_fingerprint(self.customer)


@dataclass(frozen=True)
class CustomerDetail:
    snapshot: CustomerSnapshot
    accounts: list[Account] | None
    accounts_error: TatumError | None = None

    @property
    def customer(self) -> Customer:
        return self.snapshot.customer

    @property
    def accounts_may_continue(self) -> bool:
        return self.accounts is not None and len(self.accounts) >= ACCOUNTS_PAGE_SIZE


def customer_fingerprint(customer: Customer) -> str:
    """A short hash of everything Tatum holds for the customer, to detect concurrent edits."""
    canonical = json.dumps(customer.to_json(), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()[:32]


def customer_list(*, page_size: int, page: int) -> list[Customer]:
    """One page of customers from Tatum (`page` counts from 0)."""
    return tatum_client().list_customers(page_size=page_size, page=page)


def customer_get(*, customer_id: str) -> CustomerSnapshot:
    """The customer by its external or internal id."""
    return CustomerSnapshot(customer=tatum_client().get_customer(customer_id), read_at=timezone.now())


def customer_detail_get(*, customer_id: str, known: CustomerSnapshot | None = None) -> CustomerDetail:
    """The customer (by internal id) and its active accounts, read at once; only the accounts when the
    customer is `known` (just read by the page before).

    Raises the customer read's `TatumError`; an accounts failure is kept on the result so that the page
    can still show the customer.
    """
    client = tatum_client()
    if known is not None:
        try:
            accounts = client.list_customer_accounts(customer_id, page_size=ACCOUNTS_PAGE_SIZE)
        except TatumError as exc:
            return CustomerDetail(snapshot=known, accounts=None, accounts_error=exc)
        return CustomerDetail(snapshot=known, accounts=accounts)
    # The reader thread runs in a copy of this context: its call records count for this request.
    accounts = _accounts_readers.submit(
        contextvars.copy_context().run,
        client.list_customer_accounts,
        customer_id,
        page_size=ACCOUNTS_PAGE_SIZE,
    )
    try:
        snapshot = CustomerSnapshot(customer=client.get_customer(customer_id), read_at=timezone.now())
    finally:
        try:
            account_list, accounts_error = accounts.result(), None
        except TatumError as exc:
            account_list, accounts_error = None, exc
    return CustomerDetail(snapshot=snapshot, accounts=account_list, accounts_error=accounts_error)


def customer_history(*, customer_id: str) -> QuerySet[AuditEntry]:
    """Every audit entry of the customer, newest first, but for its compliance review: that is on the
    case's page, for those who review cases."""
    entries = AuditEntry.objects.filter(customer_id=customer_id).exclude(action__in=CASE_ACTIONS)
    return entries.select_related("actor")


@dataclass(frozen=True)
class InactiveAccount:
    """An account of the customer that this dashboard deactivated, as its audit trail recorded it."""

    id: str
    currency: str
    deactivated_at: datetime
    entry_id: int


def accounts_deactivated_here(*, customer_id: str, active_ids: set[str]) -> list[InactiveAccount]:
    """The customer's accounts whose last successful activation or deactivation from this dashboard
    was a deactivation, and that are not among `active_ids` (the active accounts just read).

    Tatum lists active accounts only: these are the inactive ones the dashboard can tell are the
    customer's, so the only ones it can offer to activate.
    """
    actions = (AuditEntry.Action.ACCOUNT_ACTIVATE, AuditEntry.Action.ACCOUNT_DEACTIVATE)
    entries = AuditEntry.objects.filter(
        customer_id=customer_id, action__in=actions, outcome=AuditEntry.Outcome.SUCCEEDED
    ).order_by("started_at", "id")
    last: dict[str, AuditEntry] = {}
    for entry in entries:
        last[str((entry.changes or {}).get("account", ""))] = entry
    return [
        InactiveAccount(
            id=account_id,
            currency=str(entry.changes.get("currency", "")),
            deactivated_at=entry.started_at,
            entry_id=entry.pk,
        )
        for account_id, entry in last.items()
        if account_id
        and entry.action == AuditEntry.Action.ACCOUNT_DEACTIVATE
        and account_id not in active_ids
    ]
