from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from typing import Any

import pytest
import responses
from django.contrib.auth import get_user_model
from django.test.html import Element, parse_html

from customers.index.models import CustomerRecord
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


def index_row(tatum_id: str, *, seen_at: datetime, **fields: Any) -> CustomerRecord:
    """A row of the customer index written straight to the table (no case is opened): a customer in DE
    with its provider in CZ, in EUR, active and enabled, last seen by a sync at `seen_at`. `fields` give
    the external id and change any of the rest; the compliance gap follows the two countries unless
    given."""
    values: dict[str, Any] = {
        "accounting_currency": "EUR",
        "customer_country": "DE",
        "provider_country": "CZ",
        "active": True,
        "enabled": True,
        "first_seen_at": seen_at,
        "last_seen_at": seen_at,
        "last_seen_by": CustomerRecord.SeenBy.SYNC,
        **fields,
    }
    values.setdefault("compliance_gap", not (values["customer_country"] and values["provider_country"]))
    return CustomerRecord.objects.create(tatum_id=tatum_id, **values)


def url(path: str) -> str:
    return f"{FAKE_TATUM}{path}"


def html_elements(page: str, tag: str | None = None) -> Iterator[tuple[str, dict[str, str | None]]]:
    """Each element of `page` (or each `tag`), in document order, as (name, attributes): markup read
    the way a browser reads it, whatever the order of the attributes."""
    stack: list[Any] = [parse_html(page)]
    while stack:
        node = stack.pop()
        if not isinstance(node, Element):
            continue
        if node.name and (tag is None or node.name == tag):
            yield node.name, dict(node.attributes)
        stack.extend(reversed(node.children))


def html_ids(page: str, tag: str | None = None) -> list[str]:
    """The ids of the elements of `page` (or of its `tag` elements), in document order."""
    return [attrs["id"] for _, attrs in html_elements(page, tag) if attrs.get("id")]


def html_link(page: str, rel: str) -> str | None:
    """The href of the page's link with `rel` ("next", "prev"), unescaped; None when there is none."""
    return next((attrs["href"] for _, attrs in html_elements(page, "a") if attrs.get("rel") == rel), None)


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
