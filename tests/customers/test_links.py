"""`customer_url` gives exactly what Django's `reverse` gives, for any id and any script prefix."""

from __future__ import annotations

import contextlib

import hypothesis
import pytest
from django.template import engines
from django.urls import NoReverseMatch, get_script_prefix, reverse, set_script_prefix
from hypothesis import example, given
from hypothesis import strategies as st

from customers.links import PAGES, customer_url
from customers.state import STATE_ACTION_NAMES
from tests.customers.conftest import CUSTOMER_ID

PROPERTY = hypothesis.settings(max_examples=300, deadline=None, derandomize=True, database=None)
# Characters `quote` and `reverse` treat differently, or that URLs and HTML treat specially.
PIECES = [
    *list("!$&'()*+,;=~:@/?#[]%<>\"\\ \t\n\x00\x7f"),
    *["%2F", "..", "é", "日本", "😀", "\u202e", "\ufeff", "edit", "history", CUSTOMER_ID],
]
ids = st.one_of(
    st.text(max_size=20),
    st.lists(st.one_of(st.sampled_from(PIECES), st.text(max_size=3)), max_size=8).map("".join),
)
PREFIXES = ["/", "/back office/", "/app%20x/", "/é/"]


def reversed_url(customer_id: str, page: str) -> str:
    if page in STATE_ACTION_NAMES:
        return reverse("customers:customer_state_change", args=[customer_id, page])
    return reverse(f"customers:customer_{page}", args=[customer_id])


@contextlib.contextmanager
def script_prefix(prefix: str):
    before = get_script_prefix()
    set_script_prefix(prefix)
    try:
        yield
    finally:
        set_script_prefix(before)


@PROPERTY
@given(customer_id=ids, page=st.sampled_from(sorted(PAGES)), prefix=st.sampled_from(PREFIXES))
@example(customer_id="a/b", page="detail", prefix="/")
@example(customer_id="", page="edit", prefix="/")
@example(customer_id="customer-id-goes-here", page="history", prefix="/")
def test_customer_url_is_what_reverse_gives(customer_id, page, prefix):
    with script_prefix(prefix):
        try:
            expected = reversed_url(customer_id, page)
        except NoReverseMatch:
            with pytest.raises(NoReverseMatch):
                customer_url(customer_id, page)
        else:
            assert customer_url(customer_id, page) == expected


def test_the_default_page_is_the_detail_page():
    assert customer_url(CUSTOMER_ID) == f"/customers/{CUSTOMER_ID}/"


def test_an_unknown_page_is_refused():
    with pytest.raises(NoReverseMatch):
        customer_url(CUSTOMER_ID, "delete")


def test_the_filter_prints_what_the_url_tag_prints():
    template = engines["django"].from_string(
        "{% load customer_tags %}"
        "{{ id|customer_url:'edit' }}|{% url 'customers:customer_edit' id %}|"
        "{{ id|customer_url:action }}|{% url 'customers:customer_state_change' id action %}"
    )
    for customer_id in ["plain", """<b>&"'x""", "a b?c#d"]:
        first, second, third, fourth = template.render({"id": customer_id, "action": "disable"}).split("|")
        assert first == second and third == fourth
        assert "<b>" not in first
