"""The index sync against the live sandbox when Tatum fails halfway through the ledger.

For each fault kind, met once (the client's retries may carry the sync through) or from then on (it
cannot), the sync either finishes with the index equal to the ledger, or stops with a reason and the
index unharmed: every row still there, none marked missing, each as Tatum last showed it.
"""

from __future__ import annotations

import io
from concurrent.futures import wait

import pytest
from django.core.management import call_command
from django.db.models import Sum

from customers.audit.models import AuditEntry
from customers.audit.trail import Actor
from customers.credits.models import ApiCall
from customers.index import engine
from customers.index.engine import sync_run
from customers.index.models import CustomerRecord, SyncRun
from customers.index.reader import LedgerReader
from customers.index.services import sync_start
from sandbox.faults import BASIC_KINDS, fault_next, fault_plan_set
from sandbox.models import CreditUsage
from sandbox.models import Customer as LedgerCustomer
from tests.live import sharing_the_test_database

pytestmark = pytest.mark.django_db(transaction=True)

CUSTOMERS = 260  # six pages: five full, one short
FAULT_AFTER_PAGE = 2
# Kinds the client retries a read on; a 500 or an unreadable answer fails the page at once.
RETRIED_KINDS = ("429", "timeout", "drop")


@pytest.fixture
def ledger(sandbox_dashboard, live_server, settings):
    settings.TATUM_EXPORT_CONCURRENCY = 1  # one page in flight: the fault meets exactly the next page
    with sharing_the_test_database(live_server):
        call_command("seed_sandbox", customers=CUSTOMERS, seed=3, stdout=io.StringIO())
        yield


def run_sync() -> SyncRun:
    return sync_run(run_id=sync_start(actor=Actor(user=None), enqueue=False).pk)


def index_rows() -> dict[str, tuple]:
    fields = ("external_id", "active", "enabled", "customer_country", "provider_country", "missing_since")
    return {row[0]: row[1:] for row in CustomerRecord.objects.values_list("tatum_id", *fields)}


def ledger_rows() -> dict[str, tuple]:
    return {
        customer.ledger_id: (
            customer.external_id,
            customer.active,
            customer.enabled,
            customer.customer_country,
            customer.provider_country,
            None,
        )
        for customer in LedgerCustomer.objects.all()
    }


def fault_from_page(monkeypatch, kind: str, *, persistent: bool) -> None:
    """Arm the fault so that it meets the read of page FAULT_AFTER_PAGE (from 0) first.

    The reader starts a page's read before it hands over the page before it, so while the sync stores
    page FAULT_AFTER_PAGE - 2 the read of page FAULT_AFTER_PAGE - 1 is under way: the fault is armed
    once that read has come back, and the next read started is the one it meets."""
    readers: list[LedgerReader] = []
    enter = LedgerReader.__enter__

    def enter_and_keep(reader):
        readers.append(reader)
        return enter(reader)

    store = engine._Sync._store

    def store_then_fault(sync, page):
        store(sync, page)
        if page.number == FAULT_AFTER_PAGE - 2:
            wait(readers[-1].in_flight.values())
            if persistent:
                fault_plan_set(rate=1.0, kinds=[kind])
            else:
                fault_next([kind], count=1)

    monkeypatch.setattr(LedgerReader, "__enter__", enter_and_keep)
    monkeypatch.setattr(engine._Sync, "_store", store_then_fault)


@pytest.mark.parametrize("persistent", [False, True], ids=["once", "from-then-on"])
@pytest.mark.parametrize("kind", BASIC_KINDS)
def test_a_sync_meeting_a_fault_halfway_finishes_or_stops_with_the_index_unharmed(
    ledger, monkeypatch, kind, persistent
):
    first = run_sync()
    assert first.status == SyncRun.Status.SUCCEEDED
    before = index_rows()
    assert before == ledger_rows()
    fault_from_page(monkeypatch, kind, persistent=persistent)

    run = run_sync()
    fault_plan_set(rate=0.0)

    after = index_rows()
    if run.status == SyncRun.Status.SUCCEEDED:
        assert after == ledger_rows()
        assert run.marked_missing == 0
    else:
        assert run.status == SyncRun.Status.FAILED
        assert persistent or kind not in RETRIED_KINDS, "the client's retries carry a single one through"
        assert after == before, "every row kept, none marked missing, each as Tatum showed it"
        assert run.error_message.startswith(f"Page {FAULT_AFTER_PAGE + 1} could not be read.")
        assert run.pages_read == FAULT_AFTER_PAGE
    entry = AuditEntry.objects.filter(action=AuditEntry.Action.SYNC_FINISHED).latest("id")
    assert entry.outcome == (
        AuditEntry.Outcome.SUCCEEDED if run.status == SyncRun.Status.SUCCEEDED else AuditEntry.Outcome.FAILED
    )
    charged = CreditUsage.objects.aggregate(total=Sum("credits"))["total"]
    assert ApiCall.objects.aggregate(total=Sum("credits"))["total"] == charged, "every charged call recorded"
    assert run.credits_spent == ApiCall.objects.filter(at__gte=run.started_at).count()
