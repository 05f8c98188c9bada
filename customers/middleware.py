"""Middleware of the app: request ids, Tatum call records, the header's credits under htmx, and the
headers that keep signed-in pages out of caches and switch off browser features nobody here uses."""

from __future__ import annotations

from collections.abc import Callable

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.template.loader import render_to_string
from django.utils.functional import SimpleLazyObject

from customers.context import SAFE_REQUEST_ID, actor_var, new_request_id, request_id_var
from customers.credits.calls import api_calls_collect, api_calls_store_collected, credits_spent_today
from customers.pages import DATABASE_OUTAGE_ERRORS, is_partial_request


class RequestIdMiddleware:
    """Gives every request an id: in logs, in the `X-Request-ID` response header, in audit entries,
    and sent on to Tatum."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        incoming = request.headers.get("X-Request-ID", "")
        request_id = incoming if SAFE_REQUEST_ID.fullmatch(incoming) else new_request_id()
        request.request_id = request_id  # type: ignore[attr-defined]
        rid_token = request_id_var.set(request_id)
        # Resolved lazily: the user is attached by the authentication middleware further in.
        actor_token = actor_var.set(SimpleLazyObject(lambda: getattr(request, "user", None)))
        try:
            response = self.get_response(request)
        finally:
            request_id_var.reset(rid_token)
            actor_var.reset(actor_token)
        response["X-Request-ID"] = request_id
        return response


class ApiCallRecordingMiddleware:
    """Stores the request's Tatum call records once the view is done, in one `bulk_create`.

    Whatever the view did (an error page, an exception), the calls it made are stored: Tatum billed
    them. The page's header already counts them (`credits_spent_today`).
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        token = api_calls_collect()
        try:
            return self.get_response(request)
        finally:
            api_calls_store_collected(token)


class HtmxCreditsMiddleware:
    """Keeps the header's credit count current on pages that htmx updates in part.

    A fragment swapped in by htmx (a page of the list, a state change, an export's progress) leaves the
    header as it was, so a signed-in user's fragment carries the count out of band: the credits spent
    today, this request's calls included.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        if _swapped_fragment(request, response):
            response.content += render_to_string(
                "partials/credits_oob.html", {"credits_today": credits_spent_today(request.user)}
            ).encode(response.charset)
            if response.has_header("Content-Length"):
                response["Content-Length"] = str(len(response.content))
        return response


def _swapped_fragment(request: HttpRequest, response: HttpResponse) -> bool:
    """A fragment that htmx will swap in for a signed-in user (not a redirect, error or download)."""
    user = getattr(request, "user", None)
    # The status first: an error page (the database not answering) must not read the user again.
    return (
        response.status_code == 200
        and is_partial_request(request)
        and user is not None
        and user.is_authenticated
        and not response.streaming
        and response.get("Content-Type", "").startswith("text/html")
        and not any(response.has_header(name) for name in _HTMX_NAVIGATION_HEADERS)
    )


# Response headers with which htmx leaves the page instead of swapping the fragment in.
_HTMX_NAVIGATION_HEADERS = ("HX-Redirect", "HX-Location", "HX-Refresh")


# Browser features the dashboard never uses, switched off for it and anything it embeds; the Copy
# buttons write to the clipboard, from the dashboard's own pages only.
PERMISSIONS_POLICY = ", ".join(
    [
        "accelerometer=()",
        "browsing-topics=()",
        "camera=()",
        "display-capture=()",
        "geolocation=()",
        "gyroscope=()",
        "hid=()",
        "magnetometer=()",
        "microphone=()",
        "midi=()",
        "payment=()",
        "serial=()",
        "usb=()",
        "clipboard-read=()",
        "clipboard-write=(self)",
    ]
)
PRIVATE_NO_STORE = "private, no-store"


class PrivacyHeadersMiddleware:
    """Keeps what a signed-in user sees out of every cache, and switches off unused browser features.

    Each response to a signed-in user, and each download, gets `Cache-Control: private, no-store`
    (unless it already says `no-store`: Django's `never_cache` is stricter still); each response gets a
    `Permissions-Policy`. Static files never reach the user check (whitenoise answers them first, with
    its own caching).
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        response.setdefault("Permissions-Policy", PERMISSIONS_POLICY)
        if "no-store" not in response.get("Cache-Control", "") and _private(request, response):
            response["Cache-Control"] = PRIVATE_NO_STORE
        return response


def _private(request: HttpRequest, response: HttpResponse) -> bool:
    """A download, or a response to a signed-in user."""
    if response.get("Content-Disposition", "").startswith("attachment"):
        return True
    user = getattr(request, "user", None)
    # Without a session cookie nobody is signed in: no need to read the session (the database).
    if user is None or settings.SESSION_COOKIE_NAME not in request.COOKIES:
        return False
    try:
        return user.is_authenticated
    except DATABASE_OUTAGE_ERRORS:
        return True  # cannot tell, so keep it out of caches
