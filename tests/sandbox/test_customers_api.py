"""Conformance of the customer list, get and update endpoints, over HTTP."""

from __future__ import annotations

import pytest

from sandbox.models import Customer
from sandbox.reference import COUNTRIES, CURRENCIES
from tests.sandbox.conftest import assert_tatum_error, assert_validation_failed, make_customer

pytestmark = pytest.mark.django_db(transaction=True)


def test_list_is_a_bare_array_of_customers_including_inactive_and_disabled(api):
    make_customer(external_id="a", customer_country="DE", provider_country="MT")
    make_customer(external_id="b", active=False)
    make_customer(external_id="c", enabled=False)

    response = api.get("/v3/ledger/customer", params={"pageSize": 10})

    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("application/json")
    body = response.json()
    assert [item["externalId"] for item in body] == ["a", "b", "c"]
    assert [(item["active"], item["enabled"]) for item in body] == [
        (True, True),
        (False, True),
        (True, False),
    ]
    first = Customer.objects.get(external_id="a")
    assert body[0] == {
        "externalId": "a",
        "id": first.ledger_id,
        "enabled": True,
        "active": True,
        "accountingCurrency": "EUR",
        "customerCountry": "DE",
        "providerCountry": "MT",
    }


def test_unset_optional_fields_are_absent_not_null(api):
    customer = make_customer(external_id="bare", accounting_currency="")

    listed = api.get("/v3/ledger/customer", params={"pageSize": 1}).json()[0]
    got = api.get(f"/v3/ledger/customer/{customer.ledger_id}").json()

    for body in (listed, got):
        assert body == {"externalId": "bare", "id": customer.ledger_id, "enabled": True, "active": True}


def test_an_empty_ledger_lists_as_an_empty_array(api):
    response = api.get("/v3/ledger/customer", params={"pageSize": 50, "offset": 0})

    assert response.status_code == 200
    assert response.json() == []


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({}, {"pageSize": {"isInt", "min", "max"}}),
        ({"pageSize": 51}, {"pageSize": {"max"}}),
        ({"pageSize": 0}, {"pageSize": {"min"}}),
        ({"pageSize": -3}, {"pageSize": {"min"}}),
        ({"pageSize": "2.5"}, {"pageSize": {"isInt"}}),
        ({"pageSize": "ten"}, {"pageSize": {"isInt", "min", "max"}}),
        ({"pageSize": 10, "offset": -1}, {"offset": {"min"}}),
        ({"pageSize": 10, "offset": "1.5"}, {"offset": {"isInt"}}),
        ({"pageSize": 10, "offset": "x"}, {"offset": {"isInt", "min"}}),
        ({"pageSize": 99, "offset": -1}, {"pageSize": {"max"}, "offset": {"min"}}),
    ],
)
def test_list_validates_page_size_and_offset(api, params, expected):
    response = api.get("/v3/ledger/customer", params=params)

    assert_validation_failed(response, expected)


def test_list_validation_items_carry_target_value_and_class_validator_sentences(api):
    response = api.get("/v3/ledger/customer", params={"pageSize": 51, "offset": 0})

    [item] = assert_validation_failed(response, {"pageSize": {"max"}})
    assert item == {
        "target": {"pageSize": 51, "offset": 0},
        "value": 51,
        "property": "pageSize",
        "constraints": {"max": "pageSize must not be greater than 50"},
    }
    too_small = api.get("/v3/ledger/customer", params={"pageSize": 0}).json()["data"][0]
    assert too_small["constraints"] == {"min": "pageSize must not be less than 1"}


def test_a_missing_value_is_left_out_of_the_validation_item(api):
    [item] = api.get("/v3/ledger/customer").json()["data"]

    assert "value" not in item
    assert item["target"] == {}


def test_page_size_bounds_are_inclusive(api):
    for number in range(3):
        make_customer(external_id=f"c{number}")

    assert len(api.get("/v3/ledger/customer", params={"pageSize": 1}).json()) == 1
    assert len(api.get("/v3/ledger/customer", params={"pageSize": 50}).json()) == 3


def test_get_finds_a_customer_by_internal_id(api):
    customer = make_customer(external_id="651234", customer_country="US", provider_country="US")

    response = api.get(f"/v3/ledger/customer/{customer.ledger_id}")

    assert response.status_code == 200
    assert response.json() == {
        "externalId": "651234",
        "id": customer.ledger_id,
        "enabled": True,
        "active": True,
        "accountingCurrency": "EUR",
        "customerCountry": "US",
        "providerCountry": "US",
    }


def test_get_finds_a_customer_by_external_id(api):
    customer = make_customer(external_id="operator-42")

    response = api.get("/v3/ledger/customer/operator-42")

    assert response.status_code == 200
    assert response.json()["id"] == customer.ledger_id


def test_get_prefers_an_internal_id_match_over_an_external_id_match(api):
    by_internal = make_customer(external_id="first")
    make_customer(external_id=by_internal.ledger_id)

    response = api.get(f"/v3/ledger/customer/{by_internal.ledger_id}")

    assert response.json()["externalId"] == "first"


def test_get_an_unknown_customer_is_a_403_naming_the_id(api):
    response = api.get("/v3/ledger/customer/nobody-here")

    assert_tatum_error(
        response, 403, "customer.not.exists", "No customer with given external ID nobody-here exists."
    )


def test_get_rejects_an_id_longer_than_100_characters(api):
    response = api.get("/v3/ledger/customer/" + "x" * 101)

    [item] = assert_validation_failed(response, {"id": {"maxLength"}})
    assert item["constraints"]["maxLength"] == "id must be shorter than or equal to 100 characters"


def test_get_accepts_an_id_of_exactly_100_characters(api):
    make_customer(external_id="y" * 100)

    assert api.get("/v3/ledger/customer/" + "y" * 100).status_code == 200


def test_get_decodes_an_escaped_id(api):
    make_customer(external_id="a b/c")

    response = api.get("/v3/ledger/customer/a%20b%2Fc")

    assert response.status_code == 200
    assert response.json()["externalId"] == "a b/c"


def test_update_sets_the_given_fields_and_returns_the_customer(api):
    customer = make_customer(external_id="old", customer_country="DE", provider_country="MT")

    response = api.put(
        f"/v3/ledger/customer/{customer.ledger_id}",
        json={
            "externalId": "new",
            "accountingCurrency": "USD",
            "customerCountry": "FR",
            "providerCountry": "CY",
        },
    )

    assert response.status_code == 200
    expected = {
        "externalId": "new",
        "id": customer.ledger_id,
        "enabled": True,
        "active": True,
        "accountingCurrency": "USD",
        "customerCountry": "FR",
        "providerCountry": "CY",
    }
    assert response.json() == expected
    assert api.get(f"/v3/ledger/customer/{customer.ledger_id}").json() == expected


def test_update_leaves_omitted_and_null_fields_unchanged(api):
    customer = make_customer(external_id="keep", customer_country="DE", provider_country="MT")

    response = api.put(
        f"/v3/ledger/customer/{customer.ledger_id}", json={"externalId": "keep", "customerCountry": None}
    )

    assert response.status_code == 200
    assert response.json()["customerCountry"] == "DE"
    assert response.json()["providerCountry"] == "MT"
    assert response.json()["accountingCurrency"] == "EUR"


def test_update_can_set_a_country_that_was_never_set(api):
    customer = make_customer(external_id="gap")

    response = api.put(
        f"/v3/ledger/customer/{customer.ledger_id}", json={"externalId": "gap", "providerCountry": "LT"}
    )

    assert response.json()["providerCountry"] == "LT"
    assert "customerCountry" not in response.json()


@pytest.mark.parametrize("currency", ["DOGE", "FLOW", "FUSD", "EUR", "XAU", CURRENCIES[0], CURRENCIES[-1]])
def test_update_accepts_every_listed_currency_including_four_letter_codes(api, currency):
    customer = make_customer()

    response = api.put(
        f"/v3/ledger/customer/{customer.ledger_id}",
        json={"externalId": customer.external_id, "accountingCurrency": currency},
    )

    assert response.status_code == 200
    assert response.json()["accountingCurrency"] == currency


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ({}, {"externalId": {"isLength"}}),
        ({"externalId": ""}, {"externalId": {"isLength"}}),
        ({"externalId": "x" * 101}, {"externalId": {"isLength"}}),
        ({"externalId": 12345}, {"externalId": {"isLength"}}),
        ({"externalId": None}, {"externalId": {"isLength"}}),
        ({"externalId": "ok", "accountingCurrency": "ETH"}, {"accountingCurrency": {"isIn"}}),
        ({"externalId": "ok", "accountingCurrency": "eur"}, {"accountingCurrency": {"isIn"}}),
        ({"externalId": "ok", "customerCountry": "AQ"}, {"customerCountry": {"isIn"}}),
        ({"externalId": "ok", "customerCountry": "USA"}, {"customerCountry": {"isLength", "isIn"}}),
        ({"externalId": "ok", "providerCountry": "X"}, {"providerCountry": {"isLength", "isIn"}}),
        ({"externalId": "ok", "providerCountry": 44}, {"providerCountry": {"isLength", "isIn"}}),
        (
            {"accountingCurrency": "XXX", "customerCountry": "ZZ", "providerCountry": "de"},
            {
                "externalId": {"isLength"},
                "accountingCurrency": {"isIn"},
                "customerCountry": {"isIn"},
                "providerCountry": {"isIn"},
            },
        ),
    ],
)
def test_update_validates_the_body_field_by_field(api, body, expected):
    customer = make_customer(external_id="unchanged")

    response = api.put(f"/v3/ledger/customer/{customer.ledger_id}", json=body)

    assert_validation_failed(response, expected)
    assert Customer.objects.get(pk=customer.pk).external_id == "unchanged"


def test_update_validation_sentences_follow_class_validator(api):
    customer = make_customer()
    url = f"/v3/ledger/customer/{customer.ledger_id}"

    missing = api.put(url, json={}).json()["data"][0]
    too_long = api.put(url, json={"externalId": "x" * 101}).json()["data"][0]
    bad_country = api.put(url, json={"externalId": "ok", "customerCountry": "ZZ"}).json()["data"][0]

    assert missing["constraints"] == {"isLength": "externalId must be longer than or equal to 1 characters"}
    assert "value" not in missing
    assert too_long["constraints"] == {
        "isLength": "externalId must be shorter than or equal to 100 characters"
    }
    assert bad_country["value"] == "ZZ"
    assert bad_country["target"] == {"externalId": "ok", "customerCountry": "ZZ"}
    assert bad_country["constraints"]["isIn"] == (
        "customerCountry must be one of the following values: " + ", ".join(COUNTRIES)
    )


def test_update_accepts_an_external_id_of_100_characters(api):
    customer = make_customer()

    response = api.put(f"/v3/ledger/customer/{customer.ledger_id}", json={"externalId": "z" * 100})

    assert response.status_code == 200


@pytest.mark.parametrize(("length", "rule"), [(9, "minLength"), (51, "maxLength")])
def test_update_validates_the_internal_id_length(api, length, rule):
    response = api.put("/v3/ledger/customer/" + "a" * length, json={"externalId": "x"})

    [item] = assert_validation_failed(response, {"id": {rule}})
    assert item["value"] == "a" * length


def test_update_of_an_unknown_customer_is_a_403(api):
    response = api.put("/v3/ledger/customer/0123456789abcdef01234567", json={"externalId": "x"})

    assert_tatum_error(response, 403, "customer.internal.not.exists", "No such customer.")


def test_update_with_malformed_json_is_a_400_and_changes_nothing(api):
    customer = make_customer(external_id="same")

    response = api.put(
        f"/v3/ledger/customer/{customer.ledger_id}",
        data='{"externalId": "new",',
        headers={"Content-Type": "application/json"},
    )

    assert response.status_code == 400
    assert response.json()["statusCode"] == 400
    assert Customer.objects.get(pk=customer.pk).external_id == "same"


def test_update_with_a_json_scalar_body_is_a_400(api):
    customer = make_customer()

    response = api.put(
        f"/v3/ledger/customer/{customer.ledger_id}", data="42", headers={"Content-Type": "application/json"}
    )

    assert response.status_code == 400


def test_update_to_an_external_id_another_customer_has_is_refused(api):
    make_customer(external_id="taken")
    customer = make_customer(external_id="mine")

    response = api.put(f"/v3/ledger/customer/{customer.ledger_id}", json={"externalId": "taken"})

    assert_tatum_error(response, 403, "customer.external.id.exists")
    assert Customer.objects.get(pk=customer.pk).external_id == "mine"


def test_update_works_on_inactive_and_disabled_customers(api):
    inactive = make_customer(active=False)
    disabled = make_customer(enabled=False)

    for customer in (inactive, disabled):
        response = api.put(
            f"/v3/ledger/customer/{customer.ledger_id}", json={"externalId": f"{customer.pk}-new"}
        )
        assert response.status_code == 200
        assert response.json()["externalId"] == f"{customer.pk}-new"
