"""Addresses of a customer's pages, as `reverse` builds them, reversing each kind of page once.

A detail page links to the customer's other pages a dozen times, and a list row to its detail page:
each `{% url %}` costs about 30 microseconds, most of a detail page's links. Here each kind of page is
reversed once (per script prefix) with a marker for the id, and an id is put in its place, quoted
exactly as `reverse` quotes it.
"""

from __future__ import annotations

import functools
from urllib.parse import quote

from django.urls import NoReverseMatch, get_script_prefix, reverse
from django.utils.http import RFC3986_SUBDELIMS

from customers.state import STATE_ACTION_NAMES

_PAGES = {
    "detail": "customers:customer_detail",
    "edit": "customers:customer_edit",
    "history": "customers:customer_history",
}
_STATE_CHANGE = "customers:customer_state_change"
PAGES = frozenset(_PAGES) | frozenset(STATE_ACTION_NAMES)
# What `reverse` leaves unquoted in a path (RFC 3986 `pchar`); a "/" cannot be in an id at all.
_SAFE = RFC3986_SUBDELIMS + "~:@"
_MARKER = "customer-id-goes-here"


def customer_url(customer_id: str, page: str = "detail") -> str:
    """The address of a customer's `page`: "detail", "edit", "history", or a state change ("activate",
    "deactivate", "enable", "disable"). The same as `reverse` gives, and like it, refuses an id that
    is empty or holds a "/"."""
    if not customer_id or "/" in customer_id:
        raise NoReverseMatch(f"A customer id cannot be empty or hold a '/': {customer_id!r}")
    before, after = _shape(get_script_prefix(), page)
    return f"{before}{quote(customer_id, safe=_SAFE)}{after}"


@functools.lru_cache(maxsize=64)
def _shape(script_prefix: str, page: str) -> tuple[str, str]:
    """The address of `page` before and after the id. `reverse` reads the script prefix itself; it is
    part of the key so that each prefix gets its own shapes."""
    if page in _PAGES:
        url = reverse(_PAGES[page], args=[_MARKER])
    elif page in STATE_ACTION_NAMES:
        url = reverse(_STATE_CHANGE, args=[_MARKER, page])
    else:
        raise NoReverseMatch(f"A customer has no page {page!r}.")
    before, marker, after = url.partition(_MARKER)
    if not marker or _MARKER in after:
        raise NoReverseMatch(f"The address of {page!r} must hold the customer id once: {url!r}")
    return before, after
