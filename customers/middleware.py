from __future__ import annotations

from collections.abc import Callable

from django.http import HttpRequest, HttpResponse
from django.template.loader import render_to_string

from customers.apicalls import api_calls_defer, credits_spent_today
from customers.view_helpers import is_partial_request


class ApiCallRecordingMiddleware:
    """Stores the request's Tatum call records after its response has been sent, not before.

    `api_calls_flush` runs on `request_finished`, which the server sends once the response is out: it
    writes the rows, or hands them to the process's batching writer (`CALL_RECORD_BATCH_MS`). The
    credits shown on the page already count them.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        api_calls_defer()
        return self.get_response(request)


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
            user = request.user
            response.content += render_to_string(
                "partials/credits_oob.html", {"credits_today": credits_spent_today(user)}
            ).encode(response.charset)
            if response.has_header("Content-Length"):
                response["Content-Length"] = str(len(response.content))
        return response


def _swapped_fragment(request: HttpRequest, response: HttpResponse) -> bool:
    """A fragment that htmx will swap in for a signed-in user (not a redirect, error or download)."""
    user = getattr(request, "user", None)
    return (
        is_partial_request(request)
        and user is not None
        and user.is_authenticated
        and response.status_code == 200
        and not response.streaming
        and response.get("Content-Type", "").startswith("text/html")
        and not any(response.has_header(name) for name in _HTMX_NAVIGATION_HEADERS)
    )


# Response headers with which htmx leaves the page instead of swapping the fragment in.
_HTMX_NAVIGATION_HEADERS = ("HX-Redirect", "HX-Location", "HX-Refresh")
