"""Account creation (the only way customers come into being), listing and deactivation, over HTTP."""

from __future__ import annotations

import re

import pytest

from sandbox.models import Account, Customer
from tests.sandbox.conftest import assert_tatum_error, assert_validation_failed, make_account, make_customer

pytestmark = pytest.mark.django_db(transaction=True)

LEDGER_ID = re.compile(r"^[0-9a-f]{24}$")


def test_creating_an_account_creates_its_customer_with_eur_by_default(api):
    response = api.post("/v3/ledger/account", json={"currency": "BTC", "customer": {"externalId": "new-1"}})

    assert response.status_code == 200
    account = response.json()
    customer = Customer.objects.get(external_id="new-1")
    assert LEDGER_ID.match(account["id"]) and LEDGER_ID.match(customer.ledger_id)
    assert account == {
        "id": account["id"],
        "active": True,
        "frozen": False,
        "currency": "BTC",
        "balance": {"accountBalance": "0", "availableBalance": "0"},
        "customerId": customer.ledger_id,
        "accountingCurrency": "EUR",
    }
    assert api.get("/v3/ledger/customer/new-1").json() == {
        "externalId": "new-1",
        "id": customer.ledger_id,
        "enabled": True,
        "active": True,
        "accountingCurrency": "EUR",
    }


def test_creating_an_account_stores_every_given_customer_and_account_field(api):
    body = {
        "currency": "USDT_TRON",
        "customer": {
            "externalId": "full",
            "accountingCurrency": "FUSD",
            "customerCountry": "CZ",
            "providerCountry": "MT",
        },
        "accountCode": "DEPOSIT",
        "accountNumber": "1234567890",
        "accountingCurrency": "GBP",
        "compliant": False,
    }

    account = api.post("/v3/ledger/account", json=body).json()

    assert account["accountCode"] == "DEPOSIT"
    assert account["accountNumber"] == "1234567890"
    assert account["accountingCurrency"] == "GBP"
    customer = api.get("/v3/ledger/customer/full").json()
    assert (customer["accountingCurrency"], customer["customerCountry"], customer["providerCountry"]) == (
        "FUSD",
        "CZ",
        "MT",
    )


def test_an_account_takes_its_customers_accounting_currency_when_it_has_none(api):
    account = api.post(
        "/v3/ledger/account",
        json={"currency": "ETH", "customer": {"externalId": "c", "accountingCurrency": "CHF"}},
    ).json()

    assert account["accountingCurrency"] == "CHF"


def test_an_existing_external_id_gets_the_new_account_and_only_the_given_fields_change(api):
    customer = make_customer(
        external_id="known", customer_country="DE", provider_country="MT", accounting_currency="USD"
    )

    response = api.post(
        "/v3/ledger/account",
        json={"currency": "LTC", "customer": {"externalId": "known", "providerCountry": "CY"}},
    )

    assert response.status_code == 200
    assert response.json()["customerId"] == customer.ledger_id
    assert Customer.objects.count() == 1
    stored = api.get("/v3/ledger/customer/known").json()
    assert (stored["accountingCurrency"], stored["customerCountry"], stored["providerCountry"]) == (
        "USD",
        "DE",
        "CY",
    )


def test_an_account_without_a_customer_has_no_customer_id(api):
    response = api.post("/v3/ledger/account", json={"currency": "XLM"})

    assert response.status_code == 200
    assert "customerId" not in response.json()
    assert Customer.objects.count() == 0


def test_an_inactive_customer_cannot_get_an_account_and_nothing_changes(api):
    make_customer(external_id="asleep", active=False, customer_country="DE")

    response = api.post(
        "/v3/ledger/account",
        json={"currency": "BTC", "customer": {"externalId": "asleep", "customerCountry": "FR"}},
    )

    assert_tatum_error(response, 403, "customer.not.active")
    assert Account.objects.count() == 0
    assert Customer.objects.get(external_id="asleep").customer_country == "DE"


def test_a_disabled_customer_cannot_get_an_account(api):
    make_customer(external_id="blocked", enabled=False)

    response = api.post("/v3/ledger/account", json={"currency": "BTC", "customer": {"externalId": "blocked"}})

    assert_tatum_error(response, 403, "customer.disabled")
    assert Account.objects.count() == 0


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ({}, {"currency": {"isNotEmpty", "isLength"}}),
        ({"currency": ""}, {"currency": {"isNotEmpty", "isLength"}}),
        ({"currency": "B"}, {"currency": {"isLength"}}),
        ({"currency": "X" * 41}, {"currency": {"isLength"}}),
        ({"currency": "BTC", "customer": "someone"}, {"customer": {"nestedValidation"}}),
        ({"currency": "BTC", "customer": {}}, {"customer.externalId": {"isLength"}}),
        ({"currency": "BTC", "customer": {"externalId": "x" * 101}}, {"customer.externalId": {"isLength"}}),
        (
            {
                "currency": "BTC",
                "customer": {"externalId": "e", "customerCountry": "XX", "providerCountry": "GBR"},
            },
            {"customer.customerCountry": {"isIn"}, "customer.providerCountry": {"isLength", "isIn"}},
        ),
        (
            {"currency": "BTC", "customer": {"externalId": "e", "accountingCurrency": "BTC"}},
            {"customer.accountingCurrency": {"isIn"}},
        ),
        ({"currency": "BTC", "accountingCurrency": "ETH"}, {"accountingCurrency": {"isIn"}}),
        ({"currency": "BTC", "compliant": "yes"}, {"compliant": {"isBoolean"}}),
        ({"currency": "BTC", "accountCode": "c" * 51}, {"accountCode": {"isLength"}}),
        ({"currency": "BTC", "accountNumber": ""}, {"accountNumber": {"isLength"}}),
        ({"currency": "BTC", "accountNumber": "n" * 51}, {"accountNumber": {"isLength"}}),
    ],
)
def test_account_creation_validates_the_body(api, body, expected):
    response = api.post("/v3/ledger/account", json=body)

    assert_validation_failed(response, expected)
    assert Account.objects.count() == 0


def test_account_creation_accepts_the_longest_allowed_values(api):
    body = {
        "currency": "C" * 40,
        "accountCode": "c" * 50,
        "accountNumber": "n" * 50,
        "customer": {"externalId": "e" * 100},
    }

    assert api.post("/v3/ledger/account", json=body).status_code == 200


def test_account_creation_with_malformed_json_is_a_400(api):
    response = api.post(
        "/v3/ledger/account", data="{currency: BTC}", headers={"Content-Type": "application/json"}
    )

    assert response.status_code == 400
    assert response.json()["statusCode"] == 400
    assert Account.objects.count() == 0


def test_customer_accounts_lists_only_active_accounts_as_a_bare_array(api):
    customer = make_customer(accounting_currency="USD")
    first = make_account(
        customer, balance="1.5", available="1", account_code="FEES", accounting_currency="USD"
    )
    make_account(customer, balance="0", active=False)
    second = make_account(
        customer, balance="2", currency="ETH", account_number="77", accounting_currency="USD"
    )
    make_account(make_customer(), balance="9")

    response = api.get(f"/v3/ledger/account/customer/{customer.ledger_id}", params={"pageSize": 10})

    assert response.status_code == 200
    assert response.json() == [
        {
            "id": first.ledger_id,
            "active": True,
            "frozen": False,
            "currency": "BTC",
            "balance": {"accountBalance": "1.5", "availableBalance": "1"},
            "customerId": customer.ledger_id,
            "accountCode": "FEES",
            "accountingCurrency": "USD",
        },
        {
            "id": second.ledger_id,
            "active": True,
            "frozen": False,
            "currency": "ETH",
            "balance": {"accountBalance": "2", "availableBalance": "2"},
            "customerId": customer.ledger_id,
            "accountNumber": "77",
            "accountingCurrency": "USD",
        },
    ]


def test_customer_accounts_of_an_unknown_customer_is_an_empty_array(api):
    response = api.get("/v3/ledger/account/customer/0123456789abcdef01234567", params={"pageSize": 10})

    assert response.status_code == 200
    assert response.json() == []


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({}, {"pageSize": {"isInt", "min", "max"}}),
        ({"pageSize": 51}, {"pageSize": {"max"}}),
        ({"pageSize": 5, "offset": -2}, {"offset": {"min"}}),
    ],
)
def test_customer_accounts_validates_paging(api, params, expected):
    customer = make_customer()

    response = api.get(f"/v3/ledger/account/customer/{customer.ledger_id}", params=params)

    assert_validation_failed(response, expected)


def test_deactivating_an_account_with_a_zero_balance_removes_it_from_the_active_list(api):
    customer = make_customer()
    account = make_account(customer, balance="0")

    response = api.put(f"/v3/ledger/account/{account.ledger_id}/deactivate")

    assert response.status_code == 204
    assert response.content == b""
    assert api.get(f"/v3/ledger/account/customer/{customer.ledger_id}", params={"pageSize": 10}).json() == []


def test_an_account_with_a_balance_cannot_be_deactivated(api):
    account = make_account(make_customer(), balance="0.00000001", available="0")

    response = api.put(f"/v3/ledger/account/{account.ledger_id}/deactivate")

    assert_tatum_error(response, 403, "account.balance.non.zero")
    account.refresh_from_db()
    assert account.active


def test_deactivating_an_unknown_account_is_a_403(api):
    response = api.put("/v3/ledger/account/0123456789abcdef01234567/deactivate")

    assert_tatum_error(response, 403, "account.not.exists")


def test_deactivating_an_inactive_account_again_is_refused(api):
    account = make_account(make_customer(), balance="0", active=False)

    assert_tatum_error(api.put(f"/v3/ledger/account/{account.ledger_id}/deactivate"), 403, "account.inactive")


def test_account_deactivation_validates_the_id_length(api):
    assert_validation_failed(api.put("/v3/ledger/account/short/deactivate"), {"id": {"minLength"}})
