"""What the app's views share: the partial-or-page choice of htmx views, and Tatum errors as page
context and error pages."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

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
