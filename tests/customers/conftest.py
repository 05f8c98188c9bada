from __future__ import annotations

from typing import Any

import pytest
import responses
from django.contrib.auth import get_user_model

from tests.users import make_user

FAKE_TATUM = "https://tatum.test"
CUSTOMER_ID = "5e68c66581f2ee32bc354087"


def customer_json(**overrides: Any) -> dict[str, Any]:
    body = {
        "id": CUSTOMER_ID,
        "externalId": "cust-001",
        "active": True,
        "enabled": True,
        "accountingCurrency": "EUR",
        "customerCountry": "DE",
        "providerCountry": "CZ",
    }
    body.update(overrides)
    return {key: value for key, value in body.items() if value is not None}


def account_json(**overrides: Any) -> dict[str, Any]:
    body = {
        "id": "6e68c66581f2ee32bc354001",
        "active": True,
        "frozen": False,
        "currency": "BTC",
        "balance": {"accountBalance": "1.5", "availableBalance": "1.5"},
        "customerId": CUSTOMER_ID,
        "accountingCurrency": "EUR",
    }
    body.update(overrides)
    return body


def url(path: str) -> str:
    return f"{FAKE_TATUM}{path}"


@pytest.fixture
def tatum(settings):
    """Tatum faked with `responses`: any call not registered fails the test."""
    settings.TATUM_API_URL = FAKE_TATUM
    settings.TATUM_TIMEOUT = (0.5, 0.5)
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        yield mock
        stray = [
            call.request.url
            for call in mock.calls
            if isinstance(call.response, Exception)
            and str(call.response).startswith("Connection refused by Responses")
        ]
        assert not stray, f"unexpected calls to Tatum: {stray}"


@pytest.fixture
def support(db):
    return make_user("Support")


@pytest.fixture
def compliance(db):
    return make_user("Compliance")


@pytest.fixture
def manager(db):
    return make_user("Manager")


@pytest.fixture
def admin_user(db):
    return make_user("superuser", "root")


@pytest.fixture
def support_client(client, support):
    client.force_login(support)
    return client


@pytest.fixture
def alice() -> Any:
    """A user with no role, for records attributed to someone."""
    return get_user_model().objects.create_user("alice", "alice@example.com", "pw-alice-123")


@pytest.fixture
def bob() -> Any:
    return get_user_model().objects.create_user("bob", "bob@example.com", "pw-bob-123")
