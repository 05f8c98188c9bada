"""Account actions and the guided deactivation over the live sandbox (real HTTP): what the ledger
holds afterwards, what each step costs, and unknown outcomes settled by reading the accounts."""

from __future__ import annotations

import pytest

from customers.audit.models import AuditEntry
from customers.credits.client import tatum_client
from customers.credits.models import ApiCall
from customers.screens import services
from sandbox.faults import fault_next, fault_plan_clear, fault_plan_set
from sandbox.models import Account as LedgerAccount
from tests.users import make_user

pytestmark = pytest.mark.django_db(transaction=True)

Action = AuditEntry.Action
Outcome = AuditEntry.Outcome
HTMX = {"HX-Request": "true"}


@pytest.fixture
def live_tatum(live_server, settings):
    settings.TATUM_API_URL = f"{live_server.url}/sandbox"
    settings.TATUM_TIMEOUT = (1.0, 0.5)
    fault_plan_set(timeout_seconds=1.0)
    yield live_server
    fault_plan_clear()


@pytest.fixture
def support_client(client, live_tatum):
    client.force_login(make_user("Support", "sam"))
    return client


def customer_with_accounts(external_id: str, count: int) -> tuple[str, list[str]]:
    """A customer with `count` BTC accounts, all with a zero balance: (customer id, account ids). Both
    countries are set, so no compliance case opens when the dashboard reads the customer."""
    accounts = [
        tatum_client().create_account(
            currency="BTC", external_id=external_id, customer_country="DE", provider_country="MT"
        )
        for _ in range(count)
    ]
    return accounts[0].customer_id, [account.id for account in accounts]


def calls_for(action) -> int:
    before = ApiCall.objects.count()
    action()
    return ApiCall.objects.count() - before


def active_ids(customer_id: str) -> list[str]:
    return [account.id for account in tatum_client().list_customer_accounts(customer_id)]


def test_the_guided_job_deactivates_the_empty_accounts_then_the_customer(support_client):
    customer_id, (first, second, holding) = customer_with_accounts("live-guide", 3)
    LedgerAccount.objects.filter(ledger_id=holding).update(account_balance="1.5", available_balance="1.5")
    guide = f"/customers/{customer_id}/accounts/deactivate/"

    page = support_client.get(f"/customers/{customer_id}/").content.decode()
    assert "3 accounts are still active" in page and "Deactivate accounts first" in page
    # Two reads, then one write for each of the two empty accounts.
    assert calls_for(lambda: support_client.post(guide, {"reason": "closing"}, headers=HTMX)) == 4
    assert active_ids(customer_id) == [holding]

    # The balance is moved out elsewhere; the last account, then the customer.
    LedgerAccount.objects.filter(ledger_id=holding).update(account_balance="0", available_balance="0")
    response = support_client.post(
        f"/customers/{customer_id}/accounts/{holding}/deactivate/", {"reason": "closing"}, headers=HTMX
    )
    assert "No active accounts." in response.content.decode()
    deactivate = support_client.post(
        f"/customers/{customer_id}/deactivate/", {"reason": "closing"}, headers=HTMX
    )

    assert "The customer is now deactivated." in deactivate.content.decode()
    assert tatum_client().get_customer(customer_id).active is False
    entries = AuditEntry.objects.order_by("started_at", "pk")
    assert [(e.action, e.outcome, e.changes.get("account")) for e in entries] == [
        (Action.ACCOUNT_DEACTIVATE, Outcome.SUCCEEDED, first),
        (Action.ACCOUNT_DEACTIVATE, Outcome.SUCCEEDED, second),
        (Action.ACCOUNT_DEACTIVATE, Outcome.SUCCEEDED, holding),
        (Action.DEACTIVATE, Outcome.SUCCEEDED, None),
    ]


def test_freezing_and_unfreezing_move_the_available_balance_in_the_sandbox(support_client):
    customer_id, (account_id,) = customer_with_accounts("live-freeze", 1)
    LedgerAccount.objects.filter(ledger_id=account_id).update(account_balance="4", available_balance="4")
    path = f"/customers/{customer_id}/accounts/{account_id}"

    assert calls_for(lambda: support_client.post(f"{path}/freeze/", {"reason": "fraud"}, headers=HTMX)) == 3
    frozen = tatum_client().list_customer_accounts(customer_id)[0]
    assert frozen.frozen and frozen.balance.available_balance == 0
    support_client.post(f"{path}/unfreeze/", {}, headers=HTMX)

    unfrozen = tatum_client().list_customer_accounts(customer_id)[0]
    assert not unfrozen.frozen and unfrozen.balance.available_balance == 4
    assert list(AuditEntry.objects.order_by("started_at").values_list("action", "outcome")) == [
        (Action.ACCOUNT_FREEZE, Outcome.SUCCEEDED),
        (Action.ACCOUNT_UNFREEZE, Outcome.SUCCEEDED),
    ]


def test_an_account_deactivated_here_can_be_activated_again(support_client):
    customer_id, (account_id,) = customer_with_accounts("live-activate", 1)
    path = f"/customers/{customer_id}/accounts/{account_id}"
    support_client.post(f"{path}/deactivate/", {"reason": "mistake coming"}, headers=HTMX)
    page = support_client.get(f"/customers/{customer_id}/").content.decode()
    assert "Deactivated from this dashboard" in page and f"{path}/activate/" in page

    response = support_client.post(f"{path}/activate/", {}, headers=HTMX)

    assert f"Account {account_id} is now activated." in response.content.decode()
    assert active_ids(customer_id) == [account_id]


def test_a_deactivation_that_timed_out_is_settled_by_reading_the_accounts(support_client, monkeypatch):
    customer_id, (account_id,) = customer_with_accounts("live-unknown", 1)
    check_writes = services.circuit_check_writes

    def check_then_arm() -> None:
        check_writes()
        fault_next("timeout_after")  # the sandbox deactivates the account, then answers too late

    monkeypatch.setattr(services, "circuit_check_writes", check_then_arm)
    page = support_client.post(
        f"/customers/{customer_id}/accounts/{account_id}/deactivate/", {"reason": "closing"}, headers=HTMX
    ).content.decode()
    assert "we do not know whether the change happened" in page
    entry = AuditEntry.objects.get()
    assert entry.outcome == Outcome.UNKNOWN
    monkeypatch.setattr(services, "circuit_check_writes", check_writes)

    response = support_client.post(
        f"/audit/unknown/{entry.pk}/verify/", {"next": f"/customers/{customer_id}/"}, follow=True
    )

    assert "verified, the change is in place." in response.content.decode()
    entry.refresh_from_db()
    assert entry.outcome == Outcome.SUCCEEDED and entry.is_final
