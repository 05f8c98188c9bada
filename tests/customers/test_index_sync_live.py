"""The index sync end to end: real worker code, real HTTP, the sandbox served by the live server."""

from __future__ import annotations

import io

import pytest
from django.core.management import call_command
from django.db.models import Q, Sum

from customers.audit.trail import Actor
from customers.credits.client import tatum_client
from customers.credits.models import ApiCall
from customers.index.models import CustomerRecord, SyncRun
from customers.index.reader import read_window
from customers.index.services import sync_start
from sandbox.models import CreditUsage
from sandbox.models import Customer as LedgerCustomer
from tests.live import hang_up, sharing_the_test_database
from tests.users import make_user, roles_ensure

SEEDED = 230  # five pages of 50: four full, one short
IMMEDIATE = {"default": {"BACKEND": "django_tasks.backends.immediate.ImmediateBackend"}}
pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def ledger(live_server, settings):
    roles_ensure()
    settings.TATUM_API_URL = f"{live_server.url}/sandbox"
    settings.TATUM_EXPORT_CONCURRENCY = 4
    settings.TATUM_TIMEOUT = (2.0, 5.0)
    with sharing_the_test_database(live_server):
        call_command("seed_sandbox", customers=SEEDED, seed=1, stdout=io.StringIO())
        # Today's credit counter row exists before pages are read concurrently.
        tatum_client().list_customers(page_size=1)
        ApiCall.objects.all().delete()
        yield live_server
    hang_up(live_server)


def ledger_rows() -> dict[str, tuple]:
    return {
        c.ledger_id: (c.external_id, c.active, c.enabled, c.customer_country, c.provider_country)
        for c in LedgerCustomer.objects.all()
    }


def index_rows() -> dict[str, tuple]:
    fields = ("external_id", "active", "enabled", "customer_country", "provider_country")
    return {row[0]: row[1:] for row in CustomerRecord.objects.values_list("tatum_id", *fields)}


def charged() -> int:
    return CreditUsage.objects.aggregate(total=Sum("credits"))["total"] or 0


def test_the_task_fills_the_index_with_the_ledger_and_records_every_credit(ledger, settings):
    settings.TASKS = IMMEDIATE
    before = charged()

    run = sync_start(actor=Actor(user=make_user("Manager", "morgan")))

    run = SyncRun.objects.get(pk=run.pk)
    assert run.status == SyncRun.Status.SUCCEEDED, run.error_message
    assert index_rows() == ledger_rows()
    assert run.customers_read == SEEDED
    assert run.credits_spent == charged() - before == ApiCall.objects.count()
    assert run.pages_read == 5
    # Reads start before a page is handed over, so those past the end are bounded by the reader's
    # window (pages read and not yet handed over), not by the reads in flight.
    past_the_end = read_window(settings.TATUM_EXPORT_CONCURRENCY) - 1
    assert run.credits_spent <= run.pages_read + past_the_end, "reads past the end stay within the window"
    without_both = LedgerCustomer.objects.filter(Q(customer_country="") | Q(provider_country=""))
    assert CustomerRecord.objects.filter(compliance_gap=True).count() == without_both.count()


def test_a_second_sync_follows_changes_in_tatum(ledger):
    call_command("sync_customers", stdout=io.StringIO())
    changed = LedgerCustomer.objects.order_by("pk").first()
    tatum_client().update_customer(changed.ledger_id, external_id="renamed-in-tatum")

    out = io.StringIO()
    call_command("sync_customers", stdout=out)

    assert CustomerRecord.objects.get(tatum_id=changed.ledger_id).external_id == "renamed-in-tatum"
    assert index_rows() == ledger_rows()
    assert f"finished: {SEEDED} customers read in 5 pages" in out.getvalue()
