"""Small pieces the customer views share."""

from __future__ import annotations

import html
import time
from typing import Any, TypedDict
from urllib.parse import quote

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import reverse
from django.utils import timezone
from django.utils.safestring import SafeString

from customers.errors import message_for
from customers.selectors import CustomerSnapshot
from customers.tatum import Customer, TatumError, TatumInvalidInput, TatumNotFound
from customers.templatetags.customer_tags import country_label, currency_label

_PREFETCH_KEY = "customers:prefetched"
_PREFETCH_SECONDS = 30


def error_context(error: TatumError) -> dict[str, Any]:
    message = message_for(error)
    return {"error": message, "error_banner": message.banner, "tatum_error": error}


def render_partial_or_page(
    request: HttpRequest, page_template: str, partial_template: str, context: dict[str, Any]
) -> HttpResponse:
    """htmx gets the fragment it swaps in; everyone else gets the whole page."""
    is_partial = request.htmx and not request.htmx.boosted and not request.htmx.history_restore_request
    return render(request, partial_template if is_partial else page_template, context)


def upstream_error_page(request: HttpRequest, customer_id: str, error: TatumError) -> HttpResponse:
    if isinstance(error, TatumNotFound | TatumInvalidInput):
        return render(request, "customers/customer_not_found.html", {"customer_id": customer_id}, status=404)
    return render(request, "customers/customer_error.html", error_context(error), status=503)


def prefetched_stash(request: HttpRequest, snapshot: CustomerSnapshot) -> None:
    """Keep a customer just read for the page we redirect to, so it is not read twice."""
    request.session[_PREFETCH_KEY] = {
        "customer": snapshot.customer.to_json(),
        "read_at": snapshot.read_at.isoformat(),
        "expires": time.time() + _PREFETCH_SECONDS,
    }


def prefetched_take(request: HttpRequest, customer_id: str) -> CustomerSnapshot | None:
    """The stashed customer, once, if it is the one asked for and still fresh."""
    stash = request.session.pop(_PREFETCH_KEY, None)
    if not stash or stash.get("expires", 0) < time.time():
        return None
    customer = Customer.from_json(stash["customer"])
    if customer.id != customer_id:
        return None
    read_at = timezone.datetime.fromisoformat(stash["read_at"])
    return CustomerSnapshot(customer=customer, read_at=read_at)


class CustomerRow(TypedDict):
    """A customer as one list row, every value resolved once in Python.

    A dict, because a template resolves `row.key` on a dict at once, while on an object it first fails
    a key lookup: with 50 to 100 rows a page, that is a third of the page's rendering.

    The text values are HTML already: escaped here, once, by the function Django's own `escape` uses
    (`html.escape`), so the template prints them as they are. Escaping them in the template goes
    through Django's lazy-text check on each of the 400 values of a 50-row page, which was a third of
    the table's rendering. Print them only as HTML text or attribute values; never filter them.
    """

    detail_url: SafeString
    id: SafeString
    external_id: SafeString
    active: bool
    enabled: bool
    currency: SafeString
    customer_country: SafeString
    provider_country: SafeString
    compliance_gap: bool


def _html(text: str) -> SafeString:
    return SafeString(html.escape(text))


def customer_rows(customers: list[Customer]) -> list[CustomerRow]:
    detail_prefix = reverse("customers:customer_list")
    return [
        CustomerRow(
            detail_url=_html(f"{detail_prefix}{quote(customer.id, safe='')}/"),
            id=_html(customer.id),
            external_id=_html(customer.external_id),
            active=customer.active,
            enabled=customer.enabled,
            currency=_html(currency_label(customer.accounting_currency)),
            customer_country=_html(country_label(customer.customer_country)),
            provider_country=_html(country_label(customer.provider_country)),
            compliance_gap=customer.compliance_gap,
        )
        for customer in customers
    ]
