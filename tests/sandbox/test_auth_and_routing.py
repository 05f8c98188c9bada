"""API keys, the ignored testnet header, unknown paths, wrong methods, 500s and latency."""

from __future__ import annotations

import time

import pytest

from sandbox import selectors
from tests.sandbox.conftest import NO_KEY, assert_tatum_error, make_customer

pytestmark = pytest.mark.django_db(transaction=True)

ID = "0123456789abcdef01234567"
ENDPOINTS = [
    ("GET", "/v3/ledger/customer?pageSize=10"),
    ("GET", f"/v3/ledger/customer/{ID}"),
    ("PUT", f"/v3/ledger/customer/{ID}"),
    ("PUT", f"/v3/ledger/customer/{ID}/activate"),
    ("PUT", f"/v3/ledger/customer/{ID}/deactivate"),
    ("PUT", f"/v3/ledger/customer/{ID}/enable"),
    ("PUT", f"/v3/ledger/customer/{ID}/disable"),
    ("POST", "/v3/ledger/account"),
    ("GET", f"/v3/ledger/account/customer/{ID}?pageSize=10"),
    ("PUT", f"/v3/ledger/account/{ID}/deactivate"),
    ("GET", "/v3/tatum/version"),
    ("GET", "/v3/tatum/usage"),
]


@pytest.mark.parametrize(("method", "path"), ENDPOINTS)
def test_a_wrong_key_is_a_401_naming_the_key(api, method, path):
    response = api.request(method, path, key="not-my-key", json={"externalId": "x", "currency": "BTC"})

    assert_tatum_error(
        response, 401, "subscription.invalid", "Unable to find valid subscription for 'not-my-key'"
    )


@pytest.mark.parametrize(("method", "path"), ENDPOINTS)
def test_a_missing_key_is_a_401(api, method, path):
    response = api.request(method, path, key=NO_KEY)

    assert_tatum_error(response, 401, "ip-address-key.unauthorized")


def test_an_empty_key_counts_as_missing(api):
    response = api.get("/v3/tatum/version", key="")

    assert_tatum_error(response, 401, "ip-address-key.unauthorized")


def test_the_key_is_checked_before_the_input(api):
    response = api.get("/v3/ledger/customer?pageSize=500", key="nope")

    assert response.status_code == 401


def test_only_the_configured_key_is_accepted(api, settings):
    settings.SANDBOX_API_KEY = "rotated"

    assert api.get("/v3/tatum/version", key="sandbox-key").status_code == 401
    assert api.get("/v3/tatum/version", key="rotated").status_code == 200


@pytest.mark.parametrize("testnet_type", ["ethereum-sepolia", "bitcoin-testnet", "nonsense"])
def test_the_testnet_type_header_is_accepted_and_ignored(api, testnet_type):
    customer = make_customer(external_id="t1", customer_country="DE")
    plain = api.get(f"/v3/ledger/customer/{customer.ledger_id}")

    with_header = api.get(
        f"/v3/ledger/customer/{customer.ledger_id}", headers={"x-testnet-type": testnet_type}
    )
    update = api.put(
        f"/v3/ledger/customer/{customer.ledger_id}",
        json={"externalId": "t1"},
        headers={"x-testnet-type": testnet_type},
    )

    assert with_header.status_code == plain.status_code == 200
    assert with_header.json() == plain.json()
    assert update.status_code == 200


@pytest.mark.parametrize(
    ("method", "path", "message"),
    [
        ("GET", "/v3/whatever", "Cannot GET /v3/whatever"),
        ("POST", "/v3/ledger/transaction", "Cannot POST /v3/ledger/transaction"),
        ("GET", "/v3/tatum/version/extra?x=1", "Cannot GET /v3/tatum/version/extra?x=1"),
        ("GET", "/", "Cannot GET /"),
    ],
)
def test_unknown_paths_answer_the_gateways_json_404_even_without_a_key(api, method, path, message):
    response = api.request(method, path, key=NO_KEY)

    assert response.status_code == 404
    assert response.json() == {"statusCode": 404, "message": message, "error": "Not Found"}


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/v3/ledger/customer/a/b/c"),
        ("GET", f"/v3/ledger/customer/{ID}/activate"),
        ("GET", f"/v3/ledger/customer/{ID}/"),
        ("PUT", f"/v3/ledger/customer/{ID}/unknown-action"),
        ("PUT", f"/v3/ledger/customer/{ID}/enable/"),
    ],
)
def test_ledger_customer_paths_never_answer_404(api, method, path):
    response = api.request(method, path, json={"externalId": "x"})

    assert response.status_code == 403
    assert response.json()["errorCode"] in {"customer.not.exists", "customer.internal.not.exists"}


def test_a_trailing_slash_is_optional(api):
    make_customer()

    assert api.get("/v3/ledger/customer/?pageSize=5").status_code == 200
    assert api.get("/v3/tatum/version/").status_code == 200


@pytest.mark.parametrize(
    ("method", "path", "allowed"),
    [
        ("DELETE", f"/v3/ledger/customer/{ID}", "GET, PUT"),
        ("POST", "/v3/ledger/customer", "GET"),
        ("POST", f"/v3/ledger/customer/{ID}/disable", "GET, PUT"),
        ("GET", "/v3/ledger/account", "POST"),
    ],
)
def test_a_wrong_method_on_a_known_path_is_a_405(api, method, path, allowed):
    response = api.request(method, path)

    assert response.status_code == 405
    assert response.headers["Allow"] == allowed
    assert response.json()["statusCode"] == 405


def test_an_unexpected_error_answers_tatums_500_body(api, monkeypatch):
    def broken(**kwargs):
        raise RuntimeError("database on fire")

    monkeypatch.setattr(selectors, "customer_list", broken)

    response = api.get("/v3/ledger/customer", params={"pageSize": 5})

    assert response.status_code == 500
    assert response.json() == {"statusCode": 500, "message": "Internal server error"}


def test_the_sandbox_needs_no_dashboard_login_or_csrf_token(api):
    customer = make_customer()

    response = api.put(f"/v3/ledger/customer/{customer.ledger_id}/disable", allow_redirects=False)

    assert response.status_code == 204


def test_latency_delays_every_answer(api, settings):
    settings.SANDBOX_LATENCY_MS = 150

    for method, path, key in (
        ("GET", "/v3/tatum/version", None),
        ("GET", "/v3/nothing", None),
        ("GET", "/v3/tatum/usage", NO_KEY),
    ):
        started = time.monotonic()
        api.request(method, path, key=key)
        assert time.monotonic() - started >= 0.15
