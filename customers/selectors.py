"""Reads: customers from Tatum, audit rows from the database. No writes here."""

from __future__ import annotations

import contextvars
import hashlib
import json
import re
import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime
from functools import partial
from typing import Generic, Protocol, TypeVar

from django.db.models import QuerySet
from django.utils import timezone

from customers.apicalls import record_api_call
from customers.models import AuditEntry
from customers.tatum import Account, CallRecord, Customer, TatumClient, TatumError, tatum_client

T = TypeVar("T")
T_co = TypeVar("T_co", covariant=True)
ACCOUNTS_PAGE_SIZE = 50
_INTERNAL_ID = re.compile(r"^[0-9a-f]{24}$")
# Reads made while the page is prepared (`BackgroundRead`): a detail page reads the customer and its
# accounts at once, a list page its customers. Two for each of a web process's threads
# (GUNICORN_THREADS, 16 by default), up to 32 threads; threads are started only as pages need them.
_read_pool = ThreadPoolExecutor(max_workers=64, thread_name_prefix="tatum-read")


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


def looks_internal(customer_id: str) -> bool:
    """Tatum's internal ids are 24 hex characters (an external id may look the same)."""
    return bool(_INTERNAL_ID.match(customer_id))


def customer_fingerprint(customer: Customer) -> str:
    """A short hash of everything Tatum holds for the customer, to detect concurrent edits."""
    canonical = json.dumps(customer.to_json(), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()[:32]


def customer_list(*, page_size: int, page: int) -> list[Customer]:
    return tatum_client().list_customers(page_size=page_size, page=page)


def customer_list_start(*, page_size: int, page: int) -> BackgroundRead[list[Customer]]:
    """Start reading what `customer_list` returns on a worker thread; `.result()` collects it."""
    return BackgroundRead(lambda client: client.list_customers(page_size=page_size, page=page))


def customer_get(*, customer_id: str) -> CustomerSnapshot:
    return _snapshot(tatum_client().get_customer(customer_id))


def customer_detail_get(*, customer_id: str, known: CustomerSnapshot | None = None) -> CustomerDetail:
    """The customer (unless already known) and its active accounts, read concurrently.

    Raises the customer read's `TatumError`; an accounts failure is kept on the result so the page
    can still show the customer.
    """
    return customer_detail_start(customer_id=customer_id, known=known).result()


def customer_detail_start(*, customer_id: str, known: CustomerSnapshot | None = None) -> CustomerDetailRead:
    """Start reading what `customer_detail_get` returns, leaving this thread free for local work (the
    page's database reads) while Tatum answers; `.result()` collects it."""
    if known is None and not looks_internal(customer_id):
        # Accounts hang off the internal id: learn it first (an external id cannot be read in parallel).
        known = customer_get(customer_id=customer_id)
        customer_id = known.customer.id
    return CustomerDetailRead(customer_id, known)


class Reading(Protocol[T_co]):
    """Tatum reads in flight: `BackgroundRead` and `CustomerDetailRead`."""

    def wait_until_started(self) -> None: ...

    def result(self) -> T_co: ...


class BackgroundRead(Generic[T]):
    """One Tatum read, started at once on a worker thread, leaving the calling thread free for local
    work while Tatum answers.

    The worker only collects its call records; `result()` stores them from the calling thread, so the
    rows land in the request's own database connection (and transaction), even when the read failed.
    """

    def __init__(self, read: Callable[[TatumClient], T]) -> None:
        self._calls: list[CallRecord] = []
        self._started = threading.Event()
        client = tatum_client(on_call=self._calls.append)

        def run() -> T:
            self._started.set()
            return read(client)

        self._future = _in_background(run)

    def wait_until_started(self, timeout: float = 1.0) -> None:
        """Wait until the worker has taken the read up. Work on this thread starts after that: the
        worker needs the interpreter for a moment to send the request, and would otherwise wait until
        this thread's work is done."""
        self._started.wait(timeout)

    def result(self) -> T:
        try:
            return self._future.result()
        finally:
            for record in self._calls:
                record_api_call(record)


class CustomerDetailRead:
    """The reads of one detail page in flight on worker threads: the customer (unless known) and its
    accounts; see `BackgroundRead`."""

    def __init__(self, customer_id: str, known: CustomerSnapshot | None) -> None:
        self._known = known
        self._accounts = BackgroundRead(
            partial(_list_accounts, customer_id=customer_id, page_size=ACCOUNTS_PAGE_SIZE)
        )
        self._customer = None if known else BackgroundRead(partial(_get_customer, customer_id=customer_id))

    def wait_until_started(self) -> None:
        """See `BackgroundRead.wait_until_started`: both reads."""
        self._accounts.wait_until_started()
        if self._customer is not None:
            self._customer.wait_until_started()

    def result(self) -> CustomerDetail:
        try:
            snapshot = self._known or _snapshot(self._customer.result())
        finally:
            accounts, accounts_error = _accounts_result(self._accounts)
        return CustomerDetail(snapshot=snapshot, accounts=accounts, accounts_error=accounts_error)


def _list_accounts(client: TatumClient, *, customer_id: str, page_size: int) -> list[Account]:
    return client.list_customer_accounts(customer_id, page_size=page_size, page=0)


def _get_customer(client: TatumClient, *, customer_id: str) -> Customer:
    return client.get_customer(customer_id)


def _snapshot(customer: Customer) -> CustomerSnapshot:
    return CustomerSnapshot(customer=customer, read_at=timezone.now())


def _in_background(read: Callable[[], T]) -> Future[T]:
    return _read_pool.submit(contextvars.copy_context().run, read)


def _accounts_result(
    reading: BackgroundRead[list[Account]],
) -> tuple[list[Account] | None, TatumError | None]:
    try:
        return reading.result(), None
    except TatumError as exc:
        return None, exc


def customer_history(*, customer_id: str) -> QuerySet[AuditEntry]:
    return AuditEntry.objects.filter(customer_id=customer_id).select_related("actor")
