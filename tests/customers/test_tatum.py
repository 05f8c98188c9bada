from __future__ import annotations

import itertools
import json
import logging
import re
import socket
import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from email.utils import format_datetime
from http.client import RemoteDisconnected
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import requests
import responses
from responses import matchers
from urllib3.exceptions import MaxRetryError, NewConnectionError, ProtocolError

from customers.context import acting_as
from customers.credits.client import process_rate_limiter, process_session, tatum_client
from customers.credits.models import ApiCall
from customers.tatum import (
    CREDIT_COSTS,
    Account,
    Balance,
    CallRecord,
    Customer,
    PlanVersion,
    TatumAuthError,
    TatumClient,
    TatumError,
    TatumInvalidInput,
    TatumNotFound,
    TatumOutcomeUnknown,
    TatumProtocolError,
    TatumRateLimited,
    TatumRuleError,
    TatumServerError,
    TatumUnavailable,
    TatumValidationError,
    UsageDay,
    external_id_problem,
    id_problem,
    new_session,
    tatum_length,
)

BASE = "https://tatum.test"
KEY = "key-7f3a9c21d4e84b6f"
ID = "5e68c66581f2ee32bc354087"
CUSTOMERS = f"{BASE}/v3/ledger/customer"
CUSTOMER = f"{CUSTOMERS}/{ID}"
ANY_TATUM_URL = re.compile(r"https://tatum\.test/.*")

CUSTOMER_JSON: dict[str, Any] = {
    "id": ID,
    "externalId": "op-1001",
    "active": True,
    "enabled": True,
    "accountingCurrency": "EUR",
    "customerCountry": "DE",
    "providerCountry": "CZ",
}
BARE_CUSTOMER_JSON: dict[str, Any] = {
    "id": "5e68c66581f2ee32bc354088",
    "externalId": "op-2",
    "active": False,
    "enabled": False,
}
ACCOUNT_JSON: dict[str, Any] = {
    "id": "5fb7bd2e5f4a1c2b3d4e5f60",
    "active": True,
    "frozen": False,
    "currency": "BTC",
    "balance": {"accountBalance": "1.50000001", "availableBalance": "0.5"},
    "customerId": ID,
    "accountCode": "AC_1",
    "accountNumber": "123456",
    "accountingCurrency": "EUR",
}


class NoWaitLimiter:
    """Gives every call its slot at once, and notes what the client asked of it."""

    def __init__(self) -> None:
        self.waits: list[float] = []
        self.hold_offs: list[float] = []

    def wait(self, max_rps: float) -> float:
        self.waits.append(max_rps)
        return 0.0

    def hold_off(self, seconds: float) -> None:
        self.hold_offs.append(seconds)


@pytest.fixture
def limiter() -> NoWaitLimiter:
    return NoWaitLimiter()


@pytest.fixture
def sleeps() -> list[float]:
    return []


@pytest.fixture
def records() -> list[CallRecord]:
    return []


@pytest.fixture
def session() -> Iterator[requests.Session]:
    session = new_session(pool_size=2)
    yield session
    session.close()


@pytest.fixture
def make_client(
    sleeps: list[float], records: list[CallRecord], session: requests.Session, limiter: NoWaitLimiter
) -> Callable[..., TatumClient]:
    def make(**overrides: Any) -> TatumClient:
        options: dict[str, Any] = {
            "base_url": BASE,
            "api_key": KEY,
            "timeout": (1.0, 2.0),
            "max_rps": 1000.0,
            "session": session,
            "rate_limiter": limiter,
            "on_call": records.append,
            "backoff": 0.1,
            "sleep": sleeps.append,
        }
        options.update(overrides)
        return TatumClient(**options)

    return make


@pytest.fixture
def api(make_client: Callable[..., TatumClient]) -> TatumClient:
    return make_client()


def customer_json(number: int) -> dict[str, Any]:
    return {
        "id": f"5e68c66581f2ee32bc35{number:04d}",
        "externalId": f"op-{number}",
        "active": True,
        "enabled": True,
    }


def error_body(
    status: int, code: str, message: str, data: list[dict[str, Any]] | None = None
) -> dict[str, Any]:
    body: dict[str, Any] = {"statusCode": status, "errorCode": code, "message": message}
    if data is not None:
        body["data"] = data
    return body


def sent_json(call: Any) -> Any:
    return json.loads(call.request.body)


# --- Operations ------------------------------------------------------------------------------------


def test_list_customers_sends_page_size_and_a_record_offset_and_parses_the_array(
    api: TatumClient, mocked_responses: responses.RequestsMock
) -> None:
    mocked_responses.get(
        CUSTOMERS,
        json=[CUSTOMER_JSON, BARE_CUSTOMER_JSON],
        match=[matchers.query_param_matcher({"pageSize": "10", "offset": "20"})],
    )

    customers = api.list_customers(page_size=10, page=2)

    assert customers == [
        Customer(ID, "op-1001", True, True, "EUR", "DE", "CZ"),
        Customer("5e68c66581f2ee32bc354088", "op-2", False, False, None, None, None),
    ]


def test_list_customers_sends_the_page_index_as_offset_in_pages_mode(
    make_client: Callable[..., TatumClient], mocked_responses: responses.RequestsMock
) -> None:
    mocked_responses.get(
        CUSTOMERS, json=[], match=[matchers.query_param_matcher({"pageSize": "10", "offset": "2"})]
    )

    assert make_client(offset_mode="pages").list_customers(page_size=10, page=2) == []


def test_list_customers_defaults_to_the_first_page_of_fifty(
    api: TatumClient, mocked_responses: responses.RequestsMock
) -> None:
    mocked_responses.get(
        CUSTOMERS, json=[], match=[matchers.query_param_matcher({"pageSize": "50", "offset": "0"})]
    )

    assert api.list_customers() == []


def test_client_refuses_an_unknown_offset_mode(make_client: Callable[..., TatumClient]) -> None:
    with pytest.raises(ValueError, match="offset_mode"):
        make_client(offset_mode="bytes")


def test_get_customer_reads_one_customer_by_its_external_id(
    api: TatumClient, mocked_responses: responses.RequestsMock
) -> None:
    mocked_responses.get(f"{CUSTOMERS}/op-1001", json=CUSTOMER_JSON)

    customer = api.get_customer("op-1001")

    assert customer.id == ID
    assert customer.external_id == "op-1001"
    assert customer.compliance_gap is False


def test_update_customer_sends_only_the_fields_given_and_returns_the_updated_customer(
    api: TatumClient, mocked_responses: responses.RequestsMock
) -> None:
    updated = {**CUSTOMER_JSON, "customerCountry": "AT"}
    mocked_responses.put(
        CUSTOMER,
        json=updated,
        match=[
            matchers.json_params_matcher(
                {"externalId": "op-1001", "customerCountry": "AT"}, strict_match=True
            )
        ],
    )

    customer = api.update_customer(ID, external_id="op-1001", customer_country="AT")

    assert customer.customer_country == "AT"
    assert customer.provider_country == "CZ"


def test_update_customer_sends_every_optional_field_when_given(
    api: TatumClient, mocked_responses: responses.RequestsMock
) -> None:
    expected = {
        "externalId": "op-9",
        "accountingCurrency": "DOGE",
        "customerCountry": "GG",
        "providerCountry": "IM",
    }
    mocked_responses.put(
        CUSTOMER, json=CUSTOMER_JSON, match=[matchers.json_params_matcher(expected, strict_match=True)]
    )

    api.update_customer(
        ID, external_id="op-9", accounting_currency="DOGE", customer_country="GG", provider_country="IM"
    )


@pytest.mark.parametrize("action", ["activate", "deactivate", "enable", "disable"])
def test_state_changes_put_to_the_action_path_without_a_body(
    action: str, api: TatumClient, mocked_responses: responses.RequestsMock
) -> None:
    mocked_responses.put(f"{CUSTOMER}/{action}", status=204)

    result = getattr(api, f"{action}_customer")(ID)

    assert result is None
    assert mocked_responses.calls[0].request.body is None


def test_state_change_accepts_a_200_with_a_body_instead_of_a_204(
    api: TatumClient, mocked_responses: responses.RequestsMock
) -> None:
    mocked_responses.put(f"{CUSTOMER}/disable", json={"ok": True})

    assert api.disable_customer(ID) is None


def test_list_customer_accounts_parses_exact_decimal_balances(
    api: TatumClient, mocked_responses: responses.RequestsMock
) -> None:
    mocked_responses.get(
        f"{BASE}/v3/ledger/account/customer/{ID}",
        json=[
            ACCOUNT_JSON,
            {
                **ACCOUNT_JSON,
                "id": "5fb7bd2e5f4a1c2b3d4e5f61",
                "balance": {"accountBalance": 2, "availableBalance": 0},
                "accountCode": None,
            },
        ],
        match=[matchers.query_param_matcher({"pageSize": "5", "offset": "5"})],
    )

    accounts = api.list_customer_accounts(ID, page_size=5, page=1)

    assert accounts[0] == Account(
        id="5fb7bd2e5f4a1c2b3d4e5f60",
        active=True,
        frozen=False,
        currency="BTC",
        balance=Balance(Decimal("1.50000001"), Decimal("0.5")),
        customer_id=ID,
        account_code="AC_1",
        account_number="123456",
        accounting_currency="EUR",
    )
    assert accounts[1].balance == Balance(Decimal(2), Decimal(0))
    assert accounts[1].account_code is None


def test_create_account_sends_the_customer_object_and_parses_the_account(
    api: TatumClient, mocked_responses: responses.RequestsMock
) -> None:
    expected = {
        "currency": "BTC",
        "customer": {
            "externalId": "op-1001",
            "accountingCurrency": "USD",
            "customerCountry": "DE",
            "providerCountry": "CZ",
        },
        "accountCode": "AC_1",
        "accountNumber": "123456",
    }
    mocked_responses.post(
        f"{BASE}/v3/ledger/account",
        json=ACCOUNT_JSON,
        match=[matchers.json_params_matcher(expected, strict_match=True)],
    )

    account = api.create_account(
        currency="BTC",
        external_id="op-1001",
        accounting_currency="USD",
        customer_country="DE",
        provider_country="CZ",
        account_code="AC_1",
        account_number="123456",
    )

    assert account.customer_id == ID
    assert account.balance.available_balance == Decimal("0.5")


def test_create_account_without_a_customer_sends_only_the_currency(
    api: TatumClient, mocked_responses: responses.RequestsMock
) -> None:
    mocked_responses.post(
        f"{BASE}/v3/ledger/account",
        json={**ACCOUNT_JSON, "customerId": None},
        match=[matchers.json_params_matcher({"currency": "VC_TOKEN"}, strict_match=True)],
    )

    assert api.create_account(currency="VC_TOKEN").customer_id is None


def test_deactivate_account_puts_to_the_account_path(
    api: TatumClient, mocked_responses: responses.RequestsMock
) -> None:
    mocked_responses.put(f"{BASE}/v3/ledger/account/5fb7bd2e5f4a1c2b3d4e5f60/deactivate", status=204)

    assert api.deactivate_account("5fb7bd2e5f4a1c2b3d4e5f60") is None


def test_get_version_parses_the_plan(api: TatumClient, mocked_responses: responses.RequestsMock) -> None:
    mocked_responses.get(
        f"{BASE}/v3/tatum/version",
        json={
            "version": "3.18.3",
            "testnet": True,
            "planName": "Free",
            "planCode": "FREE",
            "price": 0,
            "expiration": 1767225600000,
            "creditLimit": 100000,
            "usage": 42,
            "rolloverDay": 1,
        },
    )

    assert api.get_version() == PlanVersion(
        version="3.18.3",
        testnet=True,
        plan_name="Free",
        plan_code="FREE",
        price=Decimal(0),
        expiration=1767225600000,
        credit_limit=100000,
        usage=42,
        rollover_day=1,
    )


def test_get_version_tolerates_absent_plan_details(
    api: TatumClient, mocked_responses: responses.RequestsMock
) -> None:
    mocked_responses.get(f"{BASE}/v3/tatum/version", json={"version": "sandbox", "testnet": False})

    version = api.get_version()

    assert (version.testnet, version.plan_name, version.credit_limit) == (False, None, None)


def test_get_usage_parses_days_in_tatums_month_first_format(
    api: TatumClient, mocked_responses: responses.RequestsMock
) -> None:
    mocked_responses.get(
        f"{BASE}/v3/tatum/usage", json=[{"day": "12/31/2025", "usage": 7}, {"day": "01/01/2026", "usage": 0}]
    )

    assert api.get_usage() == [UsageDay(date(2025, 12, 31), 7), UsageDay(date(2026, 1, 1), 0)]


def test_every_call_sends_the_key_json_accept_user_agent_and_request_id(
    make_client: Callable[..., TatumClient], mocked_responses: responses.RequestsMock
) -> None:
    mocked_responses.get(f"{BASE}/v3/tatum/usage", json=[])

    make_client(request_id=lambda: "req-4d2f9a").get_usage()

    headers = mocked_responses.calls[0].request.headers
    assert headers["x-api-key"] == KEY
    assert headers["Accept"] == "application/json"
    assert headers["User-Agent"].startswith("tatum-customer-dashboard/")
    assert headers["X-Request-ID"] == "req-4d2f9a"
    # What a requests session sends by default: compressed answers are welcome, the connection is kept.
    assert headers["Accept-Encoding"] == requests.utils.default_headers()["Accept-Encoding"]
    assert headers["Connection"] == "keep-alive"


def test_cookies_tatum_sets_are_never_sent_back(
    api: TatumClient, mocked_responses: responses.RequestsMock
) -> None:
    mocked_responses.get(f"{BASE}/v3/tatum/usage", json=[], headers={"Set-Cookie": "track=1; Path=/"})

    api.get_usage()
    api.get_usage()

    assert [call.request.headers.get("Cookie") for call in mocked_responses.calls] == [None, None]


@pytest.mark.parametrize("request_id", [None, lambda: ""])
def test_no_request_id_is_sent_when_there_is_none(
    request_id: Callable[[], str] | None,
    make_client: Callable[..., TatumClient],
    mocked_responses: responses.RequestsMock,
) -> None:
    mocked_responses.get(f"{BASE}/v3/tatum/usage", json=[])

    make_client(request_id=request_id).get_usage()

    assert "X-Request-ID" not in mocked_responses.calls[0].request.headers


def test_base_url_with_a_path_prefix_and_trailing_slash_is_joined_once(
    make_client: Callable[..., TatumClient], mocked_responses: responses.RequestsMock
) -> None:
    mocked_responses.get(f"{BASE}/sandbox/v3/tatum/usage", json=[])

    make_client(base_url=f"{BASE}/sandbox/").get_usage()

    assert urlsplit(mocked_responses.calls[0].request.url).path == "/sandbox/v3/tatum/usage"


# --- iter_customers --------------------------------------------------------------------------------


def test_iter_customers_reads_page_after_page_until_a_short_page(
    api: TatumClient, mocked_responses: responses.RequestsMock
) -> None:
    pages = {
        0: [customer_json(1), customer_json(2)],
        2: [customer_json(3), customer_json(4)],
        4: [customer_json(5)],
    }
    for offset, page in pages.items():
        mocked_responses.get(
            CUSTOMERS,
            json=page,
            match=[matchers.query_param_matcher({"pageSize": "2", "offset": str(offset)})],
        )

    external_ids = [customer.external_id for customer in api.iter_customers(page_size=2)]

    assert external_ids == ["op-1", "op-2", "op-3", "op-4", "op-5"]
    assert len(mocked_responses.calls) == 3


def test_iter_customers_stops_at_an_empty_page_after_a_full_one(
    api: TatumClient, mocked_responses: responses.RequestsMock
) -> None:
    mocked_responses.get(
        CUSTOMERS,
        json=[customer_json(1)],
        match=[matchers.query_param_matcher({"pageSize": "1", "offset": "0"})],
    )
    mocked_responses.get(
        CUSTOMERS, json=[], match=[matchers.query_param_matcher({"pageSize": "1", "offset": "1"})]
    )

    assert len(list(api.iter_customers(page_size=1))) == 1


def test_iter_customers_raises_instead_of_looping_when_tatum_ignores_the_offset(
    api: TatumClient, mocked_responses: responses.RequestsMock
) -> None:
    mocked_responses.get(CUSTOMERS, json=[customer_json(1), customer_json(2)])

    with pytest.raises(TatumProtocolError, match="TATUM_OFFSET_MODE"):
        list(itertools.islice(api.iter_customers(page_size=2), 10))

    assert len(mocked_responses.calls) == 2


def test_iter_customers_rejects_a_bad_page_size_before_iterating(
    api: TatumClient, mocked_responses: responses.RequestsMock
) -> None:
    with pytest.raises(TatumInvalidInput):
        api.iter_customers(page_size=51)


# --- Error bodies ----------------------------------------------------------------------------------


def test_400_raises_validation_error_with_tatums_items_and_field_errors(
    api: TatumClient, mocked_responses: responses.RequestsMock
) -> None:
    item = {
        "target": {"pageSize": 51},
        "property": "pageSize",
        "value": 51,
        "constraints": {"max": "pageSize must not be greater than 50"},
    }
    nested = {
        "property": "customer",
        "children": [{"property": "externalId", "constraints": {"isLength": "externalId is too long"}}],
    }
    body = error_body(400, "validation.failed", "Request validation failed.", [item, nested])
    mocked_responses.get(CUSTOMER, status=400, json=body)

    with pytest.raises(TatumValidationError) as caught:
        api.get_customer(ID)

    error = caught.value
    assert (error.status, error.error_code, error.message) == (
        400,
        "validation.failed",
        "Request validation failed.",
    )
    assert error.data == [item, nested]
    assert error.field_errors == {
        "pageSize": ["pageSize must not be greater than 50"],
        "customer.externalId": ["externalId is too long"],
    }


@pytest.mark.parametrize(
    ("code", "message"),
    [
        ("subscription.invalid", "Unable to find valid subscription for 'other-key'"),
        ("subscription.not.active", "Subscription not active anymore."),
        ("ip-address-key.unauthorized", "Unauthorized."),
    ],
)
def test_401_raises_auth_error_with_tatums_code(
    code: str, message: str, api: TatumClient, mocked_responses: responses.RequestsMock
) -> None:
    mocked_responses.get(CUSTOMER, status=401, json=error_body(401, code, message))

    with pytest.raises(TatumAuthError) as caught:
        api.get_customer(ID)

    assert (caught.value.status, caught.value.error_code, caught.value.message) == (401, code, message)
    assert len(mocked_responses.calls) == 1


@pytest.mark.parametrize(
    ("call", "path", "code", "error_class"),
    [
        ("get", "", "customer.not.exists", TatumNotFound),
        ("update", "", "customer.internal.not.exists", TatumNotFound),
        ("activate", "/activate", "customer.internal.not.exists", TatumNotFound),
        ("deactivate", "/deactivate", "customer.internal.not.exists", TatumNotFound),
        ("enable", "/enable", "customer.internal.not.exists", TatumNotFound),
        ("disable", "/disable", "customer.internal.not.exists", TatumNotFound),
        ("activate", "/activate", "customer.active", TatumRuleError),
        ("deactivate", "/deactivate", "customer.deactivate.account.active", TatumRuleError),
        ("deactivate", "/deactivate", "customer.inactive", TatumRuleError),
        ("enable", "/enable", "customer.inactive", TatumRuleError),
        ("disable", "/disable", "customer.inactive", TatumRuleError),
        ("enable", "/enable", "customer.enabled", TatumRuleError),
        ("disable", "/disable", "customer.disabled", TatumRuleError),
    ],
)
def test_each_403_code_of_the_contract_raises_its_class(
    call: str,
    path: str,
    code: str,
    error_class: type[TatumError],
    api: TatumClient,
    mocked_responses: responses.RequestsMock,
) -> None:
    method = responses.GET if call == "get" else responses.PUT
    mocked_responses.add(method, f"{CUSTOMER}{path}", status=403, json=error_body(403, code, "Refused."))
    operations: dict[str, Callable[[], Any]] = {
        "get": lambda: api.get_customer(ID),
        "update": lambda: api.update_customer(ID, external_id="op-1"),
        "activate": lambda: api.activate_customer(ID),
        "deactivate": lambda: api.deactivate_customer(ID),
        "enable": lambda: api.enable_customer(ID),
        "disable": lambda: api.disable_customer(ID),
    }

    with pytest.raises(error_class) as caught:
        operations[call]()

    assert type(caught.value) is error_class
    assert (caught.value.status, caught.value.error_code) == (403, code)


@pytest.mark.parametrize(
    ("code", "error_class"),
    [("account.not.exists", TatumNotFound), ("account.balance.non.zero", TatumRuleError)],
)
def test_account_deactivation_403_codes_raise_their_class(
    code: str, error_class: type[TatumError], api: TatumClient, mocked_responses: responses.RequestsMock
) -> None:
    mocked_responses.put(
        f"{BASE}/v3/ledger/account/{ID}/deactivate", status=403, json=error_body(403, code, "No.")
    )

    with pytest.raises(error_class):
        api.deactivate_account(ID)


def test_creating_an_account_for_an_inactive_customer_raises_a_rule_error(
    api: TatumClient, mocked_responses: responses.RequestsMock
) -> None:
    mocked_responses.post(
        f"{BASE}/v3/ledger/account", status=403, json=error_body(403, "customer.not.active", "No.")
    )

    with pytest.raises(TatumRuleError) as caught:
        api.create_account(currency="BTC", external_id="op-1")

    assert caught.value.error_code == "customer.not.active"


def test_500_without_an_error_code_raises_a_server_error(
    api: TatumClient, mocked_responses: responses.RequestsMock
) -> None:
    mocked_responses.put(
        f"{CUSTOMER}/enable", status=500, json={"statusCode": 500, "message": "Internal server error"}
    )

    with pytest.raises(TatumServerError) as caught:
        api.enable_customer(ID)

    assert (caught.value.status, caught.value.error_code, caught.value.message) == (
        500,
        "",
        "Internal server error",
    )


@pytest.mark.parametrize(
    ("status", "error_class"),
    [
        (400, TatumValidationError),
        (401, TatumAuthError),
        (403, TatumRuleError),
        (500, TatumServerError),
        (502, TatumServerError),
        (404, TatumError),
    ],
)
def test_an_error_status_with_a_non_json_body_still_raises_the_class_for_its_status(
    status: int, error_class: type[TatumError], api: TatumClient, mocked_responses: responses.RequestsMock
) -> None:
    mocked_responses.put(f"{CUSTOMER}/disable", status=status, body="<html>Bad gateway</html>")

    with pytest.raises(error_class) as caught:
        api.disable_customer(ID)

    assert type(caught.value) is error_class
    assert caught.value.status == status
    assert caught.value.message == f"Tatum answered HTTP {status} without an explanation."


def test_a_redirect_is_not_followed_so_the_key_never_travels_elsewhere(
    api: TatumClient, mocked_responses: responses.RequestsMock
) -> None:
    mocked_responses.get(CUSTOMER, status=302, headers={"Location": "https://elsewhere.test/steal"})

    with pytest.raises(TatumProtocolError):
        api.get_customer(ID)

    assert [call.request.url for call in mocked_responses.calls] == [CUSTOMER]


def test_error_strings_name_the_operation_status_and_code(
    api: TatumClient, mocked_responses: responses.RequestsMock
) -> None:
    body = error_body(403, "customer.disabled", "Unable to disable disabled customer.")
    mocked_responses.put(f"{CUSTOMER}/disable", status=403, json=body)

    with pytest.raises(TatumRuleError) as caught:
        api.disable_customer(ID)

    assert str(caught.value) == (
        "Unable to disable disabled customer."
        " (PUT /v3/ledger/customer/{id}/disable, HTTP 403, customer.disabled)"
    )


# --- Retries ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("status", [502, 503, 504])
def test_reads_are_retried_after_a_gateway_error_and_then_succeed(
    status: int, api: TatumClient, sleeps: list[float], mocked_responses: responses.RequestsMock
) -> None:
    mocked_responses.get(CUSTOMER, status=status, json={"statusCode": status, "message": "Try later"})
    mocked_responses.get(CUSTOMER, json=CUSTOMER_JSON)

    assert api.get_customer(ID).id == ID
    assert len(mocked_responses.calls) == 2
    assert len(sleeps) == 1


def test_reads_give_up_after_the_retry_limit_and_raise_the_last_error(
    make_client: Callable[..., TatumClient], sleeps: list[float], mocked_responses: responses.RequestsMock
) -> None:
    mocked_responses.get(CUSTOMER, status=503, json={"statusCode": 503, "message": "Down"})

    with pytest.raises(TatumServerError):
        make_client(max_retries=2).get_customer(ID)

    assert len(mocked_responses.calls) == 3
    assert len(sleeps) == 2


def test_reads_are_retried_three_times_by_default(
    api: TatumClient, mocked_responses: responses.RequestsMock
) -> None:
    mocked_responses.get(CUSTOMER, status=504)

    with pytest.raises(TatumServerError):
        api.get_customer(ID)

    assert len(mocked_responses.calls) == 4


@pytest.mark.parametrize(
    ("status", "error_class"),
    [(500, TatumServerError), (400, TatumValidationError), (401, TatumAuthError), (403, TatumNotFound)],
)
def test_reads_are_not_retried_after_errors_that_would_repeat(
    status: int, error_class: type[TatumError], api: TatumClient, mocked_responses: responses.RequestsMock
) -> None:
    mocked_responses.get(CUSTOMER, status=status, json=error_body(status, "customer.not.exists", "No."))

    with pytest.raises(error_class):
        api.get_customer(ID)

    assert len(mocked_responses.calls) == 1


@pytest.mark.parametrize(
    "failure",
    [
        {"status": 503},
        {"status": 502},
        {"status": 429, "headers": {"Retry-After": "1"}},
        {"body": requests.ReadTimeout("read timed out")},
        {"body": requests.ConnectTimeout("connect timed out")},
        {"body": requests.ConnectionError("reset")},
    ],
)
def test_writes_are_never_retried(
    failure: dict[str, Any],
    api: TatumClient,
    sleeps: list[float],
    mocked_responses: responses.RequestsMock,
) -> None:
    mocked_responses.put(f"{CUSTOMER}/disable", **failure)

    with pytest.raises(TatumError):
        api.disable_customer(ID)

    assert len(mocked_responses.calls) == 1
    assert sleeps == []


def test_a_429_on_a_read_waits_as_long_as_retry_after_says(
    api: TatumClient, sleeps: list[float], mocked_responses: responses.RequestsMock
) -> None:
    mocked_responses.get(CUSTOMER, status=429, headers={"Retry-After": "2"})
    mocked_responses.get(CUSTOMER, json=CUSTOMER_JSON)

    api.get_customer(ID)

    assert sleeps == [2.0]


def test_a_429_holds_the_shared_rate_limit_off_for_as_long_as_retry_after_says(
    api: TatumClient, limiter: NoWaitLimiter, mocked_responses: responses.RequestsMock
) -> None:
    mocked_responses.get(CUSTOMER, status=429, headers={"Retry-After": "2"})
    mocked_responses.get(CUSTOMER, status=429, headers={"Retry-After": "3"})
    mocked_responses.get(CUSTOMER, json=CUSTOMER_JSON)

    api.get_customer(ID)

    assert limiter.hold_offs == [2.0, 3.0]
    assert len(limiter.waits) == 3


def test_a_429_without_retry_after_holds_the_shared_limit_off_for_the_back_off(
    api: TatumClient, sleeps: list[float], limiter: NoWaitLimiter, mocked_responses: responses.RequestsMock
) -> None:
    mocked_responses.get(CUSTOMER, status=429, json={"statusCode": 429, "message": "Too many requests"})
    mocked_responses.get(CUSTOMER, json=CUSTOMER_JSON)

    api.get_customer(ID)

    assert len(sleeps) == 1 and 0.05 <= sleeps[0] <= 0.1
    assert limiter.hold_offs == sleeps


def test_a_429_on_a_write_holds_the_shared_limit_off_but_is_not_retried(
    make_client: Callable[..., TatumClient],
    sleeps: list[float],
    limiter: NoWaitLimiter,
    mocked_responses: responses.RequestsMock,
) -> None:
    mocked_responses.put(f"{CUSTOMER}/disable", status=429, headers={"Retry-After": "60"})

    with pytest.raises(TatumRateLimited):
        make_client(retry_after_cap=4.0).disable_customer(ID)

    assert len(mocked_responses.calls) == 1
    assert sleeps == []
    assert limiter.hold_offs == [4.0]


def test_errors_other_than_429_do_not_hold_the_shared_limit_off(
    api: TatumClient, limiter: NoWaitLimiter, mocked_responses: responses.RequestsMock
) -> None:
    mocked_responses.get(CUSTOMER, status=503)
    mocked_responses.get(CUSTOMER, body=requests.ConnectionError("reset"))
    mocked_responses.get(CUSTOMER, json=CUSTOMER_JSON)

    api.get_customer(ID)

    assert limiter.hold_offs == []


def test_retry_after_is_capped(
    make_client: Callable[..., TatumClient], sleeps: list[float], mocked_responses: responses.RequestsMock
) -> None:
    mocked_responses.get(CUSTOMER, status=429, headers={"Retry-After": "3600"})
    mocked_responses.get(CUSTOMER, json=CUSTOMER_JSON)

    make_client(retry_after_cap=1.5).get_customer(ID)

    assert sleeps == [1.5]


def test_retry_after_given_as_an_http_date_is_honoured(
    make_client: Callable[..., TatumClient], sleeps: list[float], mocked_responses: responses.RequestsMock
) -> None:
    later = format_datetime(datetime.now(UTC) + timedelta(seconds=30), usegmt=True)
    mocked_responses.get(CUSTOMER, status=429, headers={"Retry-After": later})
    mocked_responses.get(CUSTOMER, json=CUSTOMER_JSON)

    make_client(retry_after_cap=4.0).get_customer(ID)

    assert sleeps == [4.0]


def test_a_429_without_retry_after_backs_off_exponentially_with_jitter(
    api: TatumClient, sleeps: list[float], mocked_responses: responses.RequestsMock
) -> None:
    mocked_responses.get(CUSTOMER, status=429, json={"statusCode": 429, "message": "Too many requests"})

    with pytest.raises(TatumRateLimited) as caught:
        api.get_customer(ID)

    assert caught.value.retry_after is None
    assert len(sleeps) == 3
    for attempt, slept in enumerate(sleeps):
        full = 0.1 * 2**attempt
        assert full / 2 <= slept <= full


def test_a_429_on_a_write_raises_rate_limited_with_tatums_hint(
    api: TatumClient, mocked_responses: responses.RequestsMock
) -> None:
    mocked_responses.put(f"{CUSTOMER}/enable", status=429, headers={"Retry-After": "7"})

    with pytest.raises(TatumRateLimited) as caught:
        api.enable_customer(ID)

    assert caught.value.retry_after == 7.0
    assert caught.value.status == 429


def test_zero_backoff_retries_without_waiting(
    make_client: Callable[..., TatumClient], sleeps: list[float], mocked_responses: responses.RequestsMock
) -> None:
    mocked_responses.get(CUSTOMER, status=503)

    with pytest.raises(TatumServerError):
        make_client(backoff=0).get_customer(ID)

    assert sleeps == [0.0, 0.0, 0.0]


@pytest.mark.parametrize(
    "failure",
    [requests.ConnectTimeout("slow"), requests.ReadTimeout("slow"), requests.ConnectionError("reset")],
)
def test_reads_are_retried_after_timeouts_and_lost_connections_then_raise_unavailable(
    failure: Exception, api: TatumClient, mocked_responses: responses.RequestsMock
) -> None:
    mocked_responses.get(CUSTOMER, body=failure)

    with pytest.raises(TatumUnavailable) as caught:
        api.get_customer(ID)

    assert type(caught.value) is TatumUnavailable
    assert caught.value.__cause__ is failure
    assert len(mocked_responses.calls) == 4


def test_a_read_recovers_when_a_retry_gets_through(
    api: TatumClient, mocked_responses: responses.RequestsMock
) -> None:
    mocked_responses.get(CUSTOMER, body=requests.ConnectionError("reset"))
    mocked_responses.get(CUSTOMER, json=CUSTOMER_JSON)

    assert api.get_customer(ID).external_id == "op-1001"


def test_a_session_never_retries_by_itself(session: requests.Session) -> None:
    for prefix in ("https://", "http://"):
        assert session.get_adapter(prefix + "tatum.test").max_retries.total == 0


# --- Timeouts and lost connections -----------------------------------------------------------------


def refused_connection() -> requests.ConnectionError:
    reason = NewConnectionError(None, "Failed to establish a new connection: [Errno 111] Connection refused")  # type: ignore[arg-type]
    return requests.ConnectionError(MaxRetryError(None, "/v3/ledger/customer", reason))  # type: ignore[arg-type]


def dropped_connection() -> requests.ConnectionError:
    return requests.ConnectionError(
        ProtocolError(
            "Connection aborted.", RemoteDisconnected("Remote end closed connection without response")
        )
    )


def test_disable_raises_outcome_unknown_when_the_read_times_out(
    api: TatumClient, mocked_responses: responses.RequestsMock
) -> None:
    timeout = requests.ReadTimeout("Read timed out. (read timeout=2.0)")
    mocked_responses.put(f"{CUSTOMER}/disable", body=timeout)

    with pytest.raises(TatumOutcomeUnknown) as caught:
        api.disable_customer(ID)

    assert caught.value.__cause__ is timeout
    assert caught.value.status is None
    assert "may or may not" in str(caught.value)


def test_disable_raises_unavailable_when_the_connection_times_out(
    api: TatumClient, mocked_responses: responses.RequestsMock
) -> None:
    mocked_responses.put(f"{CUSTOMER}/disable", body=requests.ConnectTimeout("Connection timed out"))

    with pytest.raises(TatumUnavailable) as caught:
        api.disable_customer(ID)

    assert not isinstance(caught.value, TatumOutcomeUnknown)


def test_update_raises_unavailable_when_the_connection_is_refused(
    api: TatumClient, mocked_responses: responses.RequestsMock
) -> None:
    mocked_responses.put(CUSTOMER, body=refused_connection())

    with pytest.raises(TatumUnavailable) as caught:
        api.update_customer(ID, external_id="op-1")

    assert not isinstance(caught.value, TatumOutcomeUnknown)


def test_update_raises_outcome_unknown_when_the_connection_drops_after_sending(
    api: TatumClient, mocked_responses: responses.RequestsMock
) -> None:
    mocked_responses.put(CUSTOMER, body=dropped_connection())

    with pytest.raises(TatumOutcomeUnknown):
        api.update_customer(ID, external_id="op-1")


def test_create_account_raises_outcome_unknown_when_the_read_times_out(
    api: TatumClient, mocked_responses: responses.RequestsMock
) -> None:
    mocked_responses.post(f"{BASE}/v3/ledger/account", body=requests.ReadTimeout("slow"))

    with pytest.raises(TatumOutcomeUnknown):
        api.create_account(currency="BTC")


def test_a_read_that_times_out_is_unavailable_not_of_unknown_outcome(
    make_client: Callable[..., TatumClient], mocked_responses: responses.RequestsMock
) -> None:
    mocked_responses.get(CUSTOMER, body=requests.ReadTimeout("slow"))

    with pytest.raises(TatumUnavailable) as caught:
        make_client(max_retries=0).get_customer(ID)

    assert not isinstance(caught.value, TatumOutcomeUnknown)


@pytest.fixture
def silent_server() -> Iterator[str]:
    """A TCP server that accepts connections, reads the request and never answers."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    accepted: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        while not stop.is_set():
            try:
                connection, _ = listener.accept()
            except OSError:
                return
            accepted.append(connection)

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{listener.getsockname()[1]}"
    stop.set()
    listener.close()
    for connection in accepted:
        connection.close()


@pytest.fixture
def closed_port() -> str:
    probe = socket.socket()
    probe.bind(("127.0.0.1", 0))
    port = probe.getsockname()[1]
    probe.close()
    return f"http://127.0.0.1:{port}"


def test_a_real_write_to_a_closed_port_is_known_not_to_have_happened(
    make_client: Callable[..., TatumClient], closed_port: str
) -> None:
    with pytest.raises(TatumUnavailable) as caught:
        make_client(base_url=closed_port).disable_customer(ID)

    assert not isinstance(caught.value, TatumOutcomeUnknown)


def test_a_real_write_that_gets_no_answer_has_an_unknown_outcome(
    make_client: Callable[..., TatumClient], silent_server: str
) -> None:
    with pytest.raises(TatumOutcomeUnknown):
        make_client(base_url=silent_server, timeout=(1.0, 0.2)).disable_customer(ID)


def test_a_real_read_that_gets_no_answer_is_retried_then_unavailable(
    make_client: Callable[..., TatumClient], silent_server: str, records: list[CallRecord]
) -> None:
    with pytest.raises(TatumUnavailable) as caught:
        make_client(base_url=silent_server, timeout=(1.0, 0.1), max_retries=1).get_customer(ID)

    assert not isinstance(caught.value, TatumOutcomeUnknown)
    assert [record.status for record in records] == [None, None]


# --- Malformed answers -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "answer",
    [
        {"body": "<html>ok</html>", "content_type": "text/html"},
        {"body": ""},
        {"json": {"externalId": "op-1", "active": True, "enabled": True}},
        {"json": {**CUSTOMER_JSON, "id": ""}},
        {"json": {**CUSTOMER_JSON, "active": "yes"}},
        {"json": {**CUSTOMER_JSON, "enabled": None}},
        {"json": {**CUSTOMER_JSON, "externalId": 12}},
        {"json": {**CUSTOMER_JSON, "customerCountry": 49}},
        {"json": [CUSTOMER_JSON]},
        {"json": "customer"},
    ],
)
def test_get_customer_raises_a_protocol_error_for_an_answer_that_is_not_a_customer(
    answer: dict[str, Any], api: TatumClient, mocked_responses: responses.RequestsMock
) -> None:
    mocked_responses.get(CUSTOMER, **answer)

    with pytest.raises(TatumProtocolError) as caught:
        api.get_customer(ID)

    assert (caught.value.method, caught.value.route) == ("GET", "/v3/ledger/customer/{id}")
    assert len(mocked_responses.calls) == 1


def test_list_customers_raises_a_protocol_error_when_the_array_is_an_object(
    api: TatumClient, mocked_responses: responses.RequestsMock
) -> None:
    mocked_responses.get(CUSTOMERS, json={"data": [CUSTOMER_JSON]})

    with pytest.raises(TatumProtocolError, match="array"):
        api.list_customers()


def test_list_customers_raises_a_protocol_error_when_one_item_is_malformed(
    api: TatumClient, mocked_responses: responses.RequestsMock
) -> None:
    mocked_responses.get(CUSTOMERS, json=[CUSTOMER_JSON, {"externalId": "op-2"}])

    with pytest.raises(TatumProtocolError, match="id"):
        api.list_customers()


@pytest.mark.parametrize(
    "account",
    [
        {**ACCOUNT_JSON, "balance": {"accountBalance": "lots", "availableBalance": "0"}},
        {**ACCOUNT_JSON, "balance": {"accountBalance": "NaN", "availableBalance": "0"}},
        {**ACCOUNT_JSON, "balance": {"accountBalance": True, "availableBalance": "0"}},
        {**ACCOUNT_JSON, "balance": None},
        {key: value for key, value in ACCOUNT_JSON.items() if key != "currency"},
    ],
)
def test_list_customer_accounts_raises_a_protocol_error_for_a_malformed_account(
    account: dict[str, Any], api: TatumClient, mocked_responses: responses.RequestsMock
) -> None:
    mocked_responses.get(f"{BASE}/v3/ledger/account/customer/{ID}", json=[account])

    with pytest.raises(TatumProtocolError):
        api.list_customer_accounts(ID)


def test_update_with_an_unreadable_200_has_an_unknown_outcome(
    api: TatumClient, mocked_responses: responses.RequestsMock
) -> None:
    mocked_responses.put(CUSTOMER, status=200, body="")

    with pytest.raises(TatumOutcomeUnknown) as caught:
        api.update_customer(ID, external_id="op-1")

    assert caught.value.status == 200
    assert len(mocked_responses.calls) == 1


def test_update_with_a_wrongly_shaped_customer_has_an_unknown_outcome(
    api: TatumClient, mocked_responses: responses.RequestsMock
) -> None:
    mocked_responses.put(CUSTOMER, status=200, json={"externalId": "op-1"})

    with pytest.raises(TatumOutcomeUnknown):
        api.update_customer(ID, external_id="op-1")


def test_state_change_with_a_garbled_200_has_an_unknown_outcome(
    api: TatumClient, mocked_responses: responses.RequestsMock
) -> None:
    mocked_responses.put(f"{CUSTOMER}/disable", status=200, body='{"enabled":tr')

    with pytest.raises(TatumOutcomeUnknown):
        api.disable_customer(ID)
    assert len(mocked_responses.calls) == 1


def test_state_change_ignores_a_readable_body_on_success(
    api: TatumClient, mocked_responses: responses.RequestsMock
) -> None:
    mocked_responses.put(f"{CUSTOMER}/enable", status=200, json={})

    assert api.enable_customer(ID) is None


@pytest.mark.parametrize(
    "usage",
    [[{"day": "2025-12-31", "usage": 1}], [{"day": "12/31/2025", "usage": "1"}], {"day": "12/31/2025"}],
)
def test_get_usage_raises_a_protocol_error_for_malformed_days(
    usage: Any, api: TatumClient, mocked_responses: responses.RequestsMock
) -> None:
    mocked_responses.get(f"{BASE}/v3/tatum/usage", json=usage)

    with pytest.raises(TatumProtocolError):
        api.get_usage()


# --- Values ----------------------------------------------------------------------------------------


def test_customer_from_json_tolerates_absent_optional_fields_and_round_trips() -> None:
    customer = Customer.from_json(BARE_CUSTOMER_JSON)

    assert customer.accounting_currency is None
    assert customer.to_json() == BARE_CUSTOMER_JSON
    assert Customer.from_json(CUSTOMER_JSON).to_json() == CUSTOMER_JSON


def test_customer_keeps_a_currency_outside_the_contract_list() -> None:
    assert Customer.from_json({**CUSTOMER_JSON, "accountingCurrency": "ETH"}).accounting_currency == "ETH"


@pytest.mark.parametrize(
    ("customer_country", "provider_country", "gap"),
    [("DE", "CZ", False), (None, "CZ", True), ("DE", None, True), (None, None, True)],
)
def test_a_customer_missing_either_country_is_a_compliance_gap(
    customer_country: str | None, provider_country: str | None, gap: bool
) -> None:
    customer = Customer(ID, "op-1", True, True, "EUR", customer_country, provider_country)

    assert customer.compliance_gap is gap


# --- Path quoting ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("customer_id", "segment"),
    [
        ("../x", "..%2Fx"),
        ("../../v3/tatum/usage", "..%2F..%2Fv3%2Ftatum%2Fusage"),
        ("a/b", "a%2Fb"),
        ("x?y=1", "x%3Fy%3D1"),
        ("x#y", "x%23y"),
        ("%2F", "%252F"),
        ("%2e%2e", "%252e%252e"),
        ("a b", "a%20b"),
        (" lead", "%20lead"),
        ("ünï", "%C3%BCn%C3%AF"),
        ("x;y", "x%3By"),
        ("a\\b", "a%5Cb"),
        ("x" * 100, "x" * 100),
        (".x", ".x"),
    ],
)
def test_get_customer_puts_any_id_into_exactly_one_path_segment(
    customer_id: str, segment: str, api: TatumClient, mocked_responses: responses.RequestsMock
) -> None:
    mocked_responses.get(ANY_TATUM_URL, json=CUSTOMER_JSON)

    api.get_customer(customer_id)

    sent = urlsplit(mocked_responses.calls[0].request.url)
    assert sent.path == f"/v3/ledger/customer/{segment}"
    assert (sent.netloc, sent.query, sent.fragment) == ("tatum.test", "", "")


@pytest.mark.parametrize(
    ("customer_id", "segment"),
    [
        ("../../../v3/tatum/usage", "..%2F..%2F..%2Fv3%2Ftatum%2Fusage"),
        ("5e68c665?x=1#y", "5e68c665%3Fx%3D1%23y"),
    ],
)
def test_disable_keeps_the_action_after_the_quoted_id(
    customer_id: str, segment: str, api: TatumClient, mocked_responses: responses.RequestsMock
) -> None:
    mocked_responses.put(ANY_TATUM_URL, status=204)

    api.disable_customer(customer_id)

    sent = urlsplit(mocked_responses.calls[0].request.url)
    assert sent.path == f"/v3/ledger/customer/{segment}/disable"
    assert (sent.query, sent.fragment) == ("", "")


def test_list_customer_accounts_quotes_the_id_and_keeps_its_own_query(
    api: TatumClient, mocked_responses: responses.RequestsMock
) -> None:
    mocked_responses.get(ANY_TATUM_URL, json=[])

    api.list_customer_accounts("a/b?pageSize=1", page_size=3)

    sent = urlsplit(mocked_responses.calls[0].request.url)
    assert sent.path == "/v3/ledger/account/customer/a%2Fb%3FpageSize%3D1"
    assert sent.query == "pageSize=3&offset=0"


@pytest.mark.parametrize("customer_id", [".", "..", "...", "." * 100])
def test_ids_made_only_of_dots_are_refused_without_sending(
    customer_id: str, api: TatumClient, mocked_responses: responses.RequestsMock
) -> None:
    with pytest.raises(TatumInvalidInput) as caught:
        api.get_customer(customer_id)

    assert caught.value.field == "id"


def test_internal_ids_made_only_of_dots_are_refused_without_sending(
    api: TatumClient, mocked_responses: responses.RequestsMock
) -> None:
    with pytest.raises(TatumInvalidInput):
        api.disable_customer("." * 12)


@pytest.mark.parametrize("customer_id", ["abc\n", "a\x00b", "\tabc", "a\rb", "ab\x7f", "a\x85b", "a\ud800b"])
def test_ids_with_control_characters_are_refused_without_sending(
    customer_id: str, api: TatumClient, mocked_responses: responses.RequestsMock
) -> None:
    with pytest.raises(TatumInvalidInput, match="control"):
        api.get_customer(customer_id)


# --- Text counted as Tatum counts it (validator.js isLength) ---------------------------------------

# Code points, less the emoji presentation selectors U+FE0E and U+FE0F.
TATUM_LENGTHS = [
    ("", 0),
    ("\ufe0f", 0),
    ("\ufe0e\ufe0f", 0),
    ("a\ufe0f", 1),
    ("\u2764\ufe0f", 1),
    ("😀", 1),  # one code point, two UTF-16 units
    ("e\u0301", 2),  # a combining mark is a code point of its own
    ("👍🏽", 2),  # an emoji and its skin-tone modifier
    ("x" * 100 + "\ufe0f" * 7, 100),
]


@pytest.mark.parametrize(("text", "length"), TATUM_LENGTHS)
def test_text_is_counted_as_tatum_counts_it(text: str, length: int) -> None:
    assert tatum_length(text) == length


UNSAVABLE_EXTERNAL_IDS = [
    "\ufe0f",
    "\ufe0e" * 5,
    "x" * 101,
    "x" * 101 + "\ufe0f",
    "op\x01",
    "op\n",
    "\top",
    "...",
]


@pytest.mark.parametrize("external_id", UNSAVABLE_EXTERNAL_IDS)
def test_an_external_id_tatum_would_refuse_or_no_lookup_could_find_is_never_sent(
    external_id: str, api: TatumClient, records: list[CallRecord], mocked_responses: responses.RequestsMock
) -> None:
    assert external_id_problem(external_id)
    with pytest.raises(TatumInvalidInput) as on_update:
        api.update_customer(ID, external_id=external_id)
    with pytest.raises(TatumInvalidInput) as on_create:
        api.create_account(currency="BTC", external_id=external_id)

    assert on_update.value.field == on_create.value.field == "externalId"
    assert records == []


@pytest.mark.parametrize("external_id", ["x" * 100 + "\ufe0f" * 3, "😀" * 100, "\u2764\ufe0f", "é", "a b"])
def test_an_external_id_of_up_to_100_tatum_characters_is_sent_and_can_be_looked_up(
    external_id: str, api: TatumClient, mocked_responses: responses.RequestsMock
) -> None:
    sent = {**CUSTOMER_JSON, "externalId": external_id}
    mocked_responses.put(
        CUSTOMER, json=sent, match=[matchers.json_params_matcher({"externalId": external_id})]
    )

    assert api.update_customer(ID, external_id=external_id).external_id == external_id
    assert external_id_problem(external_id) == id_problem(external_id) == ""


@pytest.mark.parametrize(
    ("customer_id", "valid"), [("\ufe0f", False), ("x\ufe0f", True), ("x" * 100 + "\ufe0f", True)]
)
def test_a_lookup_id_is_counted_as_tatum_counts_it(customer_id: str, valid: bool) -> None:
    assert (id_problem(customer_id) == "") is valid


# --- Validation: nothing is sent -------------------------------------------------------------------


INVALID_CALLS: list[tuple[str, Callable[[TatumClient], Any], str]] = [
    ("page size 0", lambda c: c.list_customers(page_size=0), "pageSize"),
    ("page size 51", lambda c: c.list_customers(page_size=51), "pageSize"),
    ("page size True", lambda c: c.list_customers(page_size=True), "pageSize"),
    ("page size 1.5", lambda c: c.list_customers(page_size=1.5), "pageSize"),
    ("page size text", lambda c: c.list_customers(page_size="10"), "pageSize"),
    ("page -1", lambda c: c.list_customers(page=-1), "page"),
    ("page False", lambda c: c.list_customers(page=False), "page"),
    ("accounts page size 51", lambda c: c.list_customer_accounts(ID, page_size=51), "pageSize"),
    ("get empty id", lambda c: c.get_customer(""), "id"),
    ("get id of 101", lambda c: c.get_customer("x" * 101), "id"),
    ("get id not text", lambda c: c.get_customer(12345678901), "id"),
    ("update id of 9", lambda c: c.update_customer("x" * 9, external_id="op"), "id"),
    ("update id of 51", lambda c: c.update_customer("x" * 51, external_id="op"), "id"),
    ("disable id of 9", lambda c: c.disable_customer("x" * 9), "id"),
    ("activate id of 51", lambda c: c.activate_customer("x" * 51), "id"),
    ("accounts empty id", lambda c: c.list_customer_accounts(""), "id"),
    ("accounts external-length id", lambda c: c.list_customer_accounts("x"), "id"),
    ("deactivate account id of 9", lambda c: c.deactivate_account("x" * 9), "id"),
    ("empty external id", lambda c: c.update_customer(ID, external_id=""), "externalId"),
    ("external id of 101", lambda c: c.update_customer(ID, external_id="x" * 101), "externalId"),
    (
        "unknown currency",
        lambda c: c.update_customer(ID, external_id="op", accounting_currency="XYZ"),
        "accountingCurrency",
    ),
    (
        "lower-case currency",
        lambda c: c.update_customer(ID, external_id="op", accounting_currency="eur"),
        "accountingCurrency",
    ),
    (
        "ETH is not in the list",
        lambda c: c.update_customer(ID, external_id="op", accounting_currency="ETH"),
        "accountingCurrency",
    ),
    (
        "Antarctica",
        lambda c: c.update_customer(ID, external_id="op", customer_country="AQ"),
        "customerCountry",
    ),
    (
        "lower-case country",
        lambda c: c.update_customer(ID, external_id="op", provider_country="gb"),
        "providerCountry",
    ),
    (
        "three-letter country",
        lambda c: c.update_customer(ID, external_id="op", provider_country="GBR"),
        "providerCountry",
    ),
    ("account currency of 1", lambda c: c.create_account(currency="B"), "currency"),
    ("account currency of 41", lambda c: c.create_account(currency="B" * 41), "currency"),
    (
        "account customer country",
        lambda c: c.create_account(currency="BTC", external_id="op", customer_country="XX"),
        "customerCountry",
    ),
    (
        "customer fields without customer",
        lambda c: c.create_account(currency="BTC", customer_country="DE"),
        "customerCountry",
    ),
    (
        "account external id of 101",
        lambda c: c.create_account(currency="BTC", external_id="x" * 101),
        "externalId",
    ),
    ("account code of 51", lambda c: c.create_account(currency="BTC", account_code="x" * 51), "accountCode"),
    ("empty account number", lambda c: c.create_account(currency="BTC", account_number=""), "accountNumber"),
]


@pytest.mark.parametrize(
    ("call", "field"),
    [(call, field) for _, call, field in INVALID_CALLS],
    ids=[name for name, _, _ in INVALID_CALLS],
)
def test_invalid_input_raises_before_anything_is_sent(
    call: Callable[[TatumClient], Any],
    field: str,
    api: TatumClient,
    records: list[CallRecord],
    mocked_responses: responses.RequestsMock,
) -> None:
    with pytest.raises(TatumInvalidInput) as caught:
        call(api)

    assert caught.value.field == field
    assert isinstance(caught.value, ValueError)
    assert caught.value.method and caught.value.route
    assert records == []


def test_the_largest_and_smallest_valid_inputs_are_sent(
    api: TatumClient, mocked_responses: responses.RequestsMock
) -> None:
    mocked_responses.get(
        CUSTOMERS, json=[], match=[matchers.query_param_matcher({"pageSize": "1", "offset": "0"})]
    )
    mocked_responses.put(f"{BASE}/v3/ledger/customer/{'x' * 50}", json=CUSTOMER_JSON)
    mocked_responses.put(f"{BASE}/v3/ledger/customer/{'x' * 10}/enable", status=204)

    api.list_customers(page_size=1)
    api.update_customer("x" * 50, external_id="y" * 100)
    api.enable_customer("x" * 10)


# --- Call records ----------------------------------------------------------------------------------


def test_each_attempt_is_reported_with_the_route_template_status_and_credits(
    api: TatumClient, records: list[CallRecord], mocked_responses: responses.RequestsMock
) -> None:
    mocked_responses.get(CUSTOMER, status=503, json={"statusCode": 503, "message": "Down"})
    mocked_responses.get(CUSTOMER, json=CUSTOMER_JSON)

    api.get_customer(ID)

    assert [(r.method, r.route, r.status, r.credits, r.error_code) for r in records] == [
        ("GET", "/v3/ledger/customer/{id}", 503, 1, ""),
        ("GET", "/v3/ledger/customer/{id}", 200, 1, ""),
    ]
    assert all(isinstance(r.duration_ms, int) and r.duration_ms >= 0 for r in records)


def test_a_refused_write_is_reported_with_its_error_code_and_charged_two_credits(
    api: TatumClient, records: list[CallRecord], mocked_responses: responses.RequestsMock
) -> None:
    mocked_responses.put(
        f"{CUSTOMER}/disable", status=403, json=error_body(403, "customer.disabled", "Already.")
    )

    with pytest.raises(TatumRuleError):
        api.disable_customer(ID)

    assert records == [
        CallRecord(
            "PUT", "/v3/ledger/customer/{id}/disable", 403, records[0].duration_ms, 2, "customer.disabled"
        )
    ]


def test_a_call_without_an_answer_is_reported_without_status_and_still_charged(
    api: TatumClient, records: list[CallRecord], mocked_responses: responses.RequestsMock
) -> None:
    mocked_responses.post(f"{BASE}/v3/ledger/account", body=requests.ReadTimeout("slow"))

    with pytest.raises(TatumOutcomeUnknown):
        api.create_account(currency="BTC")

    assert [(r.method, r.route, r.status, r.credits) for r in records] == [
        ("POST", "/v3/ledger/account", None, 2)
    ]


def test_credit_costs_follow_the_contract() -> None:
    assert CREDIT_COSTS == {"GET": 1, "PUT": 2, "POST": 2}


def test_a_failing_on_call_hook_does_not_break_the_call_and_is_logged(
    make_client: Callable[..., TatumClient],
    mocked_responses: responses.RequestsMock,
    caplog: pytest.LogCaptureFixture,
) -> None:
    def broken_hook(record: CallRecord) -> None:
        raise RuntimeError("database is locked")

    mocked_responses.get(CUSTOMER, json=CUSTOMER_JSON)

    with caplog.at_level(logging.ERROR, logger="customers.tatum"):
        customer = make_client(on_call=broken_hook).get_customer(ID)

    assert customer.id == ID
    assert "Could not record the Tatum call GET /v3/ledger/customer/{id}" in caplog.text


def test_each_call_logs_one_line_with_method_route_status_and_duration(
    api: TatumClient, mocked_responses: responses.RequestsMock, caplog: pytest.LogCaptureFixture
) -> None:
    mocked_responses.put(f"{CUSTOMER}/enable", status=204)

    with caplog.at_level(logging.DEBUG, logger="customers.tatum"):
        api.enable_customer(ID)

    lines = [record.getMessage() for record in caplog.records if record.name.startswith("customers.tatum")]
    assert len(lines) == 1
    assert lines[0].startswith("Tatum PUT /v3/ledger/customer/{id}/enable -> 204 in ")
    assert ID not in lines[0]


# --- The API key never leaks -----------------------------------------------------------------------


def test_the_key_echoed_in_a_401_is_redacted_everywhere(
    api: TatumClient,
    records: list[CallRecord],
    mocked_responses: responses.RequestsMock,
    caplog: pytest.LogCaptureFixture,
) -> None:
    body = error_body(
        401,
        "subscription.invalid",
        f"Unable to find valid subscription for '{KEY}'",
        [{"property": "x-api-key", "value": KEY, "constraints": {"valid": f"{KEY} is not valid"}}],
    )
    mocked_responses.get(CUSTOMER, status=401, json=body)

    with caplog.at_level(logging.DEBUG), pytest.raises(TatumAuthError) as caught:
        api.get_customer(ID)

    error = caught.value
    assert error.message == "Unable to find valid subscription for '[redacted]'"
    for text in (str(error), repr(error), error.message, repr(error.args), repr(error.data), caplog.text):
        assert KEY not in text
    assert KEY not in repr(records)


def test_the_key_is_not_in_transport_errors_or_logs(
    api: TatumClient, mocked_responses: responses.RequestsMock, caplog: pytest.LogCaptureFixture
) -> None:
    mocked_responses.put(f"{CUSTOMER}/disable", body=requests.ReadTimeout("slow"))

    with caplog.at_level(logging.DEBUG), pytest.raises(TatumOutcomeUnknown) as caught:
        api.disable_customer(ID)

    assert KEY not in str(caught.value)
    assert KEY not in repr(caught.value)
    assert KEY not in caplog.text


def test_the_client_repr_does_not_show_the_key(api: TatumClient) -> None:
    assert KEY not in repr(api)
    assert "tatum.test" in repr(api)


@pytest.mark.django_db
def test_the_key_is_not_in_api_call_rows(settings: Any, mocked_responses: responses.RequestsMock) -> None:
    settings.SANDBOX_MODE = False
    settings.TATUM_API_KEY = KEY
    settings.TATUM_API_URL = BASE
    mocked_responses.get(CUSTOMER, status=401, json=error_body(401, "subscription.invalid", f"for '{KEY}'"))

    with pytest.raises(TatumAuthError):
        tatum_client().get_customer(ID)

    rows = list(ApiCall.objects.values())
    assert len(rows) == 1
    assert KEY not in repr(rows)


# --- Rate limit ------------------------------------------------------------------------------------


def test_the_client_waits_for_its_slot_before_every_attempt(
    make_client: Callable[..., TatumClient], limiter: NoWaitLimiter, mocked_responses: responses.RequestsMock
) -> None:
    api = make_client(max_rps=2.5)
    mocked_responses.get(CUSTOMER, status=503)
    mocked_responses.get(CUSTOMER, json=CUSTOMER_JSON)
    mocked_responses.put(f"{CUSTOMER}/enable", status=204)

    api.get_customer(ID)
    api.enable_customer(ID)

    assert limiter.waits == [2.5, 2.5, 2.5]
    assert limiter.hold_offs == []


@pytest.mark.django_db
def test_the_app_clients_share_the_process_session_and_rate_limiter(
    settings: Any, monkeypatch: pytest.MonkeyPatch, mocked_responses: responses.RequestsMock
) -> None:
    settings.TATUM_API_URL = BASE
    limiter, session = process_rate_limiter(), process_session()
    used: list[tuple[str, Any]] = []

    def wait(max_rps: float) -> float:
        used.append(("slot", max_rps))
        return 0.0

    def request(method: str, *args: Any, **kwargs: Any) -> requests.Response:
        used.append(("request", method))
        return requests.Session.request(session, method, *args, **kwargs)

    monkeypatch.setattr(limiter, "wait", wait)
    monkeypatch.setattr(session, "request", request)
    mocked_responses.get(f"{BASE}/v3/tatum/usage", json=[])
    mocked_responses.get(f"{BASE}/v3/tatum/usage", json=[])

    tatum_client().get_usage()
    tatum_client().get_usage()

    assert used == [("slot", settings.TATUM_MAX_RPS), ("request", "GET")] * 2


# --- tatum_client() from settings ------------------------------------------------------------------


@pytest.mark.django_db
def test_tatum_client_sends_the_id_of_the_request_being_served(
    settings: Any, mocked_responses: responses.RequestsMock
) -> None:
    settings.TATUM_API_URL = BASE
    mocked_responses.get(f"{BASE}/v3/tatum/usage", json=[])
    mocked_responses.get(f"{BASE}/v3/tatum/usage", json=[])

    with acting_as(None, request_id="req-4d2f9a0b"):
        tatum_client().get_usage()
    tatum_client().get_usage()

    sent = [call.request.headers.get("X-Request-ID") for call in mocked_responses.calls]
    assert sent == ["req-4d2f9a0b", None]


@pytest.mark.django_db
def test_tatum_client_uses_the_sandbox_key_in_sandbox_mode(
    settings: Any, mocked_responses: responses.RequestsMock
) -> None:
    settings.SANDBOX_MODE = True
    settings.SANDBOX_API_KEY = "sandbox-key"
    settings.TATUM_API_KEY = ""
    settings.TATUM_API_URL = f"{BASE}/sandbox"
    mocked_responses.get(
        f"{BASE}/sandbox/v3/tatum/usage",
        json=[],
        match=[matchers.header_matcher({"x-api-key": "sandbox-key"})],
    )

    assert tatum_client().get_usage() == []


@pytest.mark.django_db
def test_tatum_client_uses_the_tatum_key_and_offset_mode_from_settings(
    settings: Any, mocked_responses: responses.RequestsMock
) -> None:
    settings.SANDBOX_MODE = False
    settings.TATUM_API_KEY = KEY
    settings.TATUM_API_URL = BASE
    settings.TATUM_OFFSET_MODE = "pages"
    mocked_responses.get(
        CUSTOMERS,
        json=[],
        match=[
            matchers.header_matcher({"x-api-key": KEY}),
            matchers.query_param_matcher({"pageSize": "20", "offset": "3"}),
        ],
    )

    tatum_client().list_customers(page_size=20, page=3)

    settings.TATUM_OFFSET_MODE = "records"
    mocked_responses.get(
        CUSTOMERS, json=[], match=[matchers.query_param_matcher({"pageSize": "20", "offset": "60"})]
    )

    tatum_client().list_customers(page_size=20, page=3)


@pytest.mark.django_db
def test_tatum_client_records_every_call_as_an_api_call_row(
    settings: Any, mocked_responses: responses.RequestsMock
) -> None:
    settings.SANDBOX_MODE = True
    settings.TATUM_API_URL = BASE
    mocked_responses.put(
        f"{CUSTOMER}/activate", status=403, json=error_body(403, "customer.active", "Active.")
    )

    with pytest.raises(TatumRuleError):
        tatum_client().activate_customer(ID)

    row = ApiCall.objects.get()
    assert (row.method, row.route, row.status, row.credits, row.error_code) == (
        "PUT",
        "/v3/ledger/customer/{id}/activate",
        403,
        2,
        "customer.active",
    )


# --- The environment -------------------------------------------------------------------------------


class _LocalHandler(BaseHTTPRequestHandler):
    """Answers every GET with an empty JSON array after the server's delay, keeping the connection."""

    protocol_version = "HTTP/1.1"
    server: _LocalServer

    def do_GET(self) -> None:
        self.server.request_lines.append(self.requestline)
        time.sleep(self.server.delay)
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"[]")

    def log_message(self, format: str, *args: Any) -> None:
        pass


class _LocalServer(ThreadingHTTPServer):
    request_queue_size = 128  # every thread of a test may connect at once

    def __init__(self, delay: float) -> None:
        super().__init__(("127.0.0.1", 0), _LocalHandler)
        self.delay = delay
        self.request_lines: list[str] = []
        self.url = f"http://127.0.0.1:{self.server_address[1]}"


@pytest.fixture
def local_server() -> Iterator[Callable[..., _LocalServer]]:
    """Starts real HTTP servers on 127.0.0.1 that record each request line."""
    servers: list[_LocalServer] = []

    def start(delay: float = 0.0) -> _LocalServer:
        server = _LocalServer(delay)
        threading.Thread(target=server.serve_forever, args=(0.01,), daemon=True).start()
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.shutdown()
        server.server_close()


@pytest.fixture
def fresh_environment(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    for name in (
        "HTTP_PROXY",
        "http_proxy",
        "HTTPS_PROXY",
        "https_proxy",
        "ALL_PROXY",
        "all_proxy",
        "NO_PROXY",
        "no_proxy",
        "REQUESTS_CA_BUNDLE",
        "CURL_CA_BUNDLE",
        "NETRC",
    ):
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


def test_a_proxy_from_the_environment_is_used_unless_no_proxy_names_the_host(
    fresh_environment: pytest.MonkeyPatch,
    local_server: Callable[..., _LocalServer],
    make_client: Callable[..., TatumClient],
) -> None:
    tatum_host, proxy = local_server(), local_server()
    api = make_client(base_url=tatum_host.url, max_retries=0)
    fresh_environment.setenv("HTTP_PROXY", proxy.url)

    api.get_usage()
    fresh_environment.setenv("NO_PROXY", "127.0.0.1")
    api.get_usage()

    # A proxy is asked for the whole URL; the host itself only for the path.
    assert proxy.request_lines == [f"GET {tatum_host.url}/v3/tatum/usage HTTP/1.1"]
    assert tatum_host.request_lines == ["GET /v3/tatum/usage HTTP/1.1"]


def test_a_ca_bundle_from_the_environment_is_used_to_verify_tatum(
    fresh_environment: pytest.MonkeyPatch, api: TatumClient, mocked_responses: responses.RequestsMock
) -> None:
    mocked_responses.get(f"{BASE}/v3/tatum/usage", json=[])
    mocked_responses.get(f"{BASE}/v3/tatum/usage", json=[])

    api.get_usage()
    fresh_environment.setenv("REQUESTS_CA_BUNDLE", "/etc/ssl/corporate.pem")
    api.get_usage()

    verify = [call.request.req_kwargs["verify"] for call in mocked_responses.calls]
    assert verify == [True, "/etc/ssl/corporate.pem"]


def test_credentials_in_a_netrc_file_are_never_sent_to_tatum(
    fresh_environment: pytest.MonkeyPatch,
    tmp_path: Path,
    make_client: Callable[..., TatumClient],
    mocked_responses: responses.RequestsMock,
) -> None:
    netrc = tmp_path / "netrc"
    netrc.write_text("machine tatum.test login someone password secret\n")
    netrc.chmod(0o600)
    fresh_environment.setenv("NETRC", str(netrc))
    mocked_responses.get(CUSTOMER, json=CUSTOMER_JSON)

    make_client().get_customer(ID)

    sent = mocked_responses.calls[0].request.headers
    assert "Authorization" not in sent and sent["x-api-key"] == KEY


# --- The connection pool --------------------------------------------------------------------------

POOL_FULL = "Connection pool is full, discarding connection"


def read_from_every_thread_at_once(session: requests.Session, base_url: str, threads: int) -> None:
    """`threads` threads each read three times through one session, all starting together."""
    api = TatumClient(
        base_url=base_url,
        api_key=KEY,
        timeout=(2.0, 5.0),
        max_rps=1000.0,
        session=session,
        rate_limiter=NoWaitLimiter(),
        max_retries=0,
    )
    start = threading.Barrier(threads)
    failures: list[BaseException] = []

    def read() -> None:
        start.wait()
        try:
            for _ in range(3):
                api.get_usage()
        except BaseException as exc:  # noqa: BLE001 - reported by the test below
            failures.append(exc)

    workers = [threading.Thread(target=read) for _ in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    assert failures == []


def discarded(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.getMessage().startswith(POOL_FULL)]


@pytest.mark.parametrize("threads", [2, 8])
def test_a_pool_as_large_as_the_threads_using_it_keeps_every_connection(
    threads: int, local_server: Callable[..., _LocalServer], caplog: pytest.LogCaptureFixture
) -> None:
    # Each answer takes a while, so every thread holds its connection at the same time.
    server, session = local_server(delay=0.05), new_session(pool_size=threads)

    with caplog.at_level(logging.WARNING, logger="urllib3.connectionpool"):
        read_from_every_thread_at_once(session, server.url, threads)
    session.close()

    assert len(server.request_lines) == 3 * threads
    assert discarded(caplog) == []


def test_a_pool_smaller_than_the_threads_using_it_discards_connections(
    local_server: Callable[..., _LocalServer], caplog: pytest.LogCaptureFixture
) -> None:
    server, session = local_server(delay=0.05), new_session(pool_size=2)

    with caplog.at_level(logging.WARNING, logger="urllib3.connectionpool"):
        read_from_every_thread_at_once(session, server.url, 8)
    session.close()

    assert discarded(caplog)


def test_the_process_session_keeps_a_connection_for_every_call_a_web_process_makes_at_once(
    settings: Any, local_server: Callable[..., _LocalServer], caplog: pytest.LogCaptureFixture
) -> None:
    # A detail page reads the customer and its accounts at once: two calls per web thread.
    server = local_server(delay=0.05)

    with caplog.at_level(logging.WARNING, logger="urllib3.connectionpool"):
        read_from_every_thread_at_once(process_session(), server.url, 2 * settings.WEB_THREADS)
    process_session().close()

    assert discarded(caplog) == []
