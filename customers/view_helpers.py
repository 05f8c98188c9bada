"""Small pieces the customer views share."""

from __future__ import annotations

import contextlib
import html
import secrets
import time
from collections.abc import Callable
from typing import Any, TypedDict, TypeVar

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.template import engines
from django.template.loader import render_to_string
from django.utils import timezone
from django.utils.safestring import SafeString

from customers.apicalls import credits_pending, credits_stored_today
from customers.circuit import circuit_is_open
from customers.errors import message_for
from customers.links import customer_url
from customers.selectors import CustomerSnapshot, Reading
from customers.tatum import Customer, TatumError, TatumInvalidInput, TatumNotFound
from customers.templatetags.customer_tags import country_label, currency_label

T = TypeVar("T")
_PREFETCH_KEY = "customers:prefetched"
_PREFETCH_SECONDS = 30


def error_context(error: TatumError) -> dict[str, Any]:
    message = message_for(error)
    return {"error": message, "error_banner": message.banner, "tatum_error": error}


def render_partial_or_page(
    request: HttpRequest, page_template: str, partial_template: str, context: dict[str, Any]
) -> HttpResponse:
    """htmx gets the fragment it swaps in; everyone else gets the whole page."""
    return render(request, partial_template if is_partial_request(request) else page_template, context)


def is_partial_request(request: HttpRequest) -> bool:
    """An htmx request for the fragment it swaps in (not a boosted page or a history restore)."""
    return bool(request.htmx and not request.htmx.boosted and not request.htmx.history_restore_request)


class LateParts:
    """Places in a rendered page for parts rendered afterwards: `slots` go in the template's context
    (as `late`), `fill()` puts the parts in. A slot is an HTML comment with a random token, which no
    escaped text can contain."""

    def __init__(self, *names: str) -> None:
        token = secrets.token_hex(8)
        self.slots = {name: SafeString(f"<!--late {token} {name}-->") for name in names}

    def fill(self, html: str, parts: dict[str, str]) -> str:
        for name, slot in self.slots.items():
            if html.count(slot) != 1:
                raise ValueError(f"The page must show its late part {name!r} exactly once.")
            html = html.replace(slot, parts[name])
        return html


class PageWhileReading:
    """A page rendered while Tatum answers `reading`.

    `start()` renders all of the page but its late parts, and is meant to run while Tatum answers;
    the page template shows `late.<name>` for each of them, and base.html the upstream banner and the
    credits in the header. `finish()` puts in the late parts, rendered once the answer is in, with the
    banner and the credits (which count this page's calls, so come last).
    """

    def __init__(self, request: HttpRequest, reading: Reading[Any], *late: str) -> None:
        self.request = request
        self.reading = reading
        self._parts = LateParts(*late, "banner", "credits")
        self._page = ""
        self._shared: dict[str, Any] = {}
        self._stored_credits = 0

    def start(
        self, page_template: str, context: dict[str, Any], local: Callable[[], dict[str, Any]] | None = None
    ) -> None:
        """Render the page but its late parts, first adding to `context` what `local` reads from the
        database. If that fails, the read is collected (its calls are recorded) before giving up."""
        self.reading.wait_until_started()
        try:
            if local is not None:
                context.update(local())
            # The page and its late parts see the same context processors' values, computed once.
            self._shared = request_values(self.request)
            self._page = render_to_string(page_template, self.context(context, late=self._parts.slots))
            # Still while Tatum answers: the credits stored so far (the page's own calls are added after).
            self._stored_credits = credits_stored_today(self.request.user)
        except BaseException:
            with contextlib.suppress(TatumError):
                self.reading.result()
            raise

    def context(self, context: dict[str, Any], **more: Any) -> dict[str, Any]:
        """`context` and `more` over the context processors' values: a template's whole context."""
        return {**self._shared, **context, **more}

    def finish(self, parts: dict[str, str], error_banner: str | None = None) -> HttpResponse:
        """The page with its late `parts` put in, and the banner and the credits."""
        request = self.request
        parts = {
            **parts,
            "banner": render_to_string(
                "partials/upstream_banner.html",
                {"error_banner": error_banner, "upstream_down": circuit_is_open()},
            ),
            "credits": render_to_string(
                "partials/credits.html",
                {"credits_today": self._stored_credits + credits_pending(request.user)},
            ),
        }
        return HttpResponse(self._parts.fill(self._page, parts))


def render_while_reading(
    request: HttpRequest,
    page_template: str,
    context: dict[str, Any],
    reading: Reading[T],
    read_into: Callable[[dict[str, Any], T], None],
    *,
    late: dict[str, str],
) -> HttpResponse:
    """The whole page, rendered while Tatum answers `reading` (see `PageWhileReading`).

    Its `late` parts (slot name to template) are rendered after the answer, given the context that
    `read_into` completes with the result, or the error.
    """
    page = PageWhileReading(request, reading, *late)
    page.start(page_template, context)
    try:
        read_into(context, reading.result())
    except TatumError as exc:
        context.update(error_context(exc))
    context = page.context(context)
    rendered = {name: render_to_string(template, context) for name, template in late.items()}
    return page.finish(rendered, context.get("error_banner"))


def request_values(request: HttpRequest) -> dict[str, Any]:
    """What rendering with `request` adds to a template's context: the context processors' values
    (as `RequestContext` computes them, for each template it renders). A template given these and no
    request sees what it would see given the request."""
    values: dict[str, Any] = {}
    for processor in engines["django"].engine.template_context_processors:
        values.update(processor(request))
    return values


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
    return [
        CustomerRow(
            detail_url=_html(customer_url(customer.id)),
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
