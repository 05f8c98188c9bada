"""Fixtures for driving the sandbox over real HTTP (the `live_server`) with plain `requests`."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

import pytest
import requests
from django.conf import settings

from sandbox.ids import new_ledger_id
from sandbox.models import Account, Customer

KEY = "sandbox-key"
NO_KEY = object()
DEFAULT_TIMEOUT = 5


class SandboxApi:
    """A thin `requests` wrapper: base URL, the sandbox key and a timeout on every call."""

    def __init__(self, base_url: str) -> None:
        self.base_url = base_url
        self.session = requests.Session()

    def url(self, path: str) -> str:
        return self.base_url + path

    def request(self, method: str, path: str, *, key: Any = None, **kwargs: Any) -> requests.Response:
        headers = dict(kwargs.pop("headers", {}))
        if key is not NO_KEY:
            headers["x-api-key"] = key if key is not None else settings.SANDBOX_API_KEY
        kwargs.setdefault("timeout", DEFAULT_TIMEOUT)
        return self.session.request(method, self.url(path), headers=headers, **kwargs)

    def get(self, path: str, **kwargs: Any) -> requests.Response:
        return self.request("GET", path, **kwargs)

    def put(self, path: str, **kwargs: Any) -> requests.Response:
        return self.request("PUT", path, **kwargs)

    def post(self, path: str, **kwargs: Any) -> requests.Response:
        return self.request("POST", path, **kwargs)


@pytest.fixture
def api(live_server: Any) -> Iterator[SandboxApi]:
    client = SandboxApi(live_server.url + "/sandbox")
    yield client
    # Closing the keep-alive connection lets the server thread finish and release its database.
    client.session.close()


def make_customer(
    *,
    external_id: str | None = None,
    active: bool = True,
    enabled: bool = True,
    accounts: Sequence[tuple[str, str]] = (),
    inactive_accounts: int = 0,
    **fields: str,
) -> Customer:
    """A customer in a state the API could have produced; `accounts` are (balance, available).

    A disabled customer's available balances are 0, with the amount kept to restore on enable.
    """
    ledger_id = new_ledger_id()
    customer = Customer.objects.create(
        ledger_id=ledger_id,
        external_id=external_id or f"ext-{ledger_id[:8]}",
        active=active,
        enabled=enabled,
        accounting_currency=fields.pop("accounting_currency", "EUR"),
        **fields,
    )
    for balance, available in accounts:
        make_account(customer, balance=balance, available=available)
    for _ in range(inactive_accounts):
        make_account(customer, balance="0", available="0", active=False)
    return customer


def make_account(
    customer: Customer | None,
    *,
    balance: str = "0",
    available: str | None = None,
    active: bool = True,
    **fields: Any,
) -> Account:
    available = balance if available is None else available
    disabled = customer is not None and not customer.enabled
    return Account.objects.create(
        ledger_id=new_ledger_id(),
        customer=customer,
        currency=fields.pop("currency", "BTC"),
        active=active,
        account_balance=balance,
        available_balance="0" if disabled else available,
        disabled_blocked_amount=available if disabled else "0",
        accounting_currency=fields.pop("accounting_currency", "EUR"),
        **fields,
    )


def assert_validation_failed(response: requests.Response, expected: dict[str, set[str]]) -> list[dict]:
    """A 400 `validation.failed` whose items name exactly these properties and constraint names."""
    assert response.status_code == 400, response.text
    body = response.json()
    assert body["statusCode"] == 400
    assert body["errorCode"] == "validation.failed"
    assert body["message"] == "Request validation failed. Please see data for additional information."
    found = {item["property"]: set(item["constraints"]) for item in body["data"]}
    assert found == expected
    for item in body["data"]:
        assert isinstance(item["target"], dict)
        assert all(isinstance(sentence, str) and sentence for sentence in item["constraints"].values())
    return body["data"]


def assert_tatum_error(
    response: requests.Response, status: int, error_code: str, message: str | None = None
) -> None:
    assert response.status_code == status, response.text
    body = response.json()
    assert body["statusCode"] == status
    assert body["errorCode"] == error_code
    if message is not None:
        assert body["message"] == message
    assert set(body) == {"statusCode", "errorCode", "message"}
