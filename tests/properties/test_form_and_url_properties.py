"""Any text in any form field or URL id: the dashboard never crashes and never sends Tatum a bad call.

Tatum is faked by `tests/properties/conftest.py`, which records every request. Each property checks
that no page fails with a 500 (the test client re-raises any exception a view lets through) and that
every upstream request stays on a customer path of the contract, names the customer by the id the
dashboard was asked for (or the internal id Tatum gave for it), and carries only valid data.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from urllib.parse import quote, unquote, urlencode, urlsplit

import hypothesis
import pytest
from django.urls import Resolver404, resolve
from django.utils.encoding import iri_to_uri
from hypothesis import example, given
from hypothesis import strategies as st

from customers.audit.models import AuditEntry
from customers.audit.trail import Actor, audit_entry_close, audit_entry_open
from customers.screens.selectors import customer_fingerprint
from customers.tatum import Customer
from customers.tatum.reference import COUNTRY_CODES, CURRENCY_CODES
from tests.customers.conftest import CUSTOMER_ID, customer_json
from tests.properties.conftest import STATE_ACTIONS

pytestmark = pytest.mark.django_db

PROPERTY = hypothesis.settings(
    max_examples=100,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[hypothesis.HealthCheck.function_scoped_fixture, hypothesis.HealthCheck.too_slow],
)
HTMX = {"HX-Request": "true"}

# Pieces that have broken URL and form handling somewhere, sometime.
AWKWARD_PIECES = [
    *["/", ".", "..", "%2F", "%2f", "%252F", "%2E%2E", "?", "#", "&", "=", "%", "%00", "\\", ";", "+"],
    *[" ", "\t", "\n", "\r", "\x00", "\x1b", "\x7f", "\x85", "\u00a0", "\u2028", "\u200b", "\ufeff"],
    *["\u202e", "é", "日本", "😀", "<script>", "'", '"', "{id}", CUSTOMER_ID],
    *["lookup", "edit", "verify", *STATE_ACTIONS],
]
awkward_text = st.one_of(
    st.text(max_size=30),
    st.lists(st.one_of(st.sampled_from(AWKWARD_PIECES), st.text(max_size=4)), max_size=8).map("".join),
    st.text(st.characters(categories=["Cc", "Cf", "Zs", "Zl", "Zp"]), max_size=8),
    st.text(min_size=95, max_size=105),
    st.integers(min_value=101, max_value=5000).map(lambda n: "x" * n),
)
number_text = st.one_of(
    st.integers(min_value=-(10**7), max_value=10**7).map(str),
    st.sampled_from(["0", "01", "1_000", "1e3", "1.0", " 3 ", "١٢", "²", "①", "9" * 5000, "-0", "+5"]),
)
flag_text = st.one_of(st.sampled_from(["True", "False", "true", "false", "0", "1", "", "on"]), awkward_text)


def text(response) -> str:
    return response.content.decode()


def assert_no_server_error(response) -> None:
    assert response.status_code != 500
    assert "500.html" not in [template.name for template in response.templates]


def dashboard_customer_id(path: str) -> str | None:
    """The customer id the dashboard's URL resolver hands its view for this path, if any."""
    try:
        return resolve(unquote(path)).kwargs.get("customer_id")
    except Resolver404:
        return None


# --- Lookup and list -----------------------------------------------------------------------------


@PROPERTY
@given(q=awkward_text)
@example(q="../../v3/tatum/usage")
@example(q="a/../../admin")
@example(q="%2E%2E%2F%2E%2E")
def test_any_lookup_text_is_answered_without_a_crash_or_a_bad_call(support_client, fake_tatum, q):
    fake_tatum.reset()

    response = support_client.get("/customers/lookup/", {"q": q})

    assert_no_server_error(response)
    assert response.status_code in (200, 302)
    fake_tatum.assert_within_contract(requested_ids={q.strip()})
    assert len(fake_tatum.calls) <= 1


@PROPERTY
@given(
    size=st.none() | number_text | awkward_text,
    page=st.none() | number_text | awkward_text,
    htmx=st.booleans(),
)
@example(size="50", page="1000000", htmx=False)
@example(size="51", page="0", htmx=True)
def test_any_list_paging_parameters_show_a_page_and_ask_tatum_only_for_valid_ones(
    support_client, fake_tatum, size, page, htmx
):
    fake_tatum.reset()
    query = urlencode({name: value for name, value in (("size", size), ("page", page)) if value is not None})

    response = support_client.get(f"/customers/live/?{query}", headers=HTMX if htmx else {})

    assert_no_server_error(response)
    assert response.status_code == 200
    fake_tatum.assert_within_contract(requested_ids=set())
    assert [call.path for call in fake_tatum.calls] == ["/v3/ledger/customer"]


# --- Every customer URL, with any id -------------------------------------------------------------


@dataclass(frozen=True)
class Route:
    method: str
    template: str  # with {id}

    def path(self, customer_id: str) -> str:
        return self.template.format(id=quote(customer_id, safe=""))


ROUTES = {
    "detail": Route("GET", "/customers/{id}/"),
    "edit form": Route("GET", "/customers/{id}/edit/"),
    "edit save": Route("POST", "/customers/{id}/edit/"),
    **{f"{action} confirmation": Route("GET", f"/customers/{{id}}/{action}/") for action in STATE_ACTIONS},
    **{action: Route("POST", f"/customers/{{id}}/{action}/") for action in STATE_ACTIONS},
}
# What the state change form posts: a reason, and the count of active accounts the page showed.
STATE_FORM = {"active_accounts": "0", "reason": "Checked"}


def edit_form(**changes: str) -> dict[str, str]:
    form = {
        "external_id": "cust-001",
        "accounting_currency": "EUR",
        "customer_country": "FR",
        "provider_country": "CZ",
        "fingerprint": customer_fingerprint(Customer.from_json(customer_json())),
    }
    return {**form, **changes}


@PROPERTY
@given(
    customer_id=awkward_text,
    route=st.sampled_from(list(ROUTES.values())),
    htmx=st.booleans(),
)
@example(customer_id="..", route=ROUTES["detail"], htmx=False)
@example(customer_id="../../tatum/version", route=ROUTES["activate"], htmx=True)
@example(customer_id="a" * 10 + "%2F..", route=ROUTES["disable"], htmx=False)
@example(customer_id="cust-1", route=ROUTES["disable confirmation"], htmx=False)
@example(customer_id="customer-0001", route=ROUTES["deactivate confirmation"], htmx=False)
@example(customer_id="6e68c66581f2ee32bc354088", route=ROUTES["detail"], htmx=True)
@example(customer_id="x/disable", route=ROUTES["detail"], htmx=False)
def test_any_id_in_any_customer_url_stays_one_path_segment_of_the_right_customer(
    support_client, fake_tatum, customer_id, route, htmx
):
    fake_tatum.reset()
    path = route.path(customer_id)
    data = edit_form() if route.template.endswith("edit/") else STATE_FORM
    headers = HTMX if htmx else {}

    if route.method == "GET":
        response = support_client.get(path, headers=headers)
    else:
        response = support_client.post(path, data, headers=headers)

    assert_no_server_error(response)
    resolved = dashboard_customer_id(path)
    if resolved is not None and "/" not in customer_id:
        assert resolved == customer_id, "the dashboard's own URL changed the id"
    fake_tatum.assert_within_contract(requested_ids=set() if resolved is None else {resolved})
    assert len(fake_tatum.calls_with("PUT")) <= 1
    assert not AuditEntry.objects.filter(outcome=AuditEntry.Outcome.PENDING).exists()


# --- Verify, and where it goes back to -----------------------------------------------------------

OFF_SITE = [
    "https://evil.example/",
    "//evil.example/",
    "/\\evil.example/",
    "\\\\evil.example",
    " //evil.example/",
    "\t//evil.example/",
    "https:evil.example",
    "javascript:alert(1)",
    "http://testserver.evil.example/",
    "ftp://testserver/customers/",
]


def _unknown_disable() -> AuditEntry:
    entry = audit_entry_open(
        actor=Actor(user=None),
        action=AuditEntry.Action.DISABLE,
        customer_id=CUSTOMER_ID,
        customer_external_id="cust-001",
        changes={"enabled": [True, False]},
    )
    return audit_entry_close(entry, outcome=AuditEntry.Outcome.UNKNOWN)


@PROPERTY
@given(
    next_url=st.one_of(st.sampled_from(OFF_SITE), awkward_text, awkward_text.map(lambda t: "/" + t)),
    entry_id=st.one_of(st.none(), st.integers(min_value=0, max_value=2**70)),
)
@example(next_url="https://evil.example/", entry_id=None)
@example(next_url=f"/customers/{CUSTOMER_ID}/", entry_id=None)
@example(next_url="/\\evil.example/", entry_id=2**63)
def test_verify_goes_back_only_to_an_address_on_the_dashboard(support_client, fake_tatum, next_url, entry_id):
    """`None` for `entry_id` stands for an unknown outcome that exists and gets verified."""
    fake_tatum.reset(customer_json(enabled=False))
    made = entry_id is None
    if made:
        entry_id = _unknown_disable().pk

    response = support_client.post(f"/audit/unknown/{entry_id}/verify/", {"next": next_url})

    assert_no_server_error(response)
    assert response.status_code == 302
    location = response["Location"]
    assert location in (iri_to_uri(next_url), "/audit/unknown/")
    target = urlsplit(location)
    assert (target.scheme, target.netloc) in (("", ""), ("http", "testserver")), location
    assert location.startswith(("/", "http://testserver/")), location
    assert not location.replace("\\", "/").startswith("//"), location
    if next_url in OFF_SITE:
        assert location == "/audit/unknown/"
    fake_tatum.assert_within_contract(requested_ids={CUSTOMER_ID})
    if made:
        # Whatever `next` says, the entry is settled by one read of its customer.
        assert [call.path for call in fake_tatum.calls] == [f"/v3/ledger/customer/{CUSTOMER_ID}"]
        assert AuditEntry.objects.get(pk=entry_id).outcome == AuditEntry.Outcome.SUCCEEDED
    else:
        assert fake_tatum.calls == []


# --- The edit form -------------------------------------------------------------------------------


@st.composite
def tatum_customers(draw) -> dict:
    """Customers as Tatum may hold them: codes outside the published lists, countries never set."""
    return customer_json(
        externalId=draw(st.sampled_from(["cust-001", "x" * 100, "日本-😀", " padded "])),
        accountingCurrency=draw(st.sampled_from([None, "EUR", "DOGE", "ETH"])),
        customerCountry=draw(st.sampled_from([None, "DE", "AQ", "XX"])),
        providerCountry=draw(st.sampled_from([None, "CZ", "MT"])),
    )


def code_or_text(codes: tuple[str, ...]):
    return st.one_of(
        st.sampled_from(codes), st.sampled_from(["", "ETH", "AQ", "eur", "EUR ", "XX"]), awkward_text
    )


@PROPERTY
@given(
    current=tatum_customers(),
    external_id=st.one_of(st.sampled_from(["cust-001", "renamed"]), awkward_text),
    accounting_currency=code_or_text(CURRENCY_CODES),
    customer_country=code_or_text(COUNTRY_CODES),
    provider_country=code_or_text(COUNTRY_CODES),
    fingerprint=st.one_of(st.none(), awkward_text),
)
def test_any_edit_form_input_is_refused_or_sent_as_valid_changed_fields_only(
    support_client,
    fake_tatum,
    current,
    external_id,
    accounting_currency,
    customer_country,
    provider_country,
    fingerprint,
):
    fake_tatum.reset(current)
    entries_before = AuditEntry.objects.count()
    opened_on = customer_fingerprint(Customer.from_json(current))
    form = {
        "external_id": external_id,
        "accounting_currency": accounting_currency,
        "customer_country": customer_country,
        "provider_country": provider_country,
        # None stands for the fingerprint of the customer the form was opened on.
        "fingerprint": opened_on if fingerprint is None else fingerprint,
    }

    response = support_client.post(f"/customers/{CUSTOMER_ID}/edit/", form)

    assert_no_server_error(response)
    assert response.status_code in (302, 400, 409)
    fake_tatum.assert_within_contract(requested_ids={CUSTOMER_ID})
    puts = fake_tatum.calls_with("PUT")
    assert len(puts) <= 1
    assert AuditEntry.objects.count() - entries_before == len(puts)
    if puts:
        sent = json.loads(puts[0].body)
        assert sent["externalId"] == external_id
        chosen = {
            "accountingCurrency": accounting_currency,
            "customerCountry": customer_country,
            "providerCountry": provider_country,
        }
        for field in set(sent) - {"externalId"}:
            assert sent[field] == chosen[field] != current.get(field), f"{field} sent although unchanged"


# --- The state change form -----------------------------------------------------------------------

# action -> (the flag it sets, the value it sets it to)
STATE_TARGETS = {
    "activate": ("active", True),
    "deactivate": ("active", False),
    "enable": ("enabled", True),
    "disable": ("enabled", False),
}


@PROPERTY
@given(
    action=st.sampled_from(STATE_ACTIONS),
    htmx=st.booleans(),
    held=st.fixed_dictionaries(
        {
            "externalId": st.sampled_from(["cust-001", "vip-7", "x" * 100]),
            "active": st.booleans(),
            "enabled": st.booleans(),
        }
    ),
    reason=awkward_text,
    external_id=awkward_text,
    active=flag_text,
    enabled=flag_text,
    active_accounts=st.one_of(number_text, awkward_text),
    countries=st.tuples(*[st.one_of(st.sampled_from(["", "DE", "XK"]), awkward_text)] * 2),
)
@example(
    action="disable",
    htmx=True,
    held={"externalId": "cust-001", "active": True, "enabled": True},
    reason="Checked",
    external_id="SOMEONE-ELSE-999",
    active="False",
    enabled="False",
    active_accounts="²",
    countries=("DE", "<CZ>"),
)
@example(
    action="deactivate",
    htmx=False,
    held={"externalId": "vip-7", "active": True, "enabled": False},
    reason="Checked",
    external_id="cust-001",
    active="False",
    enabled="True",
    active_accounts="9" * 5000,
    countries=("", "DE" * 100),
)
@example(
    action="enable",
    htmx=False,
    held={"externalId": "vip-7", "active": True, "enabled": False},
    reason="",
    external_id="SOMEONE-ELSE-999",
    active="False",
    enabled="True",
    active_accounts="999",
    countries=("XX", "XX"),
)
def test_any_state_change_form_input_records_only_what_tatum_holds_and_sends_at_most_once(
    support_client,
    fake_tatum,
    action,
    htmx,
    held,
    reason,
    external_id,
    active,
    enabled,
    active_accounts,
    countries,
):
    fake_tatum.reset(customer_json(**held))
    entries_before = set(AuditEntry.objects.values_list("pk", flat=True))
    form = {
        "reason": reason,
        "external_id": external_id,
        "active": active,
        "enabled": enabled,
        "active_accounts": active_accounts,
        "customer_country": countries[0],
        "provider_country": countries[1],
    }

    response = support_client.post(f"/customers/{CUSTOMER_ID}/{action}/", form, headers=HTMX if htmx else {})

    assert_no_server_error(response)
    # 422: the dialog's reason field comes back to be corrected (htmx); 400: the confirmation page does.
    assert response.status_code in (200, 302, 400, 422)
    if response.status_code == 422:
        # Only over htmx, and only the reason field, with what is wrong with it.
        assert htmx and response["HX-Retarget"] == "find .reason-field"
        assert 'class="error" id="reason-' in response.content.decode()
    fake_tatum.assert_within_contract(requested_ids={CUSTOMER_ID})
    new_entries = list(AuditEntry.objects.exclude(pk__in=entries_before))
    puts = [call.path for call in fake_tatum.calls_with("PUT")]
    if not new_entries:
        # The form was refused (no reason given, say): nothing was sent.
        assert puts == []
        return
    flag, target = STATE_TARGETS[action]
    assert [call.path for call in fake_tatum.calls] == [f"/v3/ledger/customer/{CUSTOMER_ID}", *puts]
    assert puts == ([] if held[flag] == target else [f"/v3/ledger/customer/{CUSTOMER_ID}/{action}"])
    [entry] = new_entries
    # The trail holds the customer as Tatum gave it, whatever the browser posted.
    assert (entry.action, entry.customer_id, entry.customer_external_id) == (
        action,
        CUSTOMER_ID,
        held["externalId"],
    )
    assert entry.changes == {flag: [held[flag], target]}
    assert entry.reason == reason.strip()
    assert entry.is_final
    assert entry.outcome == (AuditEntry.Outcome.SUCCEEDED if puts else AuditEntry.Outcome.FAILED)
