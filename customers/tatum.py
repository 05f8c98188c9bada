"""The Tatum ledger client: the only module in the app that speaks HTTP to Tatum (or to the sandbox).

It validates every input against the API contract before sending anything, quotes ids so that an id
can never change the path, spaces calls to the per-process rate limit, retries reads (never writes)
with back-off, maps Tatum's error bodies to the `TatumError` tree and reports every attempt, with its
credit cost, to an `on_call` hook. The API key is sent in a header and never appears in a message,
a log line or a call record.
"""

from __future__ import annotations

import functools
import http.cookiejar
import json
import logging
import math
import os
import random
import re
import threading
import time
import tomllib
import unicodedata
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal, InvalidOperation
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import quote

import requests
from django.conf import settings
from requests.adapters import HTTPAdapter
from urllib3.exceptions import ConnectTimeoutError, NewConnectionError

from customers.reference import COUNTRY_CODES, CURRENCY_CODES
from dashboard.context import current_request_id

logger = logging.getLogger(__name__)

# Tatum bills per call, whatever the outcome.
CREDIT_COSTS: dict[str, int] = {"GET": 1, "PUT": 2, "POST": 2}
MAX_PAGE_SIZE = 50
OFFSET_MODES = ("records", "pages")
NOT_FOUND_CODES = frozenset({"customer.not.exists", "customer.internal.not.exists", "account.not.exists"})

_REDACTED = "[redacted]"
_RETRYABLE_STATUSES = frozenset({502, 503, 504})
_SAFE_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")
# Failures while the answer was being read: the request itself went out.
_FAILED_WHILE_READING = (requests.exceptions.ChunkedEncodingError, requests.exceptions.ContentDecodingError)
_TRANSIENT_FAILURES = (requests.Timeout, requests.ConnectionError, *_FAILED_WHILE_READING)


def _client_version() -> str:
    pyproject = Path(__file__).resolve().parent.parent / "pyproject.toml"
    try:
        with pyproject.open("rb") as file:
            return str(tomllib.load(file)["project"]["version"])
    except (OSError, KeyError, tomllib.TOMLDecodeError):
        return "unknown"


USER_AGENT = f"tatum-customer-dashboard/{_client_version()}"
# What a `requests.Session` would add to every call: compressed answers and a kept-alive connection.
_DEFAULT_HEADERS = {
    name: value
    for name, value in requests.utils.default_headers().items()
    if name in ("Accept-Encoding", "Connection")
}


# --- Errors ----------------------------------------------------------------------------------------


class TatumError(Exception):
    """Any failure of a Tatum call. `str()` is a readable sentence and never contains the API key."""

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        error_code: str = "",
        data: list[dict[str, Any]] | None = None,
        method: str = "",
        route: str = "",
    ) -> None:
        super().__init__(message)
        self.message = message
        self.status = status
        self.error_code = error_code
        self.data: list[dict[str, Any]] = data or []
        self.method = method
        self.route = route

    def __str__(self) -> str:
        details = [f"{self.method} {self.route}".strip()]
        if self.status is not None:
            details.append(f"HTTP {self.status}")
        if self.error_code:
            details.append(self.error_code)
        details = [part for part in details if part]
        return f"{self.message} ({', '.join(details)})" if details else self.message


class TatumInvalidInput(TatumError, ValueError):
    """An input broke the API contract, so nothing was sent. `field` names the input."""

    def __init__(self, message: str, *, field: str, method: str = "", route: str = "") -> None:
        super().__init__(message, method=method, route=route)
        self.field = field


class TatumValidationError(TatumError):
    """400: Tatum rejected the input; `data` holds one item per failed field."""

    @property
    def field_errors(self) -> dict[str, list[str]]:
        """Tatum's complaints by property (nested ones dotted: `customer.externalId`)."""
        errors: dict[str, list[str]] = {}
        _collect_field_errors(self.data, "", errors)
        return errors


class TatumAuthError(TatumError):
    """401: the API key is unknown, inactive or missing."""


class TatumNotFound(TatumError):
    """403 with a "does not exist" code: Tatum never answers 404 on ledger paths."""


class TatumRuleError(TatumError):
    """Any other 403: a business rule refused the operation (e.g. `customer.disabled`)."""


class TatumRateLimited(TatumError):
    """429: too many requests. `retry_after` is Tatum's hint in seconds, when it gave one."""

    def __init__(self, message: str, *, retry_after: float | None = None, **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        self.retry_after = retry_after


class TatumServerError(TatumError):
    """5xx: Tatum failed."""


class TatumUnavailable(TatumError):
    """No answer, and the call is known to have had no effect (or was a read)."""


class TatumOutcomeUnknown(TatumUnavailable):
    """A write was sent but its answer never came: it may or may not have happened."""


class TatumProtocolError(TatumError):
    """The answer was not JSON, or not shaped as the contract says."""


def _collect_field_errors(items: list[Any], prefix: str, errors: dict[str, list[str]]) -> None:
    for item in items:
        if not isinstance(item, dict):
            continue
        name = f"{prefix}{item.get('property') or ''}"
        constraints = item.get("constraints")
        if isinstance(constraints, dict) and constraints:
            errors.setdefault(name, []).extend(str(text) for text in constraints.values())
        children = item.get("children")
        if isinstance(children, list) and children:
            _collect_field_errors(children, f"{name}.", errors)
        elif not constraints:
            errors.setdefault(name, []).append("is not valid")


# --- Values ----------------------------------------------------------------------------------------


def _json_type(value: Any) -> str:
    names = {dict: "an object", list: "an array", str: "a string", bool: "a boolean", type(None): "null"}
    return names.get(type(value), "a number" if isinstance(value, int | float) else type(value).__name__)


def _require_object(data: Any, what: str) -> dict[str, Any]:
    if not isinstance(data, dict):
        raise TatumProtocolError(f"Expected {what} as a JSON object but got {_json_type(data)}.")
    return data


def _required_str(data: dict[str, Any], key: str, what: str, *, non_empty: bool = False) -> str:
    value = data.get(key)
    if not isinstance(value, str) or (non_empty and not value):
        found = "nothing" if key not in data else _json_type(value)
        raise TatumProtocolError(f"Expected {what}.{key} to be a non-empty string but got {found}.")
    return value


def _optional_str(data: dict[str, Any], key: str, what: str) -> str | None:
    value = data.get(key)
    if value is not None and not isinstance(value, str):
        raise TatumProtocolError(f"Expected {what}.{key} to be a string but got {_json_type(value)}.")
    return value


def _required_bool(data: dict[str, Any], key: str, what: str) -> bool:
    value = data.get(key)
    if not isinstance(value, bool):
        found = "nothing" if key not in data else _json_type(value)
        raise TatumProtocolError(f"Expected {what}.{key} to be true or false but got {found}.")
    return value


def _optional_int(data: dict[str, Any], key: str, what: str) -> int | None:
    value = data.get(key)
    if value is not None and (isinstance(value, bool) or not isinstance(value, int)):
        raise TatumProtocolError(f"Expected {what}.{key} to be a whole number but got {_json_type(value)}.")
    return value


def _decimal(value: Any, what: str) -> Decimal:
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise TatumProtocolError(f"Expected {what} to be a decimal number but got {_json_type(value)}.")
    try:
        number = Decimal(str(value))
    except InvalidOperation as exc:
        raise TatumProtocolError(f"Expected {what} to be a decimal number but got {value!r}.") from exc
    if not number.is_finite():
        raise TatumProtocolError(f"Expected {what} to be a finite number but got {value!r}.")
    return number


@dataclass(frozen=True)
class Customer:
    """A customer of the ledger, as Tatum holds it."""

    id: str
    external_id: str
    active: bool
    enabled: bool
    accounting_currency: str | None = None
    customer_country: str | None = None
    provider_country: str | None = None

    @classmethod
    def from_json(cls, data: Any) -> Customer:
        """Read Tatum's Customer object; raises TatumProtocolError when it is not shaped as one."""
        body = _require_object(data, "a customer")
        return cls(
            id=_required_str(body, "id", "customer", non_empty=True),
            external_id=_required_str(body, "externalId", "customer"),
            active=_required_bool(body, "active", "customer"),
            enabled=_required_bool(body, "enabled", "customer"),
            accounting_currency=_optional_str(body, "accountingCurrency", "customer"),
            customer_country=_optional_str(body, "customerCountry", "customer"),
            provider_country=_optional_str(body, "providerCountry", "customer"),
        )

    @property
    def compliance_gap(self) -> bool:
        """Tatum's compliance engine needs both countries; a customer missing either is a gap."""
        return not self.customer_country or not self.provider_country

    def to_json(self) -> dict[str, Any]:
        """Tatum's field names; optional fields left out when unset."""
        data: dict[str, Any] = {
            "id": self.id,
            "externalId": self.external_id,
            "active": self.active,
            "enabled": self.enabled,
        }
        optional = {
            "accountingCurrency": self.accounting_currency,
            "customerCountry": self.customer_country,
            "providerCountry": self.provider_country,
        }
        data.update({key: value for key, value in optional.items() if value is not None})
        return data


@dataclass(frozen=True)
class Balance:
    account_balance: Decimal
    available_balance: Decimal

    @classmethod
    def from_json(cls, data: Any) -> Balance:
        body = _require_object(data, "an account balance")
        return cls(
            account_balance=_decimal(body.get("accountBalance"), "balance.accountBalance"),
            available_balance=_decimal(body.get("availableBalance"), "balance.availableBalance"),
        )


@dataclass(frozen=True)
class Account:
    """A ledger account (balances are exact decimals)."""

    id: str
    active: bool
    frozen: bool
    currency: str
    balance: Balance
    customer_id: str | None = None
    account_code: str | None = None
    account_number: str | None = None
    accounting_currency: str | None = None

    @classmethod
    def from_json(cls, data: Any) -> Account:
        """Read Tatum's Account object; raises TatumProtocolError when it is not shaped as one."""
        body = _require_object(data, "an account")
        return cls(
            id=_required_str(body, "id", "account", non_empty=True),
            active=_required_bool(body, "active", "account"),
            frozen=_required_bool(body, "frozen", "account"),
            currency=_required_str(body, "currency", "account", non_empty=True),
            balance=Balance.from_json(body.get("balance")),
            customer_id=_optional_str(body, "customerId", "account"),
            account_code=_optional_str(body, "accountCode", "account"),
            account_number=_optional_str(body, "accountNumber", "account"),
            accounting_currency=_optional_str(body, "accountingCurrency", "account"),
        )


@dataclass(frozen=True)
class PlanVersion:
    """What `/v3/tatum/version` says about the API key's plan."""

    version: str
    testnet: bool
    plan_name: str | None = None
    plan_code: str | None = None
    price: Decimal | None = None
    # Kept as Tatum sends it: the contract does not say whether it is a date string or a timestamp.
    expiration: str | int | None = None
    credit_limit: int | None = None
    usage: int | None = None
    rollover_day: int | None = None

    @classmethod
    def from_json(cls, data: Any) -> PlanVersion:
        body = _require_object(data, "the plan version")
        price = body.get("price")
        expiration = body.get("expiration")
        if expiration is not None and (isinstance(expiration, bool) or not isinstance(expiration, str | int)):
            raise TatumProtocolError(
                f"Expected version.expiration to be text or a number, got {expiration!r}."
            )
        return cls(
            version=_required_str(body, "version", "version"),
            testnet=_required_bool(body, "testnet", "version"),
            plan_name=_optional_str(body, "planName", "version"),
            plan_code=_optional_str(body, "planCode", "version"),
            price=None if price is None else _decimal(price, "version.price"),
            expiration=expiration,
            credit_limit=_optional_int(body, "creditLimit", "version"),
            usage=_optional_int(body, "usage", "version"),
            rollover_day=_optional_int(body, "rolloverDay", "version"),
        )


@dataclass(frozen=True)
class UsageDay:
    """Credits used on one day."""

    day: date
    usage: int

    @classmethod
    def from_json(cls, data: Any) -> UsageDay:
        body = _require_object(data, "a usage day")
        text = _required_str(body, "day", "usage")
        try:
            day = datetime.strptime(text, "%m/%d/%Y").date()
        except ValueError as exc:
            raise TatumProtocolError(f"Expected usage.day as MM/DD/YYYY but got {text!r}.") from exc
        usage = _optional_int(body, "usage", "usage")
        if usage is None:
            raise TatumProtocolError("Expected usage.usage to be a whole number but got nothing.")
        return cls(day=day, usage=usage)


@dataclass(frozen=True)
class CallRecord:
    """One attempt at a Tatum call, as reported to the `on_call` hook. Never holds an id or the key."""

    method: str
    route: str
    status: int | None
    duration_ms: int
    credits: int
    error_code: str


# --- Input validation ------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Endpoint:
    method: str
    route: str

    def invalid(self, field: str, message: str) -> TatumInvalidInput:
        return TatumInvalidInput(message, field=field, method=self.method, route=self.route)


_LIST_CUSTOMERS = _Endpoint("GET", "/v3/ledger/customer")
_GET_CUSTOMER = _Endpoint("GET", "/v3/ledger/customer/{id}")
_UPDATE_CUSTOMER = _Endpoint("PUT", "/v3/ledger/customer/{id}")
_ACTIVATE_CUSTOMER = _Endpoint("PUT", "/v3/ledger/customer/{id}/activate")
_DEACTIVATE_CUSTOMER = _Endpoint("PUT", "/v3/ledger/customer/{id}/deactivate")
_ENABLE_CUSTOMER = _Endpoint("PUT", "/v3/ledger/customer/{id}/enable")
_DISABLE_CUSTOMER = _Endpoint("PUT", "/v3/ledger/customer/{id}/disable")
_LIST_CUSTOMER_ACCOUNTS = _Endpoint("GET", "/v3/ledger/account/customer/{id}")
_CREATE_ACCOUNT = _Endpoint("POST", "/v3/ledger/account")
_DEACTIVATE_ACCOUNT = _Endpoint("PUT", "/v3/ledger/account/{id}/deactivate")
_GET_VERSION = _Endpoint("GET", "/v3/tatum/version")
_GET_USAGE = _Endpoint("GET", "/v3/tatum/usage")

# Length rules for `{id}`: external or internal customer ids on reads, internal ids on writes.
_ANY_CUSTOMER_ID = (1, 100)
_INTERNAL_ID = (10, 50)


def _check_int(endpoint: _Endpoint, field: str, value: Any, minimum: int, maximum: int | None = None) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise endpoint.invalid(field, f"{field} must be a whole number, not {value!r}.")
    if value < minimum or (maximum is not None and value > maximum):
        limit = f"between {minimum} and {maximum}" if maximum is not None else f"at least {minimum}"
        raise endpoint.invalid(field, f"{field} must be {limit}, not {value}.")
    return value


def _check_text(endpoint: _Endpoint, field: str, value: Any, min_length: int, max_length: int) -> str:
    if not isinstance(value, str):
        raise endpoint.invalid(field, f"{field} must be text, not {_json_type(value)}.")
    if not min_length <= len(value) <= max_length:
        raise endpoint.invalid(
            field, f"{field} must be {min_length} to {max_length} characters long, not {len(value)}."
        )
    return value


def _check_path_id(endpoint: _Endpoint, value: Any, lengths: tuple[int, int]) -> str:
    """An id that, once quoted, is exactly one path segment pointing where it should."""
    _check_text(endpoint, "id", value, *lengths)
    if set(value) == {"."}:
        raise endpoint.invalid("id", "id cannot consist of dots only.")
    if any(unicodedata.category(char) in ("Cc", "Cs") for char in value):
        raise endpoint.invalid("id", "id cannot contain control characters.")
    return value


def _check_code(endpoint: _Endpoint, field: str, value: Any, allowed: tuple[str, ...], kind: str) -> str:
    if value not in allowed:
        raise endpoint.invalid(field, f"{field} must be one of Tatum's {kind} codes, not {value!r}.")
    return value


def _customer_fields(
    endpoint: _Endpoint,
    accounting_currency: str | None,
    customer_country: str | None,
    provider_country: str | None,
) -> dict[str, str]:
    """The optional customer fields that were given, validated, under Tatum's names."""
    fields: dict[str, str] = {}
    if accounting_currency is not None:
        fields["accountingCurrency"] = _check_code(
            endpoint, "accountingCurrency", accounting_currency, CURRENCY_CODES, "currency"
        )
    if customer_country is not None:
        fields["customerCountry"] = _check_code(
            endpoint, "customerCountry", customer_country, COUNTRY_CODES, "country"
        )
    if provider_country is not None:
        fields["providerCountry"] = _check_code(
            endpoint, "providerCountry", provider_country, COUNTRY_CODES, "country"
        )
    return fields


# --- Shared transport: one session and one rate limit per process ----------------------------------


class RateLimiter:
    """At most `max_rps` calls in any window of one second, across all threads of the process.

    Tatum's plans allow so many requests a second, so that many may go at once (a detail page reads
    the customer and its accounts together) and the next waits until the oldest of them is a second
    old. Each call reserves its slot under the lock, so two threads never take the same one.
    """

    def __init__(
        self,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._clock = clock
        self._sleep = sleep
        self._lock = threading.Lock()
        self._slots: deque[float] = deque()

    def wait(self, max_rps: float) -> float:
        """Block until this call's slot; returns how long it waited."""
        # A fractional rate rounds down (2.5 a second allows 2); below one a second, one per 1/max_rps s.
        burst = max(1, math.floor(max_rps))
        window = 1.0 if max_rps >= 1 else 1.0 / max_rps
        with self._lock:
            now = self._clock()
            while len(self._slots) > burst:
                self._slots.popleft()
            slot = now if len(self._slots) < burst else max(now, self._slots.popleft() + window)
            self._slots.append(slot)
        delay = slot - now
        if delay > 0:
            self._sleep(delay)
        return max(delay, 0.0)


_process_rate_limiter = RateLimiter()
_session: requests.Session | None = None
_session_lock = threading.Lock()


def _shared_session() -> requests.Session:
    global _session
    with _session_lock:
        if _session is None:
            _session = _new_session()
        return _session


def _new_session() -> requests.Session:
    session = requests.Session()
    # Retries are ours (reads only, with back-off): urllib3 must never resend a write by itself.
    adapter = HTTPAdapter(pool_connections=4, pool_maxsize=16, max_retries=0)
    session.mount("https://", adapter)
    session.mount("http://", adapter)
    # The API is stateless and clients with different keys share this session: keep no cookies.
    session.cookies.set_policy(http.cookiejar.DefaultCookiePolicy(allowed_domains=[]))
    # The environment is read once per process by `_environment_settings`, not on every call.
    session.trust_env = False
    return session


@functools.lru_cache(maxsize=16)
def _environment_settings(base_url: str) -> dict[str, Any]:
    """What `requests` would otherwise read from the environment on every call: the proxy for this
    URL (honouring NO_PROXY) and a CA bundle. Those lookups cost about half a millisecond a call.

    ~/.netrc is deliberately not read: the API key is the only credential Tatum is sent.
    """
    return {
        "proxies": requests.utils.get_environ_proxies(base_url),
        "verify": os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("CURL_CA_BUNDLE") or True,
    }


def _failed_to_connect(exc: BaseException) -> bool:
    """Whether a connection error happened while connecting, before any byte of the request left."""
    pending: list[BaseException] = [exc]
    seen: set[int] = set()
    while pending:
        error = pending.pop()
        if id(error) in seen:
            continue
        seen.add(id(error))
        if isinstance(error, NewConnectionError | ConnectTimeoutError | ConnectionRefusedError):
            return True
        linked = [*error.args, getattr(error, "reason", None), error.__cause__, error.__context__]
        pending.extend(item for item in linked if isinstance(item, BaseException))
    return False


def _never_sent(exc: requests.RequestException) -> bool:
    if isinstance(exc, requests.ConnectTimeout):
        return True
    if isinstance(exc, (requests.Timeout, *_FAILED_WHILE_READING)):
        return False
    if isinstance(exc, requests.ConnectionError):
        return _failed_to_connect(exc)
    # Anything else (a bad URL or header, a body that is not JSON-serialisable) fails while preparing.
    return True


def _describe_failure(exc: requests.RequestException) -> str:
    if isinstance(exc, requests.ConnectTimeout):
        return "Tatum could not be reached in time."
    if isinstance(exc, requests.Timeout):
        return "Tatum did not answer in time."
    if isinstance(exc, requests.ConnectionError):
        if _failed_to_connect(exc):
            return "Tatum could not be reached."
        return "The connection to Tatum was lost."
    if isinstance(exc, _FAILED_WHILE_READING):
        return "Tatum's answer was cut off."
    return f"The request to Tatum could not be made ({type(exc).__name__})."


def _retry_after_seconds(value: str | None) -> float | None:
    """`Retry-After` as seconds from now: either a number of seconds or an HTTP date."""
    if not value:
        return None
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        seconds = (when - datetime.now(UTC)).total_seconds()
    return max(seconds, 0.0) if math.isfinite(seconds) else None


def _message_text(value: Any) -> str:
    if isinstance(value, list):
        return "; ".join(str(item) for item in value)
    return "" if value is None else str(value)


def _error_class(status: int, error_code: str) -> type[TatumError]:
    if status == 400:
        return TatumValidationError
    if status == 401:
        return TatumAuthError
    if status == 403:
        return TatumNotFound if error_code in NOT_FOUND_CODES else TatumRuleError
    if status == 429:
        return TatumRateLimited
    if status >= 500:
        return TatumServerError
    if 300 <= status < 400:
        # Redirects are not followed: a header with the key must not travel to another host.
        return TatumProtocolError
    return TatumError


def _is_retryable(error: TatumError) -> bool:
    if isinstance(error, TatumRateLimited):
        return True
    if isinstance(error, TatumServerError):
        return error.status in _RETRYABLE_STATUSES
    if isinstance(error, TatumUnavailable):
        return isinstance(error.__cause__, _TRANSIENT_FAILURES)
    return False


def _ms_since(started: float) -> int:
    return round((time.monotonic() - started) * 1000)


T = TypeVar("T")


def _parse_list(endpoint: _Endpoint, body: Any, parse: Callable[[Any], T]) -> list[T]:
    if not isinstance(body, list):
        raise TatumProtocolError(
            f"Expected a JSON array but got {_json_type(body)}.", method=endpoint.method, route=endpoint.route
        )
    return [_parse_one(endpoint, item, parse) for item in body]


def _parse_one(endpoint: _Endpoint, body: Any, parse: Callable[[Any], T]) -> T:
    try:
        return parse(body)
    except TatumProtocolError as error:
        if endpoint.method != "GET":
            raise _garbled_answer(endpoint, None) from error
        error.method, error.route = endpoint.method, endpoint.route
        raise


def _is_json(content: bytes) -> bool:
    try:
        json.loads(content)
    except ValueError:
        return False
    return True


def _garbled_answer(endpoint: _Endpoint, status: int | None) -> TatumError:
    """An answer that cannot be read. After a write it says nothing sure about the change itself."""
    if endpoint.method == "GET":
        return TatumProtocolError(
            "Tatum answered with something that is not JSON.",
            status=status,
            method=endpoint.method,
            route=endpoint.route,
        )
    return TatumOutcomeUnknown(
        "Tatum's answer to the change could not be read, so the change may or may not have been made: "
        "read the customer again to find out.",
        status=status,
        method=endpoint.method,
        route=endpoint.route,
    )


# --- The client ------------------------------------------------------------------------------------


class TatumClient:
    """Tatum's ledger customer API. Cheap to create: the session and rate limit are per process."""

    def __init__(
        self,
        *,
        base_url: str,
        api_key: str,
        timeout: tuple[float, float],
        max_rps: float,
        offset_mode: str = "records",
        on_call: Callable[[CallRecord], None] | None = None,
        max_retries: int = 3,
        backoff: float = 0.25,
        retry_after_cap: float = 5.0,
        sleep: Callable[[float], None] = time.sleep,
        rate_limiter: RateLimiter | None = None,
    ) -> None:
        if offset_mode not in OFFSET_MODES:
            raise ValueError(f"offset_mode must be one of {OFFSET_MODES}, not {offset_mode!r}.")
        if max_rps <= 0:
            raise ValueError("max_rps must be positive.")
        if max_retries < 0:
            raise ValueError("max_retries cannot be negative.")
        self._base_url = base_url.rstrip("/")
        self._api_key = api_key
        self._timeout = (float(timeout[0]), float(timeout[1]))
        self._max_rps = float(max_rps)
        self._offset_mode = offset_mode
        self._on_call = on_call
        self._max_retries = max_retries
        self._backoff = backoff
        self._retry_after_cap = retry_after_cap
        self._sleep = sleep
        self._rate_limiter = rate_limiter or _process_rate_limiter

    def __repr__(self) -> str:
        return f"TatumClient(base_url={self._base_url!r}, offset_mode={self._offset_mode!r})"

    # --- Customers ---

    def list_customers(self, *, page_size: int = 50, page: int = 0) -> list[Customer]:
        """One page of customers, inactive and disabled ones included. `page` counts from 0."""
        params = self._page_params(_LIST_CUSTOMERS, page_size, page)
        body = self._request(_LIST_CUSTOMERS, params=params)
        return _parse_list(_LIST_CUSTOMERS, body, Customer.from_json)

    def iter_customers(self, *, page_size: int = 50) -> Iterator[Customer]:
        """Every customer, page by page, until a page comes back short."""
        self._page_params(_LIST_CUSTOMERS, page_size, 0)
        return self._iter_customer_pages(page_size)

    def _iter_customer_pages(self, page_size: int) -> Iterator[Customer]:
        previous_ids: list[str] | None = None
        page = 0
        while True:
            customers = self.list_customers(page_size=page_size, page=page)
            ids = [customer.id for customer in customers]
            if customers and ids == previous_ids:
                # Tatum ignored the offset: without this check the loop would never end.
                raise TatumProtocolError(
                    "Tatum returned the same page twice; check TATUM_OFFSET_MODE.",
                    method=_LIST_CUSTOMERS.method,
                    route=_LIST_CUSTOMERS.route,
                )
            yield from customers
            if len(customers) < page_size:
                return
            previous_ids = ids
            page += 1

    def get_customer(self, customer_id: str) -> Customer:
        """One customer, by its external or internal id."""
        path_id = _check_path_id(_GET_CUSTOMER, customer_id, _ANY_CUSTOMER_ID)
        body = self._request(_GET_CUSTOMER, path_id=path_id)
        return _parse_one(_GET_CUSTOMER, body, Customer.from_json)

    def update_customer(
        self,
        customer_id: str,
        *,
        external_id: str,
        accounting_currency: str | None = None,
        customer_country: str | None = None,
        provider_country: str | None = None,
    ) -> Customer:
        """Change a customer (by internal id). Fields left as None are not sent, so stay unchanged.

        `external_id` is required by Tatum: send the current one to keep it.
        """
        endpoint = _UPDATE_CUSTOMER
        path_id = _check_path_id(endpoint, customer_id, _INTERNAL_ID)
        body: dict[str, Any] = {"externalId": _check_text(endpoint, "externalId", external_id, 1, 100)}
        body.update(_customer_fields(endpoint, accounting_currency, customer_country, provider_country))
        answer = self._request(endpoint, path_id=path_id, body=body)
        return _parse_one(endpoint, answer, Customer.from_json)

    def activate_customer(self, customer_id: str) -> None:
        """Activate a customer (by internal id)."""
        self._put_state(_ACTIVATE_CUSTOMER, customer_id)

    def deactivate_customer(self, customer_id: str) -> None:
        """Deactivate a customer (by internal id); Tatum requires its accounts to be deactivated first."""
        self._put_state(_DEACTIVATE_CUSTOMER, customer_id)

    def enable_customer(self, customer_id: str) -> None:
        """Enable a customer (by internal id), restoring its accounts' available balances."""
        self._put_state(_ENABLE_CUSTOMER, customer_id)

    def disable_customer(self, customer_id: str) -> None:
        """Disable a customer (by internal id): it can do nothing and its available balances become 0."""
        self._put_state(_DISABLE_CUSTOMER, customer_id)

    def _put_state(self, endpoint: _Endpoint, customer_id: str) -> None:
        path_id = _check_path_id(endpoint, customer_id, _INTERNAL_ID)
        self._request(endpoint, path_id=path_id, expect_json=False)

    # --- Accounts ---

    def list_customer_accounts(
        self, customer_id: str, *, page_size: int = 50, page: int = 0
    ) -> list[Account]:
        """One page of the customer's active accounts. `page` counts from 0."""
        endpoint = _LIST_CUSTOMER_ACCOUNTS
        # Accounts belong to the internal id (as for the customer's other endpoints), never an external one.
        path_id = _check_path_id(endpoint, customer_id, _INTERNAL_ID)
        params = self._page_params(endpoint, page_size, page)
        body = self._request(endpoint, path_id=path_id, params=params)
        return _parse_list(endpoint, body, Account.from_json)

    def create_account(
        self,
        *,
        currency: str,
        external_id: str | None = None,
        accounting_currency: str | None = None,
        customer_country: str | None = None,
        provider_country: str | None = None,
        account_code: str | None = None,
        account_number: str | None = None,
    ) -> Account:
        """Create a ledger account; with `external_id`, for that customer (created or updated by it).

        `accounting_currency` and the countries belong to the customer, so they need `external_id`.
        """
        endpoint = _CREATE_ACCOUNT
        body: dict[str, Any] = {"currency": _check_text(endpoint, "currency", currency, 2, 40)}
        customer = _customer_fields(endpoint, accounting_currency, customer_country, provider_country)
        if external_id is not None:
            body["customer"] = {
                "externalId": _check_text(endpoint, "externalId", external_id, 1, 100),
                **customer,
            }
        elif customer:
            field = next(iter(customer))
            raise endpoint.invalid(field, f"{field} is a customer field: give the customer's externalId too.")
        if account_code is not None:
            body["accountCode"] = _check_text(endpoint, "accountCode", account_code, 1, 50)
        if account_number is not None:
            body["accountNumber"] = _check_text(endpoint, "accountNumber", account_number, 1, 50)
        answer = self._request(endpoint, body=body)
        return _parse_one(endpoint, answer, Account.from_json)

    def deactivate_account(self, account_id: str) -> None:
        """Deactivate an account (by id); Tatum requires a zero balance."""
        path_id = _check_path_id(_DEACTIVATE_ACCOUNT, account_id, _INTERNAL_ID)
        self._request(_DEACTIVATE_ACCOUNT, path_id=path_id, expect_json=False)

    # --- Plan ---

    def get_version(self) -> PlanVersion:
        """The key's plan, credit limit and usage; also a cheap connectivity check."""
        return _parse_one(_GET_VERSION, self._request(_GET_VERSION), PlanVersion.from_json)

    def get_usage(self) -> list[UsageDay]:
        """Credits used per day, as Tatum counts them."""
        return _parse_list(_GET_USAGE, self._request(_GET_USAGE), UsageDay.from_json)

    # --- Plumbing ---

    def _page_params(self, endpoint: _Endpoint, page_size: int, page: int) -> dict[str, int]:
        _check_int(endpoint, "pageSize", page_size, 1, MAX_PAGE_SIZE)
        _check_int(endpoint, "page", page, 0)
        # The contract does not say what `offset` counts, so it is a setting, applied here only.
        offset = page * page_size if self._offset_mode == "records" else page
        return {"pageSize": page_size, "offset": offset}

    def _request(
        self,
        endpoint: _Endpoint,
        *,
        path_id: str | None = None,
        params: dict[str, int] | None = None,
        body: dict[str, Any] | None = None,
        expect_json: bool = True,
    ) -> Any:
        route = endpoint.route if path_id is None else endpoint.route.replace("{id}", quote(path_id, safe=""))
        url = self._base_url + route
        # Reads are safe to repeat; a write is tried once, whatever happens.
        attempts = 1 + (self._max_retries if endpoint.method == "GET" else 0)
        for attempt in range(1, attempts + 1):
            try:
                return self._attempt(endpoint, url, params, body, expect_json)
            except TatumError as error:
                if attempt == attempts or not _is_retryable(error):
                    raise
                self._sleep(self._retry_delay(error, attempt))
        raise AssertionError("unreachable: the last attempt returns or raises")

    def _retry_delay(self, error: TatumError, attempt: int) -> float:
        retry_after = getattr(error, "retry_after", None)
        if retry_after is not None:
            return min(retry_after, self._retry_after_cap)
        # Exponential back-off with jitter, so that threads that failed together do not retry together.
        delay = self._backoff * 2 ** (attempt - 1) * random.uniform(0.5, 1.0)
        return min(delay, self._retry_after_cap)

    def _attempt(
        self,
        endpoint: _Endpoint,
        url: str,
        params: dict[str, int] | None,
        body: dict[str, Any] | None,
        expect_json: bool,
    ) -> Any:
        self._rate_limiter.wait(self._max_rps)
        started = time.monotonic()
        try:
            # Prepared on its own, not merged with the session's settings: the session holds none that
            # apply (no cookies, auth or parameters; its default headers are in `_headers`), and
            # merging them took half of the time a call spends before it is sent.
            prepared = requests.Request(
                endpoint.method, url, params=params, json=body, headers=self._headers()
            ).prepare()
            response = _shared_session().send(
                prepared,
                timeout=self._timeout,
                allow_redirects=False,
                stream=False,
                cert=None,
                **_environment_settings(self._base_url),
            )
        except requests.RequestException as exc:
            self._report(endpoint, None, _ms_since(started), "")
            raise self._transport_error(endpoint, exc) from exc
        duration_ms = _ms_since(started)
        try:
            result = self._read(endpoint, response, expect_json)
        except TatumError as error:
            self._report(endpoint, response.status_code, duration_ms, error.error_code)
            raise
        self._report(endpoint, response.status_code, duration_ms, "")
        return result

    def _headers(self) -> dict[str, str]:
        headers = {
            **_DEFAULT_HEADERS,
            "x-api-key": self._api_key,
            "Accept": "application/json",
            "User-Agent": USER_AGENT,
        }
        request_id = current_request_id()
        if request_id != "-" and _SAFE_REQUEST_ID.match(request_id):
            headers["X-Request-ID"] = request_id
        return headers

    def _transport_error(self, endpoint: _Endpoint, exc: requests.RequestException) -> TatumUnavailable:
        # A read that failed changed nothing; a write that failed after being sent may have happened.
        sent = endpoint.method != "GET" and not _never_sent(exc)
        error_class = TatumOutcomeUnknown if sent else TatumUnavailable
        message = _describe_failure(exc)
        if sent:
            message += " The change may or may not have been made: read the customer again to find out."
        return error_class(message, method=endpoint.method, route=endpoint.route)

    def _read(self, endpoint: _Endpoint, response: requests.Response, expect_json: bool) -> Any:
        status = response.status_code
        if not 200 <= status < 300:
            raise self._status_error(endpoint, response)
        if not expect_json:
            # A state change answers 204 with no body; anything else readable is ignored.
            if response.content.strip() and not _is_json(response.content):
                raise _garbled_answer(endpoint, status)
            return None
        try:
            return response.json()
        except ValueError as exc:
            raise _garbled_answer(endpoint, status) from exc

    def _status_error(self, endpoint: _Endpoint, response: requests.Response) -> TatumError:
        status = response.status_code
        try:
            payload = response.json()
        except ValueError:
            payload = None
        if not isinstance(payload, dict):
            payload = {}
        error_code = self._redact(str(payload.get("errorCode") or ""))
        message = self._redact(_message_text(payload.get("message")))
        data = payload.get("data")
        items = (
            [self._redact(item) for item in data if isinstance(item, dict)] if isinstance(data, list) else []
        )
        error_class = _error_class(status, error_code)
        kwargs: dict[str, Any] = {
            "status": status,
            "error_code": error_code,
            "data": items,
            "method": endpoint.method,
            "route": endpoint.route,
        }
        if error_class is TatumRateLimited:
            kwargs["retry_after"] = _retry_after_seconds(response.headers.get("Retry-After"))
        return error_class(message or f"Tatum answered HTTP {status} without an explanation.", **kwargs)

    def _redact(self, value: Any) -> Any:
        """Tatum echoes the key in some messages (401: "...subscription for '<key>'"): cut it out."""
        if isinstance(value, str):
            return value.replace(self._api_key, _REDACTED) if self._api_key else value
        if isinstance(value, dict):
            return {key: self._redact(item) for key, item in value.items()}
        if isinstance(value, list):
            return [self._redact(item) for item in value]
        return value

    def _report(self, endpoint: _Endpoint, status: int | None, duration_ms: int, error_code: str) -> None:
        logger.info(
            "Tatum %s %s -> %s in %d ms",
            endpoint.method,
            endpoint.route,
            status if status is not None else "no answer",
            duration_ms,
        )
        if self._on_call is None:
            return
        record = CallRecord(
            method=endpoint.method,
            route=endpoint.route,
            status=status,
            duration_ms=duration_ms,
            # Charged even without an answer: the request may have reached Tatum and been billed, and
            # over-counting our spend is safer than under-counting it.
            credits=CREDIT_COSTS[endpoint.method],
            error_code=error_code,
        )
        try:
            self._on_call(record)
        except Exception:  # a broken hook must never break the call itself
            logger.exception("Could not record the Tatum call %s %s", endpoint.method, endpoint.route)


def tatum_client(*, on_call: Callable[[CallRecord], None] | None = None) -> TatumClient:
    """A client configured from the current Django settings (read on each call).

    Calls are recorded as `ApiCall` rows unless another `on_call` hook is given (for example one that
    collects records in a worker thread for the caller's thread to store).
    """
    # Imported here: the hook needs the models, which need the app registry to be ready.
    from customers.apicalls import record_api_call

    api_key = settings.SANDBOX_API_KEY if settings.SANDBOX_MODE else settings.TATUM_API_KEY
    return TatumClient(
        base_url=settings.TATUM_API_URL,
        api_key=api_key,
        timeout=settings.TATUM_TIMEOUT,
        max_rps=settings.TATUM_MAX_RPS,
        offset_mode=settings.TATUM_OFFSET_MODE,
        on_call=on_call or record_api_call,
        max_retries=settings.TATUM_MAX_RETRIES,
        backoff=settings.TATUM_RETRY_BACKOFF,
    )
