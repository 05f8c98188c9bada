"""The dashboard against the live sandbox, with faults injected exactly where a test asks for them."""

from __future__ import annotations

import itertools
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import pytest
from django.core.signals import request_finished, request_started
from django.db.models import Sum

from customers.credits.client import tatum_client
from customers.credits.models import ApiCall
from customers.screens import services
from sandbox.faults import fault_next, fault_plan_clear, fault_plan_get, fault_plan_set
from sandbox.models import CreditUsage
from sandbox.models import Customer as LedgerCustomer
from tests.users import make_user

READ_TIMEOUT_SECONDS = 0.6
# Longer than the client's read timeout, so a stalled call always times out on the client's side.
STALL_SECONDS = 1.0

_external_ids = itertools.count(1)


class ServerRequests:
    """Counts the live server's requests in flight (the test client's, on the main thread, are not).

    A stalled sandbox call outlives the client's timeout; waiting for it before the test ends keeps
    it from finishing inside the next test, or after the database has been torn down.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._busy: set[int] = set()

    def started(self, **_: object) -> None:
        if threading.current_thread() is not threading.main_thread():
            with self._lock:
                self._busy.add(threading.get_ident())

    def finished(self, **_: object) -> None:
        with self._lock:
            self._busy.discard(threading.get_ident())

    def wait_until_idle(self, limit: float) -> None:
        deadline = time.monotonic() + limit
        while time.monotonic() < deadline:
            with self._lock:
                if not self._busy:
                    return
            time.sleep(0.02)


@pytest.fixture
def server_requests() -> ServerRequests:
    """The live server's requests in flight.

    A write that timed out on the client's side may still be running on the server, on the test's
    one shared SQLite connection; the next request must wait for it (`wait_until_idle`), as two
    threads cannot use that connection at once. With a connection per thread (PostgreSQL, or any
    real deployment) the overlap is harmless.
    """
    return ServerRequests()


@pytest.fixture
def sandbox_dashboard(live_server, settings, server_requests) -> Iterator[str]:
    """The dashboard's Tatum client points at the live sandbox; no fault is planned at the start."""
    settings.TATUM_API_URL = live_server.url + "/sandbox"
    settings.TATUM_TIMEOUT = (1.0, READ_TIMEOUT_SECONDS)
    # Two retries instead of the default three: the same logic, less waiting on read timeouts.
    settings.TATUM_MAX_RETRIES = 2
    in_flight = server_requests
    request_started.connect(in_flight.started, weak=False)
    request_finished.connect(in_flight.finished, weak=False)
    fault_plan_clear()
    # A 429 asks for no wait, so that retried reads stay quick.
    fault_plan_set(timeout_seconds=STALL_SECONDS, retry_after_seconds=0)
    yield live_server.url
    in_flight.wait_until_idle(limit=STALL_SECONDS + 2)
    request_started.disconnect(in_flight.started)
    request_finished.disconnect(in_flight.finished)
    fault_plan_clear()


@pytest.fixture
def support_client(client, sandbox_dashboard):
    client.force_login(make_user("Support"))
    return client


@pytest.fixture
def fault_before_write(monkeypatch) -> Callable[[str], None]:
    """Arms a fault for the next write, once the request's own reads are done.

    An edit or a state change reads the customer before it writes; a fault queued beforehand would
    hit that read. This arms it at the last moment before the write is sent (after the circuit check).
    """
    armed: list[str] = []
    check_writes = services.circuit_check_writes

    def check_then_arm() -> None:
        check_writes()
        while armed:
            fault_next(armed.pop(), count=1)

    monkeypatch.setattr(services, "circuit_check_writes", check_then_arm)
    return armed.append


@dataclass(frozen=True)
class LedgerCustomerRef:
    id: str
    external_id: str


def ledger_customer(state: str = "active") -> LedgerCustomerRef:
    """A customer made through the API, in a state a change can start from.

    `active` has one active account with a zero balance; `bare` is active with its only account
    deactivated (so it may be deactivated); `inactive` and `disabled` are what they say.
    """
    client = tatum_client()
    external_id = f"fault-drill-{next(_external_ids):04d}"
    account = client.create_account(
        currency="BTC", external_id=external_id, customer_country="DE", provider_country="MT"
    )
    customer_id = account.customer_id
    assert customer_id
    if state in ("bare", "inactive"):
        client.deactivate_account(account.id)
    if state == "inactive":
        client.deactivate_customer(customer_id)
    if state == "disabled":
        client.disable_customer(customer_id)
    return LedgerCustomerRef(id=customer_id, external_id=external_id)


def ledger_state(customer: LedgerCustomerRef) -> LedgerCustomer:
    """The customer as the sandbox stores it, read without an HTTP call (so without faults)."""
    return LedgerCustomer.objects.get(ledger_id=customer.id)


@dataclass(frozen=True)
class CallTally:
    """Calls the dashboard recorded and credits the sandbox charged, to compare before and after."""

    gets: int
    puts: int
    dashboard_credits: int
    sandbox_credits: int

    @classmethod
    def now(cls) -> CallTally:
        return cls(
            gets=ApiCall.objects.filter(method="GET").count(),
            puts=ApiCall.objects.filter(method="PUT").count(),
            dashboard_credits=ApiCall.objects.aggregate(total=Sum("credits"))["total"] or 0,
            sandbox_credits=CreditUsage.objects.aggregate(total=Sum("credits"))["total"] or 0,
        )

    def since(self, before: CallTally) -> CallTally:
        return CallTally(
            gets=self.gets - before.gets,
            puts=self.puts - before.puts,
            dashboard_credits=self.dashboard_credits - before.dashboard_credits,
            sandbox_credits=self.sandbox_credits - before.sandbox_credits,
        )


def queued_faults() -> int:
    """Queued faults not yet consumed by a call."""
    return fault_plan_get().next_count
