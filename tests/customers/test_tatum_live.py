"""The dashboard's Tatum client against the live sandbox, over real HTTP: every operation."""

from __future__ import annotations

from decimal import Decimal

import pytest

from customers.credits.client import process_rate_limiter, process_session, tatum_client
from customers.credits.models import ApiCall
from customers.tatum import TatumAuthError, TatumClient, TatumInvalidInput, TatumNotFound, TatumRuleError
from sandbox.models import Account as LedgerAccount

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def client(live_server, settings):
    settings.TATUM_API_URL = f"{live_server.url}/sandbox"
    return tatum_client()


@pytest.fixture
def customer(client):
    account = client.create_account(
        currency="BTC", external_id="live-op-1", accounting_currency="USD", customer_country="DE"
    )
    return client.get_customer(account.customer_id)


def test_create_account_creates_the_customer_it_names(client):
    account = client.create_account(
        currency="ETH", external_id="live-new", provider_country="CZ", account_code="A1"
    )
    assert (account.currency, account.active, account.account_code) == ("ETH", True, "A1")
    assert account.balance.account_balance == Decimal("0")
    created = client.get_customer("live-new")
    assert created.id == account.customer_id
    assert (created.accounting_currency, created.provider_country, created.customer_country) == (
        "EUR",
        "CZ",
        None,
    )


def test_get_by_external_and_internal_id_gives_the_same_customer(client, customer):
    assert client.get_customer("live-op-1") == client.get_customer(customer.id) == customer


def test_list_and_iterate_walk_every_customer_once(client):
    for number in range(7):
        client.create_account(currency="BTC", external_id=f"walk-{number}")
    first_page = client.list_customers(page_size=3, page=0)
    assert [c.external_id for c in first_page] == ["walk-0", "walk-1", "walk-2"]
    assert [c.external_id for c in client.iter_customers(page_size=3)] == [f"walk-{n}" for n in range(7)]


def test_update_changes_only_the_fields_sent(client, customer):
    updated = client.update_customer(customer.id, external_id="live-op-1", provider_country="AT")
    assert (updated.provider_country, updated.customer_country, updated.accounting_currency) == (
        "AT",
        "DE",
        "USD",
    )
    assert client.get_customer(customer.id) == updated


def test_state_changes_follow_tatums_rules(client, customer):
    client.disable_customer(customer.id)
    assert client.get_customer(customer.id).enabled is False
    assert client.list_customer_accounts(customer.id)[0].balance.available_balance == Decimal("0")
    with pytest.raises(TatumRuleError) as already:
        client.disable_customer(customer.id)
    assert already.value.error_code == "customer.disabled"
    client.enable_customer(customer.id)
    with pytest.raises(TatumRuleError) as accounts_active:
        client.deactivate_customer(customer.id)
    assert accounts_active.value.error_code == "customer.deactivate.account.active"
    for account in client.list_customer_accounts(customer.id):
        client.deactivate_account(account.id)
    assert client.list_customer_accounts(customer.id) == []
    client.deactivate_customer(customer.id)
    assert client.get_customer(customer.id).active is False
    client.activate_customer(customer.id)
    assert client.get_customer(customer.id).active is True


def test_deactivating_an_account_with_a_balance_is_refused(client, customer):
    account = client.list_customer_accounts(customer.id)[0]
    LedgerAccount.objects.filter(ledger_id=account.id).update(account_balance="1.5")
    with pytest.raises(TatumRuleError) as refused:
        client.deactivate_account(account.id)
    assert refused.value.error_code == "account.balance.non.zero"


def test_errors_come_back_as_the_right_classes(client, settings):
    with pytest.raises(TatumNotFound) as missing:
        client.get_customer("nobody-here")
    assert missing.value.error_code == "customer.not.exists"
    with pytest.raises(TatumNotFound):
        client.disable_customer("0123456789abcdef01234567")
    calls = ApiCall.objects.count()
    with pytest.raises(TatumInvalidInput):
        client.create_account(currency="BTC", external_id="x", customer_country="XX")
    assert ApiCall.objects.count() == calls  # refused before anything was sent
    wrong_key = TatumClient(
        base_url=settings.TATUM_API_URL,
        api_key="another-key",
        timeout=(2, 5),
        max_rps=100,
        session=process_session(),
        rate_limiter=process_rate_limiter(),
        max_retries=0,
    )
    with pytest.raises(TatumAuthError) as refused:
        wrong_key.get_customer("nobody-here")
    assert refused.value.error_code == "subscription.invalid"
    assert "another-key" not in str(refused.value)


def test_plan_version_and_usage_count_the_credits_spent(client):
    client.create_account(currency="BTC", external_id="credits-1")
    client.get_customer("credits-1")
    version = client.get_version()
    assert version.testnet is True
    usage = client.get_usage()
    assert sum(day.usage for day in usage) == 2 + 1 + 1 + 1
    assert sum(ApiCall.objects.values_list("credits", flat=True)) == 2 + 1 + 1 + 1
