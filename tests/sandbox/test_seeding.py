"""`seed_sandbox`: reproducible, realistic and consistent with the ledger's own rules."""

from __future__ import annotations

import io
import re
from collections import Counter
from decimal import Decimal

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from sandbox import services
from sandbox.models import Account, Customer
from sandbox.reference import COUNTRY_SET, CURRENCY_SET
from tests.sandbox.conftest import make_customer

pytestmark = pytest.mark.django_db

LEDGER_ID = re.compile(r"^[0-9a-f]{24}$")
CUSTOMER_FIELDS = ["ledger_id", "external_id", "active", "enabled", "accounting_currency", "customer_country"]
CUSTOMER_FIELDS += ["provider_country"]
ACCOUNT_FIELDS = ["ledger_id", "customer__ledger_id", "currency", "active", "frozen", "account_balance"]
ACCOUNT_FIELDS += ["available_balance", "disabled_blocked_amount", "account_code", "account_number"]


def _snapshot() -> tuple[list[tuple], list[tuple]]:
    customers = list(Customer.objects.order_by("pk").values_list(*CUSTOMER_FIELDS))
    accounts = list(Account.objects.order_by("pk").values_list(*ACCOUNT_FIELDS))
    return customers, accounts


def _seed(*arguments: str) -> str:
    output = io.StringIO()
    call_command("seed_sandbox", *arguments, stdout=output)
    return output.getvalue()


@pytest.fixture(scope="module")
def seeded_counts(django_db_setup, django_db_blocker):
    """Statistics of one 4,000-customer ledger, computed once for the distribution tests."""
    with django_db_blocker.unblock():
        _seed("--customers", "4000", "--seed", "11", "--reset")
        customers = list(Customer.objects.values(*CUSTOMER_FIELDS))
        accounts = Counter(Account.objects.values_list("customer_id", flat=True))
        per_customer = Counter(accounts.get(pk, 0) for pk in Customer.objects.values_list("pk", flat=True))
        _seed("--customers", "0", "--reset")
    return customers, per_customer


def test_the_same_seed_gives_the_same_ledger_ids_included():
    _seed("--customers", "300", "--seed", "5")
    first = _snapshot()

    _seed("--customers", "300", "--seed", "5", "--reset")

    assert _snapshot() == first
    assert len(first[0]) == 300


def test_a_different_seed_gives_a_different_ledger():
    _seed("--customers", "200", "--seed", "5")
    first = _snapshot()

    _seed("--customers", "200", "--seed", "6", "--reset")

    second = _snapshot()
    assert {row[0] for row in first[0]}.isdisjoint(row[0] for row in second[0])


def test_ids_are_unique_lowercase_24_hex_characters():
    _seed("--customers", "500", "--seed", "3")

    ids = list(Customer.objects.values_list("ledger_id", flat=True))
    ids += list(Account.objects.values_list("ledger_id", flat=True))
    assert all(LEDGER_ID.match(ledger_id) for ledger_id in ids)
    assert len(set(ids)) == len(ids)
    assert Customer.objects.values("external_id").distinct().count() == 500


def test_shares_of_inactive_disabled_and_incomplete_customers(seeded_counts):
    customers, _ = seeded_counts
    total = len(customers)

    inactive = sum(not customer["active"] for customer in customers) / total
    disabled = sum(not customer["enabled"] for customer in customers) / total
    missing = sum(
        not (customer["customer_country"] and customer["provider_country"]) for customer in customers
    )
    both_missing = sum(
        not customer["customer_country"] and not customer["provider_country"] for customer in customers
    )

    assert 0.035 < inactive < 0.065
    assert 0.065 < disabled < 0.095
    assert 0.08 < missing / total < 0.12
    assert both_missing > 0 and both_missing < missing


def test_countries_and_currencies_are_varied_and_valid(seeded_counts):
    customers, _ = seeded_counts
    countries = Counter(
        customer["customer_country"] for customer in customers if customer["customer_country"]
    )
    currencies = Counter(
        customer["accounting_currency"] for customer in customers if customer["accounting_currency"]
    )

    assert set(countries) <= COUNTRY_SET and len(countries) >= 100
    assert set(currencies) <= CURRENCY_SET and len(currencies) >= 30
    assert {"DOGE", "FLOW", "FUSD"} <= set(currencies)
    assert currencies.most_common(1)[0][0] == "EUR"
    assert any(not customer["accounting_currency"] for customer in customers)


def test_customers_have_zero_to_three_accounts(seeded_counts):
    _, per_customer = seeded_counts

    assert set(per_customer) == {0, 1, 2, 3}


def test_account_states_obey_the_ledger_rules():
    _seed("--customers", "1500", "--seed", "9")

    for account in Account.objects.select_related("customer"):
        balance, available = Decimal(account.account_balance), Decimal(account.available_balance)
        blocked = Decimal(account.disabled_blocked_amount)
        assert balance >= 0 and 0 <= available <= balance
        if not account.customer.active:
            assert not account.active and balance == 0
        if account.customer.enabled:
            assert blocked == 0
        else:
            assert available == 0 and 0 <= blocked <= balance
    assert Account.objects.filter(customer__enabled=False).exclude(disabled_blocked_amount="0").exists()
    assert Account.objects.filter(customer__active=True, active=True).exclude(account_balance="0").exists()


def test_seeded_disabled_customers_get_their_balances_back_on_enable():
    _seed("--customers", "400", "--seed", "2")
    blocked_accounts = Account.objects.filter(customer__enabled=False, customer__active=True).exclude(
        disabled_blocked_amount="0"
    )
    customer = blocked_accounts.select_related("customer")[0].customer
    blocked = {account.pk: account.disabled_blocked_amount for account in customer.accounts.all()}

    services.customer_enable(ledger_id=customer.ledger_id)

    assert {account.pk: account.available_balance for account in customer.accounts.all()} == blocked


def test_seeded_inactive_customers_can_be_activated():
    _seed("--customers", "400", "--seed", "2")
    customer = Customer.objects.filter(active=False)[0]

    services.customer_activate(ledger_id=customer.ledger_id)

    assert Customer.objects.get(pk=customer.pk).active


def test_customers_and_accounts_can_still_be_created_after_seeding():
    _seed("--customers", "50", "--seed", "4")

    account = services.account_create(currency="BTC", customer_fields={"externalId": "after-seed"})

    assert account.customer.pk == Customer.objects.order_by("pk").last().pk
    assert Customer.objects.count() == 51


def test_the_command_reports_what_it_seeded():
    output = _seed("--customers", "25", "--seed", "8")

    assert f"Seeded 25 customers and {Account.objects.count()} accounts" in output


def test_if_empty_seeds_an_empty_ledger_and_leaves_a_filled_one_alone():
    _seed("--customers", "20", "--seed", "1", "--if-empty")
    assert Customer.objects.count() == 20

    _seed("--customers", "50", "--seed", "1", "--if-empty")

    assert Customer.objects.count() == 20


def test_reset_replaces_the_ledger():
    make_customer(external_id="hand-made")

    _seed("--customers", "10", "--seed", "1", "--reset")

    assert Customer.objects.count() == 10
    assert not Customer.objects.filter(external_id="hand-made").exists()


def test_seeding_again_without_reset_appends_new_customers():
    _seed("--customers", "30", "--seed", "1")
    _seed("--customers", "30", "--seed", "1")

    assert Customer.objects.count() == 60
    assert Customer.objects.values("ledger_id").distinct().count() == 60


def test_the_command_refuses_conflicting_or_bad_options():
    with pytest.raises(CommandError):
        call_command("seed_sandbox", "--customers", "5", "--reset", "--if-empty")
    with pytest.raises(CommandError):
        call_command("seed_sandbox", "--customers", "-1")
