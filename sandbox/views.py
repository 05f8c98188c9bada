"""The Tatum-compatible endpoints. Each view validates, calls one service or selector, and answers.

What every endpoint shares (latency, method check, API key, plan rate, credits, faults, 403 and 500
bodies) is in `tatum_endpoint`, in the order the real service applies it.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from functools import wraps
from typing import Any

from django.conf import settings
from django.contrib.auth.decorators import login_not_required
from django.http import HttpRequest, HttpResponse
from django.urls import reverse
from django.utils.crypto import constant_time_compare
from django.views.decorators.csrf import csrf_exempt

from sandbox import responses, selectors, services
from sandbox.credits import (
    PLAN,
    ROLLOVER_DAY,
    billing_period_start,
    credits_by_day,
    credits_charge,
    credits_used_since,
    today_utc,
)
from sandbox.errors import CUSTOMER_NOT_EXISTS, LedgerError
from sandbox.faults import fault_after_call, fault_for_request, fault_response, latency_seconds
from sandbox.payloads import account_payload, customer_payload
from sandbox.ratelimit import plan_rate_refusal
from sandbox.validation import (
    CUSTOMER_UPDATE,
    INTERNAL_ID,
    LOOKUP_ID,
    PAGING_QUERY,
    account_create_errors,
    paging_query,
)

logger = logging.getLogger(__name__)

View = Callable[..., HttpResponse]

STATE_ACTIONS: dict[str, Callable[..., None]] = {
    "activate": services.customer_activate,
    "deactivate": services.customer_deactivate,
    "enable": services.customer_enable,
    "disable": services.customer_disable,
}
ACCOUNT_ACTIONS: dict[str, Callable[..., None]] = {
    "activate": services.account_activate,
    "deactivate": services.account_deactivate,
    "freeze": services.account_freeze,
    "unfreeze": services.account_unfreeze,
}


def _start(request: HttpRequest) -> None:
    """Every answer, errors included, waits `SANDBOX_LATENCY_MS`."""
    seconds = latency_seconds()
    if seconds > 0:
        time.sleep(seconds)


def _upstream_url(request: HttpRequest) -> str:
    """The URL as the client addressed Tatum: the request's path and query below the sandbox mount."""
    mount = reverse("sandbox:route-not-found", kwargs={"rest": ""}).rstrip("/")
    return request.get_full_path()[len(mount) :] or "/"


def _authenticate(request: HttpRequest) -> HttpResponse | None:
    api_key = request.headers.get("x-api-key", "")
    if not api_key:
        return responses.api_key_missing()
    if not constant_time_compare(api_key, settings.SANDBOX_API_KEY):
        return responses.subscription_invalid(api_key)
    return None


def _call(view: View, request: HttpRequest, kwargs: dict[str, Any]) -> HttpResponse:
    try:
        return view(request, **kwargs)
    except LedgerError as exc:
        return responses.error_response(403, exc.error_code, exc.message)


def _serve(view: View, request: HttpRequest, kwargs: dict[str, Any]) -> HttpResponse:
    refusal = _authenticate(request)
    if refusal is not None:
        return refusal
    api_key = request.headers["x-api-key"]
    # Over the plan's rate, a call is refused before anything else: it does nothing and costs nothing.
    retry_after = plan_rate_refusal(api_key=api_key)
    if retry_after is not None:
        return responses.plan_rate_exceeded(retry_after)
    # Every authenticated call costs credits, whatever its outcome: Tatum charges per call.
    credits_charge(api_key=api_key, method=request.method or "GET")
    fault = fault_for_request()
    if fault is not None and not fault.applies_call:
        return fault_response(fault, request)
    response = _call(view, request, kwargs)
    return fault_after_call(fault, request, response) if fault is not None else response


def tatum_endpoint(*methods: str) -> Callable[[View], View]:
    """Wraps a view in what every endpoint shares, in this order.

    Latency; the method (405); the API key (401); the plan's rate (429); credits; faults. A refused
    business rule becomes a 403, and anything unexpected Tatum's 500 body (never Django's error page).
    """

    def decorator(view: View) -> View:
        @wraps(view)
        def endpoint(request: HttpRequest, **kwargs: Any) -> HttpResponse:
            _start(request)
            if request.method not in methods:
                return responses.method_not_allowed(request.method or "", _upstream_url(request), methods)
            try:
                return _serve(view, request, kwargs)
            except Exception:
                logger.exception("Sandbox endpoint %s failed.", view.__name__)
                return responses.internal_error()

        return login_not_required(csrf_exempt(endpoint))

    return decorator


# --- Request bodies -----------------------------------------------------------------------------


def _is_json(request: HttpRequest) -> bool:
    content_type = (request.content_type or "").lower()
    return content_type == "application/json" or content_type.endswith("+json")


def _json_error_message(exc: json.JSONDecodeError) -> str:
    if exc.pos >= len(exc.doc.rstrip()):
        return "Unexpected end of JSON input"
    return f"Unexpected token {exc.doc[exc.pos]} in JSON at position {exc.pos}"


def _json_body(request: HttpRequest) -> tuple[dict[str, Any], HttpResponse | None]:
    """The body as the service sees it: non-JSON content types and empty bodies read as `{}`."""
    if not _is_json(request) or not request.body.strip():
        return {}, None
    try:
        text = request.body.decode("utf-8")
        body = json.loads(text)
        if not isinstance(body, dict | list):
            # Strict JSON parsing accepts only an object or an array at the top.
            raise json.JSONDecodeError("not an object", text, len(text) - len(text.lstrip()))
    except UnicodeDecodeError:
        return {}, responses.unparsable_body("Request body is not valid UTF-8")
    except json.JSONDecodeError as exc:
        return {}, responses.unparsable_body(_json_error_message(exc))
    return (body if isinstance(body, dict) else {}), None


def _customer_fields(body: dict[str, Any]) -> dict[str, Any]:
    return {name: body[name] for name in services.CUSTOMER_FIELDS if name in body}


# --- Customers ----------------------------------------------------------------------------------


@tatum_endpoint("GET")
def customer_collection(request: HttpRequest) -> HttpResponse:
    query = paging_query(request.GET)
    errors = PAGING_QUERY.validate(query)
    if errors:
        return responses.validation_failed(errors)
    customers = selectors.customer_list(page_size=int(query["pageSize"]), offset=int(query.get("offset", 0)))
    return responses.json_response([customer_payload(customer) for customer in customers])


def _customer_get(identifier: str) -> HttpResponse:
    errors = LOOKUP_ID.validate({"id": identifier})
    if errors:
        return responses.validation_failed(errors)
    customer = selectors.customer_lookup(identifier)
    if customer is None:
        raise LedgerError(CUSTOMER_NOT_EXISTS, subject=identifier)
    return responses.json_response(customer_payload(customer))


def _customer_update(request: HttpRequest, customer_id: str) -> HttpResponse:
    body, unparsable = _json_body(request)
    if unparsable is not None:
        return unparsable
    errors = INTERNAL_ID.validate({"id": customer_id}) or CUSTOMER_UPDATE.validate(body)
    if errors:
        return responses.validation_failed(errors)
    customer = services.customer_update(ledger_id=customer_id, fields=_customer_fields(body))
    return responses.json_response(customer_payload(customer))


@tatum_endpoint("GET", "PUT")
def customer_detail(request: HttpRequest, customer_id: str) -> HttpResponse:
    if request.method == "GET":
        return _customer_get(customer_id)
    return _customer_update(request, customer_id)


@tatum_endpoint("GET", "PUT")
def customer_state(request: HttpRequest, customer_id: str, action: str) -> HttpResponse:
    if request.method == "GET":
        # A GET here can only mean an id that itself contains a slash (sent as %2F).
        return _customer_get(f"{customer_id}/{action}")
    errors = INTERNAL_ID.validate({"id": customer_id})
    if errors:
        return responses.validation_failed(errors)
    STATE_ACTIONS[action](ledger_id=customer_id)
    return responses.no_content()


# --- Accounts -----------------------------------------------------------------------------------


@tatum_endpoint("POST")
def account_collection(request: HttpRequest) -> HttpResponse:
    body, unparsable = _json_body(request)
    if unparsable is not None:
        return unparsable
    errors = account_create_errors(body)
    if errors:
        return responses.validation_failed(errors)
    customer = body.get("customer")
    account = services.account_create(
        currency=body["currency"],
        customer_fields=_customer_fields(customer) if customer else None,
        accounting_currency=body.get("accountingCurrency"),
        account_code=body.get("accountCode"),
        account_number=body.get("accountNumber"),
    )
    return responses.json_response(account_payload(account))


@tatum_endpoint("GET")
def customer_accounts(request: HttpRequest, customer_id: str) -> HttpResponse:
    query = paging_query(request.GET)
    errors = INTERNAL_ID.validate({"id": customer_id}) or PAGING_QUERY.validate(query)
    if errors:
        return responses.validation_failed(errors)
    accounts = selectors.customer_active_accounts(
        customer_ledger_id=customer_id, page_size=int(query["pageSize"]), offset=int(query.get("offset", 0))
    )
    return responses.json_response([account_payload(account, customer_id) for account in accounts])


@tatum_endpoint("PUT")
def account_state(request: HttpRequest, account_id: str, action: str) -> HttpResponse:
    errors = INTERNAL_ID.validate({"id": account_id})
    if errors:
        return responses.validation_failed(errors)
    ACCOUNT_ACTIONS[action](ledger_id=account_id)
    return responses.no_content()


# --- Plan and usage -----------------------------------------------------------------------------


@tatum_endpoint("GET")
def version(request: HttpRequest) -> HttpResponse:
    api_key = request.headers["x-api-key"]
    used = credits_used_since(api_key=api_key, since=billing_period_start(today_utc()))
    return responses.json_response({**PLAN, "usage": used, "rolloverDay": ROLLOVER_DAY})


@tatum_endpoint("GET")
def usage(request: HttpRequest) -> HttpResponse:
    days = credits_by_day(api_key=request.headers["x-api-key"])
    return responses.json_response([{"day": day.strftime("%m/%d/%Y"), "usage": used} for day, used in days])


# --- Everything else ----------------------------------------------------------------------------


@login_not_required
@csrf_exempt
def route_not_found(request: HttpRequest, rest: str) -> HttpResponse:
    """Any other path: the JSON 404 of Tatum's API framework, before any key is looked at."""
    _start(request)
    return responses.route_not_found(request.method or "", _upstream_url(request))
