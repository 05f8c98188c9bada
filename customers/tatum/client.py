"""The Tatum ledger client: the only module in the app that speaks HTTP to Tatum (or to the sandbox).

It validates every input against the API contract before sending anything, quotes ids so that an id
can never change the path, spaces calls to the plan's rate, retries reads (never writes) with
back-off, maps Tatum's error bodies to the `TatumError` tree and reports every attempt, with its
credit cost, to an `on_call` callback. It knows nothing of Django: the caller gives it a session, a
rate limiter and the callbacks. The API key is sent in a header and never appears in a message, a log
line or a call record.
"""

from __future__ import annotations

import http.cookiejar
import json
import logging
import math
import random
import re
import time
import tomllib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import quote

import requests
from requests.adapters import HTTPAdapter
from urllib3.exceptions import ConnectTimeoutError, NewConnectionError

from customers.tatum.errors import (
    TatumAuthError,
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
)
from customers.tatum.ratelimit import RateLimiter
from customers.tatum.reference import COUNTRY_CODES, CURRENCY_CODES
from customers.tatum.text import has_control_characters, tatum_length
from customers.tatum.values import Account, CallRecord, Customer, PlanVersion, UsageDay, json_type

logger = logging.getLogger(__name__)

# Tatum bills per call, whatever the outcome.
CREDIT_COSTS: dict[str, int] = {"GET": 1, "PUT": 2, "POST": 2}
MAX_PAGE_SIZE = 50
OFFSET_MODES = ("records", "pages")
NOT_FOUND_CODES = frozenset({"customer.not.exists", "customer.internal.not.exists", "account.not.exists"})

_REDACTED = "[redacted]"
_RETRYABLE_STATUSES = frozenset({502, 503, 504})
# Failures while the answer was being read: the request itself went out.
_FAILED_WHILE_READING = (requests.exceptions.ChunkedEncodingError, requests.exceptions.ContentDecodingError)
_TRANSIENT_FAILURES = (requests.Timeout, requests.ConnectionError, *_FAILED_WHILE_READING)


def _client_version() -> str:
    pyproject = Path(__file__).resolve().parents[2] / "pyproject.toml"
    try:
        with pyproject.open("rb") as file:
            return str(tomllib.load(file)["project"]["version"])
    except (OSError, KeyError, tomllib.TOMLDecodeError):
        return "unknown"


USER_AGENT = f"tatum-customer-dashboard/{_client_version()}"


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
_ACTIVATE_ACCOUNT = _Endpoint("PUT", "/v3/ledger/account/{id}/activate")
_DEACTIVATE_ACCOUNT = _Endpoint("PUT", "/v3/ledger/account/{id}/deactivate")
_FREEZE_ACCOUNT = _Endpoint("PUT", "/v3/ledger/account/{id}/freeze")
_UNFREEZE_ACCOUNT = _Endpoint("PUT", "/v3/ledger/account/{id}/unfreeze")
_GET_VERSION = _Endpoint("GET", "/v3/tatum/version")
_GET_USAGE = _Endpoint("GET", "/v3/tatum/usage")

# Length rules for `{id}`: external or internal customer ids on reads, internal ids on writes.
ANY_ID_LENGTHS = (1, 100)
INTERNAL_ID_LENGTHS = (10, 50)
# The customer's `externalId`, in an update or an account's `customer`.
EXTERNAL_ID_LENGTHS = (1, 100)


def _check_int(endpoint: _Endpoint, field: str, value: Any, minimum: int, maximum: int | None = None) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise endpoint.invalid(field, f"{field} must be a whole number, not {value!r}.")
    if value < minimum or (maximum is not None and value > maximum):
        limit = f"between {minimum} and {maximum}" if maximum is not None else f"at least {minimum}"
        raise endpoint.invalid(field, f"{field} must be {limit}, not {value}.")
    return value


def _check_text(endpoint: _Endpoint, field: str, value: Any, min_length: int, max_length: int) -> str:
    if not isinstance(value, str):
        raise endpoint.invalid(field, f"{field} must be text, not {json_type(value)}.")
    length = tatum_length(value)
    if not min_length <= length <= max_length:
        raise endpoint.invalid(
            field, f"{field} must be {min_length} to {max_length} characters long, not {length}."
        )
    return value


def _check_external_id(endpoint: _Endpoint, value: Any) -> str:
    problem = external_id_problem(value)
    if problem:
        raise endpoint.invalid("externalId", problem)
    return value


def external_id_problem(value: Any) -> str:
    """Why `value` cannot be a customer's external id ("" when it can): Tatum's length rule, counted
    as Tatum counts it, and what `id_problem` refuses in a path (dots only, control characters), so
    that every external id the dashboard saves can be looked up again."""
    return _text_id_problem(value, "An external id", EXTERNAL_ID_LENGTHS, ": it could not be looked up by it")


def id_problem(value: Any, *, internal: bool = False) -> str:
    """Why `value` cannot be a customer id in a Tatum path ("" when it can): any id on reads,
    an internal one on writes. Quoted, an id that passes is exactly one path segment."""
    return _text_id_problem(value, "An id", INTERNAL_ID_LENGTHS if internal else ANY_ID_LENGTHS)


def _text_id_problem(value: Any, what: str, lengths: tuple[int, int], unsafe_because: str = "") -> str:
    low, high = lengths
    if not isinstance(value, str):
        return f"{what} must be text, not {json_type(value)}."
    length = tatum_length(value)
    if not low <= length <= high:
        return f"{what} is {low} to {high} characters long, not {length}."
    unsafe = _path_segment_problem(value)
    return f"{what} cannot {unsafe}{unsafe_because}." if unsafe else ""


def _path_segment_problem(value: str) -> str:
    """What keeps `value` from being one path segment, exactly as given ("" when nothing does)."""
    if set(value) == {"."}:
        return "consist of dots only"
    if has_control_characters(value):
        return "contain control characters (a tab, a line break and the like)"
    return ""


def looks_internal(customer_id: str) -> bool:
    """Whether an id has the shape of Tatum's internal ids (24 hex characters); an external id may too."""
    return bool(_INTERNAL_ID_SHAPE.fullmatch(customer_id))


_INTERNAL_ID_SHAPE = re.compile(r"[0-9a-f]{24}")


def _check_path_id(endpoint: _Endpoint, value: Any, *, internal: bool) -> str:
    problem = id_problem(value, internal=internal)
    if problem:
        raise endpoint.invalid("id", problem)
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


# --- Transport ------------------------------------------------------------------------------------


def new_session(*, pool_size: int) -> requests.Session:
    """A session for one process's calls to Tatum, keeping up to `pool_size` connections alive.

    Size the pool to the threads that can call at once: a thread that finds every kept connection in
    use opens one of its own and discards it afterwards, and against Tatum each of those is a new TLS
    handshake.
    """
    session = requests.Session()
    # Retries are ours (reads only, with back-off): urllib3 must never resend a write by itself.
    adapter = HTTPAdapter(pool_connections=4, pool_maxsize=pool_size, max_retries=0)
    session.mount("https://", adapter)
    session.mount("http://", adapter)
    # The API is stateless and clients with different keys may share this session: keep no cookies.
    session.cookies.set_policy(http.cookiejar.DefaultCookiePolicy(allowed_domains=[]))
    # The API key is the only credential Tatum is sent: an auth of our own (which does nothing) keeps
    # `requests` from adding one from ~/.netrc.
    session.auth = _no_auth
    return session


def _no_auth(request: requests.PreparedRequest) -> requests.PreparedRequest:
    return request


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
            f"Expected a JSON array but got {json_type(body)}.", method=endpoint.method, route=endpoint.route
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
    """Tatum's ledger customer API. Cheap to create: `session` and `rate_limiter` are meant to be shared
    by every client of the process. The limiter is waited on before every attempt and told of every 429
    (`hold_off`, for Retry-After or the back-off). `on_call` is told of every attempt; `request_id` gives
    the id to send as `X-Request-ID` (for Tatum's support)."""

    def __init__(
        self,
        *,
        base_url: str,
        api_key: str,
        timeout: tuple[float, float],
        max_rps: float,
        session: requests.Session,
        rate_limiter: RateLimiter,
        offset_mode: str = "records",
        on_call: Callable[[CallRecord], None] | None = None,
        request_id: Callable[[], str] | None = None,
        max_retries: int = 3,
        backoff: float = 0.25,
        retry_after_cap: float = 5.0,
        sleep: Callable[[float], None] = time.sleep,
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
        self._request_id = request_id
        self._session = session
        self._max_retries = max_retries
        self._backoff = backoff
        self._retry_after_cap = retry_after_cap
        self._sleep = sleep
        self._rate_limiter = rate_limiter

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
        path_id = _check_path_id(_GET_CUSTOMER, customer_id, internal=False)
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
        path_id = _check_path_id(endpoint, customer_id, internal=True)
        body: dict[str, Any] = {"externalId": _check_external_id(endpoint, external_id)}
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

    def _put_state(self, endpoint: _Endpoint, internal_id: str) -> None:
        """A state change of a customer or an account: a PUT with no body, answered 204 (never retried)."""
        path_id = _check_path_id(endpoint, internal_id, internal=True)
        self._request(endpoint, path_id=path_id, expect_json=False)

    # --- Accounts ---

    def list_customer_accounts(
        self, customer_id: str, *, page_size: int = 50, page: int = 0
    ) -> list[Account]:
        """One page of the customer's active accounts. `page` counts from 0."""
        endpoint = _LIST_CUSTOMER_ACCOUNTS
        # Accounts belong to the internal id (as for the customer's other endpoints), never an external one.
        path_id = _check_path_id(endpoint, customer_id, internal=True)
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
                "externalId": _check_external_id(endpoint, external_id),
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

    def activate_account(self, account_id: str) -> None:
        """Activate an inactive account (by id); Tatum requires its customer to be active."""
        self._put_state(_ACTIVATE_ACCOUNT, account_id)

    def deactivate_account(self, account_id: str) -> None:
        """Deactivate an account (by id); Tatum requires a zero balance."""
        self._put_state(_DEACTIVATE_ACCOUNT, account_id)

    def freeze_account(self, account_id: str) -> None:
        """Freeze an account (by id): no outgoing transactions, and its available balance becomes 0."""
        self._put_state(_FREEZE_ACCOUNT, account_id)

    def unfreeze_account(self, account_id: str) -> None:
        """Unfreeze an account (by id), restoring its available balance; not frozen: nothing changes."""
        self._put_state(_UNFREEZE_ACCOUNT, account_id)

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
                delay = self._retry_delay(error, attempt)
                if isinstance(error, TatumRateLimited):
                    # Tatum counts the whole deployment's calls against one plan: every process waits.
                    self._rate_limiter.hold_off(delay)
                if attempt == attempts or not _is_retryable(error):
                    raise
                self._sleep(delay)
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
            response = self._session.request(
                endpoint.method,
                url,
                params=params,
                json=body,
                headers=self._headers(),
                timeout=self._timeout,
                allow_redirects=False,
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
        headers = {"x-api-key": self._api_key, "Accept": "application/json", "User-Agent": USER_AGENT}
        request_id = self._request_id() if self._request_id else ""
        if request_id:
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
