"""A fake Tatum that answers every path plausibly and records each request, for property tests.

The fake answers anything (on any host), so that a request the dashboard should never have made
is recorded and reported by `FakeTatum.assert_within_contract` instead of being swallowed as a
connection error that the dashboard then shows as "Tatum unavailable".
"""

from __future__ import annotations

import json
import re
import tempfile
import threading
import unicodedata
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

import pytest
import responses
from hypothesis.configuration import set_hypothesis_home_dir

from customers.tatum.reference import COUNTRY_CODES, CURRENCY_CODES
from sandbox.validation import CUSTOMER_UPDATE, max_length, min_length
from tests.customers.conftest import customer_json
from tests.users import make_user

# Hypothesis caches Unicode tables and constants on disk: keep them out of the working tree.
set_hypothesis_home_dir(Path(tempfile.gettempdir()) / "tatum-dashboard-hypothesis")

FAKE_HOST = "tatum.test"
FAKE_TATUM = f"https://{FAKE_HOST}"
# The internal id the fake gives the customer it knows.
STATE_ACTIONS = ("activate", "deactivate", "enable", "disable")
# What Tatum's internal ids look like (its published rule is looser: 10 to 50 characters).
INTERNAL_ID = re.compile(r"[0-9a-f]{24}")
UPDATE_FIELDS = {"externalId", "accountingCurrency", "customerCountry", "providerCountry"}

# method -> (raw path pattern, id length limits or None, whether it takes paging parameters)
_ENDPOINTS: dict[str, list[tuple[re.Pattern[str], tuple[int, int] | None, bool]]] = {
    "GET": [
        (re.compile(r"^/v3/ledger/customer$"), None, True),
        (re.compile(r"^/v3/ledger/customer/(?P<id>[^/]+)$"), (1, 100), False),
        (re.compile(r"^/v3/ledger/account/customer/(?P<id>[^/]+)$"), (10, 50), True),
        (re.compile(r"^/v3/tatum/version$"), None, False),
    ],
    "PUT": [
        (re.compile(r"^/v3/ledger/customer/(?P<id>[^/]+)$"), (10, 50), False),
        (
            re.compile(r"^/v3/ledger/customer/(?P<id>[^/]+)/(?P<action>activate|deactivate|enable|disable)$"),
            (10, 50),
            False,
        ),
    ],
}


@dataclass(frozen=True)
class UpstreamCall:
    method: str
    url: str
    body: bytes

    @property
    def path(self) -> str:
        """The raw path, as sent: still percent-encoded."""
        return urlsplit(self.url).path

    def __str__(self) -> str:
        return f"{self.method} {self.url}"


class FakeTatum:
    """Answers like Tatum: a customer for a get, [] for lists, 204 for state changes.

    A get by an internal id answers the customer with that id; a get by any other id is taken as an
    external id and answers the customer the fake knows, whose internal id is `CUSTOMER_ID`.
    """

    def __init__(self) -> None:
        self.customer = customer_json()
        self.calls: list[UpstreamCall] = []
        # Internal ids the fake has told the dashboard: it may address a customer by them.
        self.issued_ids: set[str] = set()
        # The detail page reads the customer and its accounts from two threads.
        self._lock = threading.Lock()

    def reset(self, customer: dict[str, Any] | None = None) -> None:
        self.customer = customer or customer_json()
        with self._lock:
            self.calls.clear()
            self.issued_ids.clear()

    def calls_with(self, method: str) -> list[UpstreamCall]:
        return [call for call in self.calls if call.method == method]

    def answer(self, request: Any) -> tuple[int, dict[str, str], str]:
        body = request.body or b""
        call = UpstreamCall(request.method, request.url, body if isinstance(body, bytes) else body.encode())
        with self._lock:
            self.calls.append(call)
        path = call.path
        if request.method == "GET":
            if path in ("/v3/ledger/customer",) or path.startswith("/v3/ledger/account/customer/"):
                return _json(200, [])
            if path.startswith("/v3/ledger/customer/"):
                requested = unquote(path.rsplit("/", 1)[-1])
                internal = requested if INTERNAL_ID.fullmatch(requested) else self.customer["id"]
                with self._lock:
                    self.issued_ids.add(internal)
                return _json(200, {**self.customer, "id": internal})
            if path == "/v3/tatum/version":
                return _json(200, {"version": "3.18.3", "testnet": True})
        if request.method == "PUT" and path.startswith("/v3/ledger/customer/"):
            if path.rsplit("/", 1)[-1] in STATE_ACTIONS:
                return 204, {}, ""
            sent = json.loads(call.body or b"{}")
            return _json(200, {**self.customer, **{k: v for k, v in sent.items() if k in UPDATE_FIELDS}})
        return _json(404, {"statusCode": 404, "message": f"Cannot {request.method} {path}"})

    def assert_within_contract(self, *, requested_ids: set[str]) -> None:
        """Every request went to a customer path of the contract, with valid data, naming a customer
        by an id the dashboard was asked for or by an internal id the fake gave it for one."""
        for call in self.calls:
            _check_call(call, requested_ids | self.issued_ids)


def _json(status: int, payload: Any) -> tuple[int, dict[str, str], str]:
    return status, {"Content-Type": "application/json"}, json.dumps(payload)


def _check_call(call: UpstreamCall, allowed_ids: set[str]) -> None:
    parts = urlsplit(call.url)
    assert (parts.scheme, parts.netloc) == ("https", FAKE_HOST), f"left the Tatum host: {call}"
    match, id_lengths, paged = _endpoint(call)
    if id_lengths is not None:
        _check_id(call, unquote(match["id"]), id_lengths, allowed_ids)
    if call.path.startswith("/v3/ledger/account/customer/"):
        # Accounts belong to the internal id: read by an external id, they are nobody's accounts.
        assert INTERNAL_ID.fullmatch(unquote(match["id"])), f"accounts read by a non-internal id: {call}"
    _check_query(call, parts.query, paged)
    if call.method == "PUT":
        _check_put_body(call, match)


def _endpoint(call: UpstreamCall) -> tuple[re.Match[str], tuple[int, int] | None, bool]:
    for pattern, id_lengths, paged in _ENDPOINTS.get(call.method, []):
        match = pattern.match(call.path)
        if match:
            return match, id_lengths, paged
    raise AssertionError(f"not a customer path of the contract: {call}")


def _check_id(call: UpstreamCall, customer_id: str, lengths: tuple[int, int], allowed: set[str]) -> None:
    assert customer_id in allowed, f"{call} names {customer_id!r}, not one of {sorted(allowed)!r}"
    # Measured as Tatum measures it (the sandbox's validation), not as Python's `len`.
    length_failures = [rule("id", customer_id) for rule in (min_length(lengths[0]), max_length(lengths[1]))]
    assert length_failures == [None, None], f"id of invalid length: {call}"
    assert set(customer_id) != {"."}, f"a dot segment: {call}"
    assert not any(unicodedata.category(ch) in ("Cc", "Cs") for ch in customer_id), f"control char: {call}"


def _check_query(call: UpstreamCall, query: str, paged: bool) -> None:
    params = parse_qs(query, keep_blank_values=True)
    if not paged:
        assert not params, f"unexpected query: {call}"
        return
    assert set(params) <= {"pageSize", "offset"} and "pageSize" in params, f"bad paging: {call}"
    assert all(len(values) == 1 and values[0].isascii() and values[0].isdigit() for values in params.values())
    assert 1 <= int(params["pageSize"][0]) <= 50, f"pageSize out of range: {call}"
    assert int(params.get("offset", ["0"])[0]) >= 0, f"negative offset: {call}"


def _check_put_body(call: UpstreamCall, match: re.Match[str]) -> None:
    if "action" in match.groupdict():
        assert not call.body, f"a state change with a body: {call}"
        return
    body = json.loads(call.body)
    assert isinstance(body, dict) and set(body) <= UPDATE_FIELDS, f"unexpected update body: {body!r}"
    assert not CUSTOMER_UPDATE.validate(body), f"Tatum would refuse it: {body!r}"
    assert body.get("accountingCurrency", "EUR") in CURRENCY_CODES, f"bad currency: {body!r}"
    assert body.get("customerCountry", "DE") in COUNTRY_CODES, f"bad country: {body!r}"
    assert body.get("providerCountry", "DE") in COUNTRY_CODES, f"bad country: {body!r}"


@pytest.fixture
def fake_tatum(settings) -> Iterator[FakeTatum]:
    settings.TATUM_API_URL = FAKE_TATUM
    settings.TATUM_TIMEOUT = (0.5, 0.5)
    fake = FakeTatum()
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        for method in ("GET", "PUT", "POST", "PATCH", "DELETE", "HEAD", "OPTIONS"):
            mock.add_callback(method, re.compile(r".*"), callback=fake.answer)
        yield fake


@pytest.fixture
def support_client(client, db):
    client.force_login(make_user("Support"))
    return client
