"""HTTP responses shaped exactly like Tatum's (and its API gateway's) JSON bodies."""

from __future__ import annotations

import json
from typing import Any

from django.http import HttpResponse

JSON_CONTENT_TYPE = "application/json; charset=utf-8"
VALIDATION_MESSAGE = "Request validation failed. Please see data for additional information."


def json_bytes(payload: Any) -> bytes:
    # Compact and non-ASCII kept as is, as Node's JSON.stringify writes it.
    return json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def json_response(payload: Any, status: int = 200) -> HttpResponse:
    return HttpResponse(json_bytes(payload), status=status, content_type=JSON_CONTENT_TYPE)


def no_content() -> HttpResponse:
    response = HttpResponse(status=204)
    del response["Content-Type"]
    return response


def error_response(status: int, error_code: str, message: str) -> HttpResponse:
    return json_response({"statusCode": status, "errorCode": error_code, "message": message}, status)


def validation_failed(items: list[dict[str, Any]]) -> HttpResponse:
    body = {"statusCode": 400, "errorCode": "validation.failed", "message": VALIDATION_MESSAGE, "data": items}
    return json_response(body, 400)


def unparsable_body(message: str) -> HttpResponse:
    """A body that is not JSON never reaches validation: the framework's own 400."""
    return json_response({"statusCode": 400, "message": message, "error": "Bad Request"}, 400)


def subscription_invalid(api_key: str) -> HttpResponse:
    return error_response(401, "subscription.invalid", f"Unable to find valid subscription for '{api_key}'")


def api_key_missing() -> HttpResponse:
    message = "Unable to authorize the request: no API key was sent and this IP address has no access."
    return error_response(401, "ip-address-key.unauthorized", message)


def internal_error() -> HttpResponse:
    return json_response({"statusCode": 500, "message": "Internal server error"}, 500)


def rate_limited(retry_after_seconds: int) -> HttpResponse:
    response = error_response(429, "rate.limit", "Too many requests")
    response["Retry-After"] = str(retry_after_seconds)
    return response


def plan_rate_exceeded(retry_after_seconds: int) -> HttpResponse:
    """A key over its plan's rate: the body of the throttler of Tatum's framework (NestJS)."""
    response = json_response({"statusCode": 429, "message": "ThrottlerException: Too Many Requests"}, 429)
    response["Retry-After"] = str(retry_after_seconds)
    return response


def gateway_timeout() -> HttpResponse:
    return json_response({"statusCode": 504, "message": "Gateway Timeout", "error": "Gateway Timeout"}, 504)


def route_not_found(method: str, url: str) -> HttpResponse:
    return json_response({"statusCode": 404, "message": f"Cannot {method} {url}", "error": "Not Found"}, 404)


def method_not_allowed(method: str, url: str, allowed: tuple[str, ...]) -> HttpResponse:
    body = {"statusCode": 405, "message": f"Cannot {method} {url}", "error": "Method Not Allowed"}
    response = json_response(body, 405)
    response["Allow"] = ", ".join(allowed)
    return response
