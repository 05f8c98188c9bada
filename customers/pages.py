"""What the app's views share: the partial-or-page choice of htmx views, Tatum errors as page
context and error pages, and the page for a database that is not answering (the project's
`handler500`)."""

from __future__ import annotations

import sys
from typing import Any

from django.db import InterfaceError, OperationalError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.template.loader import render_to_string
from django.utils.cache import add_never_cache_headers
from django.views import defaults

from customers.credits.calls import api_calls_collected_writes
from customers.tatum import TatumError, TatumInvalidInput, TatumNotFound
from customers.user_messages import message_for


def is_partial_request(request: HttpRequest) -> bool:
    """An htmx request for the fragment it swaps in (not a boosted page or a history restore)."""
    return bool(request.htmx and not request.htmx.boosted and not request.htmx.history_restore_request)


def render_partial_or_page(
    request: HttpRequest, page_template: str, partial_template: str, context: dict[str, Any]
) -> HttpResponse:
    """htmx gets the fragment it swaps in; everyone else gets the whole page."""
    return render(request, partial_template if is_partial_request(request) else page_template, context)


def error_context(error: TatumError) -> dict[str, Any]:
    """A Tatum error as a page shows it: the message in plain words, and the banner it calls for."""
    message = message_for(error)
    return {"error": message, "error_banner": message.banner, "tatum_error": error}


def upstream_error_page(request: HttpRequest, customer_id: str, error: TatumError) -> HttpResponse:
    """The page for a customer that could not be read: 404 when there is no such customer, else 503."""
    if isinstance(error, TatumNotFound | TatumInvalidInput):
        return render(request, "customers/customer_not_found.html", {"customer_id": customer_id}, status=404)
    return render(request, "customers/customer_error.html", error_context(error), status=503)


# --- The database is not answering ---------------------------------------------------------------

# What a database that is down, restarting or unreachable raises (a refused or dropped connection);
# other database errors (an integrity error, a bad query) are bugs and stay 500s.
DATABASE_OUTAGE_ERRORS = (OperationalError, InterfaceError)
# htmx drops a 5xx body: this header tells the page's script what to say (static/js/dashboard.js).
OUTAGE_HEADER = "X-Dashboard-Outage"
OUTAGE_RETRY_AFTER_SECONDS = 30


def server_error(request: HttpRequest) -> HttpResponse:
    """The project's `handler500`: for a database that is not answering, a 503 page saying so, wherever
    the error surfaced (the session, the user, a view, a context processor); else Django's 500 page.

    Django calls it while handling the exception, so `sys.exc_info()` holds it.
    """
    if isinstance(sys.exc_info()[1], DATABASE_OUTAGE_ERRORS):
        return database_outage_page(request)
    return defaults.server_error(request)


def database_outage_page(request: HttpRequest) -> HttpResponse:
    """503: the database is not answering, and whether a change had already gone to Tatum."""
    change_sent = api_calls_collected_writes() > 0
    # A plain context, not the request's: its context processors read the user and the credits,
    # which need the database.
    context = {
        "change_sent": change_sent,
        "path": request.get_full_path(),
        "request_id": getattr(request, "request_id", ""),
    }
    response = HttpResponse(render_to_string("503.html", context), status=503)
    response[OUTAGE_HEADER] = "database-after-change" if change_sent else "database"
    response["Retry-After"] = str(OUTAGE_RETRY_AFTER_SECONDS)
    add_never_cache_headers(response)
    return response
