"""Customer pages over a faked Tatum: what users see, and what reaches Tatum."""

from __future__ import annotations

import json
import re
from urllib.parse import quote

import pytest
import requests
import responses
from django.db import OperationalError
from django.test.html import parse_html
from django.urls import reverse
from django.utils.html import escape

from customers.audit.models import AuditEntry
from customers.audit.trail import Actor, audit_entry_record
from customers.credits.models import ApiCall
from tests.customers.conftest import CUSTOMER_ID, account_json, customer_json, html_elements, url

pytestmark = pytest.mark.django_db

CUSTOMER_PATH = f"/v3/ledger/customer/{CUSTOMER_ID}"
ACCOUNTS_PATH = f"/v3/ledger/account/customer/{CUSTOMER_ID}"


def body(response) -> str:
    return response.content.decode()


# --- List ----------------------------------------------------------------------------------------


def test_list_shows_states_in_words_names_and_compliance_gaps(support_client, tatum):
    tatum.get(
        url("/v3/ledger/customer"),
        json=[
            customer_json(),
            customer_json(
                id="5e68c66581f2ee32bc354088",
                externalId="gap",
                active=False,
                enabled=False,
                accountingCurrency="DOGE",
                customerCountry=None,
            ),
        ],
    )
    page = body(support_client.get("/customers/live/"))
    assert "Active" in page and "Inactive" in page and "Disabled" in page
    assert "Euro (EUR)" in page and "Dogecoin (DOGE)" in page
    assert "Germany (DE)" in page and "Czechia (CZ)" in page
    assert page.count("Compliance gap") == 1
    assert f'data-copy="{CUSTOMER_ID}"' in page


def test_list_escapes_every_value_tatum_sends_exactly_once(support_client, tatum):
    hostile = """<img src=x onerror=alert(1)>&"'"""
    escaped = "&lt;img src=x onerror=alert(1)&gt;&amp;&quot;&#x27;"
    tatum.get(url("/v3/ledger/customer"), json=[customer_json(id=hostile, externalId=hostile)])
    page = body(support_client.get("/customers/live/"))
    assert "<img src=x" not in page
    assert f"<code>{escaped}</code>" in page
    assert f'data-copy="{escaped}"' in page and f'aria-label="Copy internal id {escaped}"' in page
    assert f">{escaped}</a>" in page
    # The address Django's `reverse` gives, escaped once for the attribute.
    link = escape(reverse("customers:customer_detail", args=[hostile]))
    assert f'href="{link}"' in page
    assert "&amp;amp;" not in page and "&amp;lt;" not in page  # not escaped twice


def test_list_reads_the_requested_page_with_one_call_and_links_to_the_next(support_client, tatum):
    tatum.get(url("/v3/ledger/customer"), json=[customer_json(id=f"{i:024x}") for i in range(10)])
    response = support_client.get("/customers/live/?size=10&page=3")
    assert tatum.calls[0].request.params == {"pageSize": "10", "offset": "20"}
    assert len(tatum.calls) == 1
    assert ApiCall.objects.count() == 1
    page = body(response)
    assert 'href="?size=10&amp;page=4"' in page and 'href="?size=10&amp;page=2"' in page


def test_list_uses_page_offsets_when_tatum_counts_offset_in_pages(support_client, tatum, settings):
    settings.TATUM_OFFSET_MODE = "pages"
    tatum.get(url("/v3/ledger/customer"), json=[])
    support_client.get("/customers/live/?size=50&page=3")
    assert tatum.calls[0].request.params == {"pageSize": "50", "offset": "2"}


def test_htmx_list_request_gets_only_the_table_fragment(support_client, tatum):
    tatum.get(url("/v3/ledger/customer"), json=[customer_json()])
    response = support_client.get("/customers/live/?size=20&page=1", headers={"HX-Request": "true"})
    page = body(response)
    assert page.lstrip().startswith('<section id="customer-table"')
    assert "<html" not in page
    assert "HX-Request" in response["Vary"]


def test_list_distinguishes_no_customers_from_the_end_of_the_list(support_client, tatum):
    tatum.get(url("/v3/ledger/customer"), json=[])
    assert "No customers yet" in body(support_client.get("/customers/live/"))
    assert "End of list" in body(support_client.get("/customers/live/?page=5"))


def test_a_short_page_offers_no_next_link(support_client, tatum):
    tatum.get(url("/v3/ledger/customer"), json=[customer_json()])
    page = body(support_client.get("/customers/live/?size=10&page=1"))
    assert 'rel="next"' not in page
    assert "End of list" in page


def test_list_that_cannot_load_says_so_and_offers_a_retry(support_client, tatum):
    tatum.get(url("/v3/ledger/customer"), body=requests.ConnectionError("refused"))
    response = support_client.get("/customers/live/?size=10&page=2")
    page = body(response)
    assert response.status_code == 200
    assert "Could not load customers" in page and "Try again" in page
    assert "Tatum is not answering" in page


def test_invalid_page_parameters_fall_back_to_the_first_page_without_a_bad_call(support_client, tatum):
    tatum.get(url("/v3/ledger/customer"), json=[])
    response = support_client.get("/customers/live/?size=51&page=-1")
    assert response.status_code == 200
    assert tatum.calls[0].request.params["offset"] == "0"
    assert tatum.calls[0].request.params["pageSize"] == "20"


@pytest.mark.parametrize(
    "status,payload,banner",
    [
        (
            401,
            {
                "statusCode": 401,
                "errorCode": "subscription.invalid",
                "message": "Unable to find valid subscription for 'k'",
            },
            "refuses the dashboard's API key",
        ),
        (429, {"statusCode": 429, "message": "Too many requests"}, "rate limiting"),
        (500, {"statusCode": 500, "message": "Internal server error"}, "Tatum is not answering"),
    ],
)
def test_upstream_problems_each_get_their_own_banner(support_client, tatum, status, payload, banner):
    tatum.get(url("/v3/ledger/customer"), json=payload, status=status)
    page = body(support_client.get("/customers/live/"))
    assert banner in page
    assert "Could not load customers" in page


def test_a_list_page_is_whole_with_nothing_left_of_its_late_parts(support_client, tatum):
    tatum.get(url("/v3/ledger/customer"), json=[customer_json()])
    page = body(support_client.get("/customers/live/"))
    assert "<!--late" not in page
    assert page.count('id="upstream-banner"') == 1 and page.count('id="customer-table"') == 1
    assert "1 credit today" in page and "cust-001" in page
    assert page.rstrip().endswith("</html>")


def test_a_list_address_that_is_not_valid_shows_the_first_page_and_says_so_once(support_client, tatum):
    tatum.get(url("/v3/ledger/customer"), json=[customer_json()])
    page = body(support_client.get("/customers/live/?size=7&page=zero"))
    assert tatum.calls[0].request.params == {"pageSize": "20", "offset": "0"}
    assert "That page address was not valid, so the first page is shown." in page
    assert "cust-001" in page
    again = body(support_client.get("/customers/live/"))
    assert "That page address was not valid" not in again


def test_htmx_gets_only_the_table_of_the_list(support_client, tatum):
    tatum.get(url("/v3/ledger/customer"), json=[customer_json()])
    fragment = body(support_client.get("/customers/live/?size=10", headers={"HX-Request": "true"}))
    assert fragment.lstrip().startswith('<section id="customer-table"')
    assert "<html" not in fragment and "cust-001" in fragment


def page_fails_to_render(monkeypatch, failing_template: str) -> None:
    import customers.screens.views

    real = customers.screens.views.render

    def render(request, template_name, *args, **kwargs):
        if template_name == failing_template:
            raise RuntimeError("template bug")
        return real(request, template_name, *args, **kwargs)

    monkeypatch.setattr(customers.screens.views, "render", render)


def test_a_list_page_that_fails_to_render_still_records_its_call(support_client, tatum, monkeypatch):
    tatum.get(url("/v3/ledger/customer"), json=[customer_json()])
    page_fails_to_render(monkeypatch, "customers/customer_live_list.html")
    with pytest.raises(RuntimeError, match="template bug"):
        support_client.get("/customers/live/")
    assert ApiCall.objects.filter(route="/v3/ledger/customer").count() == 1


# --- Lookup and detail ---------------------------------------------------------------------------


def test_lookup_by_external_id_costs_one_call_and_lands_on_the_internal_id(support_client, tatum):
    tatum.get(url("/v3/ledger/customer/cust-001"), json=customer_json())
    response = support_client.get("/customers/lookup/?q=cust-001")
    assert response.status_code == 302
    assert response["Location"] == f"/customers/{CUSTOMER_ID}/"
    assert ApiCall.objects.count() == 1


def test_lookup_of_an_unknown_id_says_plainly_that_no_customer_has_it(support_client, tatum):
    tatum.get(
        url("/v3/ledger/customer/nobody"),
        status=403,
        json={
            "statusCode": 403,
            "errorCode": "customer.not.exists",
            "message": "No customer with given external ID nobody exists.",
        },
    )
    page = body(support_client.get("/customers/lookup/?q=nobody"))
    assert "No customer has the id “nobody”" in page


def test_lookup_quotes_the_id_as_one_path_segment(support_client, tatum):
    tatum.get(url("/v3/ledger/customer/a%2F..%2Fb%3Fx%3D1"), json=customer_json())
    response = support_client.get("/customers/lookup/", {"q": "a/../b?x=1"})
    assert response.status_code == 302
    assert tatum.calls[0].request.url == url("/v3/ledger/customer/a%2F..%2Fb%3Fx%3D1")


def test_lookup_refuses_blank_or_overlong_ids_without_calling_tatum(support_client, tatum):
    assert "Enter a customer" in body(support_client.get("/customers/lookup/?q=+"))
    assert "at most 100" in body(support_client.get("/customers/lookup/", {"q": "x" * 101}))
    assert len(tatum.calls) == 0


def test_detail_reads_customer_and_accounts_with_two_calls(support_client, tatum):
    tatum.get(url(CUSTOMER_PATH), json=customer_json(customerCountry=None))
    tatum.get(
        url(ACCOUNTS_PATH), json=[account_json(), account_json(id="6e68c66581f2ee32bc354002", currency="ETH")]
    )
    response = support_client.get(f"/customers/{CUSTOMER_ID}/")
    page = body(response)
    assert response.status_code == 200
    assert ApiCall.objects.count() == 2
    assert "customer country missing" in page
    assert "1.5" in page and "ETH" in page
    assert "As of" in page


def test_a_detail_page_shows_each_part_once_with_tatum_text_escaped(support_client, tatum):
    hostile = "<b>cust</b>&'"
    tatum.get(url(CUSTOMER_PATH), json=customer_json(externalId=hostile))
    tatum.get(url(ACCOUNTS_PATH), json=[account_json()])
    page = body(support_client.get(f"/customers/{CUSTOMER_ID}/"))
    assert "<b>cust" not in page
    assert f"<title>{escape(hostile)} · Tatum ledger dashboard</title>" in page
    assert page.count(f"<h1>{escape(hostile)}</h1>") == 1
    assert page.count('id="customer-status"') == 1 and page.count('id="customer-accounts"') == 1
    assert page.count('id="customer-history"') == 1 and page.count('id="upstream-banner"') == 1
    assert "2 credits today" in page
    assert page.rstrip().endswith("</html>")


def test_a_detail_page_that_fails_to_render_still_records_its_calls(support_client, tatum, monkeypatch):
    tatum.get(url(CUSTOMER_PATH), json=customer_json())
    tatum.get(url(ACCOUNTS_PATH), json=[])
    page_fails_to_render(monkeypatch, "customers/customer_detail.html")
    with pytest.raises(RuntimeError, match="template bug"):
        support_client.get(f"/customers/{CUSTOMER_ID}/")
    assert ApiCall.objects.count() == 2


def test_detail_by_external_id_redirects_to_the_internal_id_without_reading_twice(support_client, tatum):
    tatum.get(url("/v3/ledger/customer/cust-001"), json=customer_json())
    tatum.get(url(ACCOUNTS_PATH), json=[])
    response = support_client.get("/customers/cust-001/")
    assert response["Location"] == f"/customers/{CUSTOMER_ID}/"
    support_client.get(response["Location"])
    assert [c.request.url.split("/v3/")[1] for c in tatum.calls] == [
        "ledger/customer/cust-001",
        f"ledger/account/customer/{CUSTOMER_ID}?pageSize=50&offset=0",
    ]


def test_detail_of_an_unknown_customer_is_a_plain_not_found_page(support_client, tatum):
    tatum.get(
        url(CUSTOMER_PATH),
        status=403,
        json={"statusCode": 403, "errorCode": "customer.not.exists", "message": "No"},
    )
    tatum.get(url(ACCOUNTS_PATH), json=[])
    response = support_client.get(f"/customers/{CUSTOMER_ID}/")
    assert response.status_code == 404
    assert "No such customer" in body(response)


def test_detail_for_compliance_has_no_edit_or_state_buttons(client, compliance, tatum):
    tatum.get(url(CUSTOMER_PATH), json=customer_json())
    tatum.get(url(ACCOUNTS_PATH), json=[])
    client.force_login(compliance)
    page = body(client.get(f"/customers/{CUSTOMER_ID}/"))
    assert "/edit/" not in page and "data-dialog-open" not in page and "Actions" not in page


def test_detail_offers_only_possible_actions_and_says_why_not(support_client, tatum):
    tatum.get(url(CUSTOMER_PATH), json=customer_json(active=False, enabled=True))
    tatum.get(url(ACCOUNTS_PATH), json=[])
    page = body(support_client.get(f"/customers/{CUSTOMER_ID}/"))
    assert 'data-dialog-open="dialog-activate"' in page
    assert 'data-dialog-open="dialog-disable"' not in page
    assert "An inactive customer cannot be enabled or disabled" in page
    assert "Already inactive." in page


def test_deactivate_dialog_says_how_many_accounts_are_still_active(support_client, tatum):
    tatum.get(url(CUSTOMER_PATH), json=customer_json())
    tatum.get(url(ACCOUNTS_PATH), json=[account_json(), account_json(id="6e68c66581f2ee32bc354002")])
    page = body(support_client.get(f"/customers/{CUSTOMER_ID}/"))
    assert "2 accounts are still active" in page
    assert "available balance of every account is set to 0" in page


def _history_entries(count: int, customer_id: str = CUSTOMER_ID) -> list[AuditEntry]:
    """`count` changes to one customer, oldest first, each with its own reason."""
    return [
        audit_entry_record(
            actor=Actor(user=None),
            action=AuditEntry.Action.DISABLE,
            outcome=AuditEntry.Outcome.SUCCEEDED,
            customer_id=customer_id,
            customer_external_id="cust-001",
            reason=f"ticket {number:03d}",
        )
        for number in range(count)
    ]


def _detail_page_after_changes(client, tatum, count: int) -> str:
    tatum.get(url(CUSTOMER_PATH), json=customer_json())
    tatum.get(url(ACCOUNTS_PATH), json=[])
    _history_entries(count)
    return body(client.get(f"/customers/{CUSTOMER_ID}/"))


def test_detail_shows_the_ten_newest_changes_and_links_to_all_of_them(support_client, tatum):
    page = _detail_page_after_changes(support_client, tatum, 12)
    assert "ticket 011" in page and "ticket 002" in page
    assert "ticket 001" not in page and "ticket 000" not in page
    assert "The 10 newest of 12 are shown." in page
    assert f'href="/customers/{CUSTOMER_ID}/history/">All 12 changes' in page


@pytest.mark.parametrize("count", [0, 3, 10, 11, 25])
def test_a_first_page_of_changes_knows_their_number_and_counts_them_only_when_it_cannot(
    count, django_assert_num_queries
):
    from customers.audit.selectors import entry_page
    from customers.screens.selectors import customer_history

    _history_entries(count)
    with django_assert_num_queries(1 if count <= 10 else 2):  # the page; and the count past one page
        page = entry_page(customer_history(customer_id=CUSTOMER_ID), size=10)
    assert page.total == count
    assert len(page.entries) == min(count, 10) and page.has_next == (count > 10)
    assert not page.has_previous


def test_a_later_page_of_changes_counts_them_all():
    from customers.audit.selectors import entry_page
    from customers.screens.selectors import customer_history

    _history_entries(25)
    first = entry_page(customer_history(customer_id=CUSTOMER_ID), size=10)
    second = entry_page(customer_history(customer_id=CUSTOMER_ID), size=10, after=first.entries[-1].pk)
    last = entry_page(customer_history(customer_id=CUSTOMER_ID), size=10, after=second.entries[-1].pk)
    assert (first.total, second.total, last.total) == (25, 25, 25)
    assert len(last.entries) == 5 and not last.has_next and last.has_previous


def test_detail_with_few_changes_shows_them_all_and_no_history_link(support_client, tatum):
    page = _detail_page_after_changes(support_client, tatum, 10)
    assert "ticket 000" in page and "ticket 009" in page
    assert "/history/" not in page


def test_history_page_pages_every_change_newest_first_without_calling_tatum(support_client, tatum):
    _history_entries(55)
    _history_entries(3, customer_id="5e68c66581f2ee32bc354088")
    first = body(support_client.get(f"/customers/{CUSTOMER_ID}/history/"))
    assert "55 changes recorded" in first
    assert first.index("ticket 054") < first.index("ticket 005")
    assert "ticket 004" not in first
    oldest_shown = AuditEntry.objects.get(customer_id=CUSTOMER_ID, reason="ticket 005")
    assert f'href="?after={oldest_shown.pk}">Older changes' in first
    assert "Newer changes" not in first

    second = body(support_client.get(f"/customers/{CUSTOMER_ID}/history/?after={oldest_shown.pk}"))
    assert [f"ticket {n:03d}" in second for n in range(5)] == [True] * 5
    assert "ticket 005" not in second and "Older changes" not in second
    assert "Newer changes" in second
    assert len(tatum.calls) == 0 and ApiCall.objects.count() == 0


def test_history_page_with_a_broken_page_link_shows_the_newest_changes_and_says_so(support_client, tatum):
    _history_entries(2)
    page = body(support_client.get(f"/customers/{CUSTOMER_ID}/history/?after=999999"))
    assert "That page link is not valid" in page
    assert "ticket 001" in page and "ticket 000" in page


def test_history_page_of_a_customer_with_no_changes_says_so(support_client, tatum):
    page = body(support_client.get(f"/customers/{CUSTOMER_ID}/history/"))
    assert "0 changes recorded" in page and "No changes recorded yet." in page


def test_history_page_refuses_a_malformed_id(support_client, tatum):
    assert support_client.get("/customers/%20bad%00id/history/").status_code == 404


# --- Edit ----------------------------------------------------------------------------------------


def _edit_form(support_client, tatum, **current):
    tatum.get(url(CUSTOMER_PATH), json=customer_json(**current))
    response = support_client.get(f"/customers/{CUSTOMER_ID}/edit/")
    return response.context["form"].initial["fingerprint"]


def _save_edit(support_client, fingerprint, **fields):
    """Post the edit form: the customer as `customer_json()` holds it, with `fields` changed."""
    form = {
        "external_id": "cust-001",
        "accounting_currency": "EUR",
        "customer_country": "DE",
        "provider_country": "CZ",
        "fingerprint": fingerprint,
        **fields,
    }
    return support_client.post(f"/customers/{CUSTOMER_ID}/edit/", form)


def test_edit_dropdowns_hold_exactly_the_published_lists(support_client, tatum):
    _edit_form(support_client, tatum)
    form = support_client.get(f"/customers/{CUSTOMER_ID}/edit/").context["form"]
    currencies = [code for code, _ in form.fields["accounting_currency"].choices]
    countries = [code for code, _ in form.fields["customer_country"].choices]
    assert len(currencies) == 170 and "FUSD" in currencies and "ETH" not in currencies
    assert len(countries) == 248 and "AQ" not in countries
    assert dict(form.fields["customer_country"].choices)["JE"] == "Jersey (JE)"


def test_saving_sends_only_the_external_id_and_changed_fields_and_costs_two_calls(support_client, tatum):
    fingerprint = _edit_form(support_client, tatum)
    tatum.put(url(CUSTOMER_PATH), json=customer_json(customerCountry="FR"))
    ApiCall.objects.all().delete()
    response = _save_edit(support_client, fingerprint, customer_country="FR")
    assert response.status_code == 302
    put = [c for c in tatum.calls if c.request.method == "PUT"][0]
    assert json.loads(put.request.body) == {"externalId": "cust-001", "customerCountry": "FR"}
    assert ApiCall.objects.count() == 2
    entry = AuditEntry.objects.get()
    assert entry.outcome == "succeeded" and entry.changes == {"customerCountry": ["DE", "FR"]}


def test_a_conflicting_edit_writes_nothing_and_shows_theirs_against_yours(support_client, tatum):
    fingerprint = _edit_form(support_client, tatum)
    tatum.replace(responses.GET, url(CUSTOMER_PATH), json=customer_json(customerCountry="AT"))
    response = _save_edit(support_client, fingerprint, customer_country="FR")
    page = body(response)
    assert response.status_code == 409
    assert "Someone else changed this customer" in page
    conflict = page[page.index("Someone else changed") : page.index("</table>")]
    assert "<td>Austria (AT)</td>" in conflict and "<td>France (FR) <span" in conflict
    assert "<td>Euro (EUR)</td>" in conflict  # unchanged fields are labelled too
    assert not [c for c in tatum.calls if c.request.method == "PUT"]
    assert AuditEntry.objects.count() == 0


def test_tatum_validation_errors_appear_beside_the_matching_field(support_client, tatum):
    fingerprint = _edit_form(support_client, tatum)
    tatum.put(
        url(CUSTOMER_PATH),
        status=400,
        json={
            "statusCode": 400,
            "errorCode": "validation.failed",
            "message": "Request validation failed.",
            "data": [
                {
                    "target": {},
                    "property": "externalId",
                    "value": "dup",
                    "constraints": {"isUnique": "externalId is already used by another customer"},
                }
            ],
        },
    )
    response = _save_edit(support_client, fingerprint, external_id="dup")
    assert response.context["form"].errors["external_id"] == [
        "Tatum: externalId is already used by another customer"
    ]
    entry = AuditEntry.objects.get()
    assert entry.outcome == "failed" and entry.http_status == 400 and entry.error_code == "validation.failed"


def test_invalid_input_is_refused_before_anything_is_written(support_client, tatum):
    fingerprint = _edit_form(support_client, tatum)
    response = _save_edit(
        support_client, fingerprint, external_id="x" * 101, accounting_currency="XXX", customer_country="AQ"
    )
    assert response.status_code == 400
    assert set(response.context["form"].errors) == {"external_id", "accounting_currency", "customer_country"}
    assert not [c for c in tatum.calls if c.request.method == "PUT"]
    assert AuditEntry.objects.count() == 0


# --- State changes -------------------------------------------------------------------------------

HTMX = {"HX-Request": "true"}


def post_change(client, action: str, htmx: bool = True, **form):
    """Post a state change as the page's dialog does: a reason, and the accounts the page showed."""
    data = {"reason": "fraud check", "active_accounts": "0", **form}
    return client.post(f"/customers/{CUSTOMER_ID}/{action}/", data, headers=HTMX if htmx else {})


def test_disable_over_htmx_reads_the_customer_then_writes_and_rerenders_the_status(support_client, tatum):
    tatum.get(url(CUSTOMER_PATH), json=customer_json())
    tatum.put(url(f"{CUSTOMER_PATH}/disable"), status=204)
    page = body(post_change(support_client, "disable"))
    assert [call.request.method for call in tatum.calls] == ["GET", "PUT"]
    assert ApiCall.objects.count() == 2
    assert 'id="customer-status"' in page and "Disabled" in page
    assert 'data-dialog-open="dialog-enable"' in page
    assert "The customer is now disabled." in page
    history = [attrs for _, attrs in html_elements(page, "section") if attrs.get("id") == "customer-history"]
    assert [attrs.get("hx-swap-oob") for attrs in history] == ["true"]  # swapped in out of band only
    assert "fraud check" in page
    entry = AuditEntry.objects.get()
    assert (entry.action, entry.outcome, entry.reason) == ("disable", "succeeded", "fraud check")
    assert entry.changes == {"enabled": [True, False]}


@pytest.mark.parametrize(
    ("countries", "gap"),
    [
        ({"customerCountry": "DE", "providerCountry": "CZ"}, None),
        ({"customerCountry": None, "providerCountry": "CZ"}, "Compliance gap: customer country missing"),
        ({"customerCountry": "DE", "providerCountry": None}, "Compliance gap: provider country missing"),
        ({"customerCountry": None, "providerCountry": None}, "Compliance gap: both countries missing"),
    ],
)
def test_the_status_after_a_change_shows_the_compliance_gap_tatum_reported(
    support_client, tatum, countries, gap
):
    tatum.get(url(CUSTOMER_PATH), json=customer_json(**countries))
    tatum.put(url(f"{CUSTOMER_PATH}/disable"), status=204)
    page = body(post_change(support_client, "disable"))
    assert "The customer is now disabled." in page
    if gap is None:
        assert "Compliance gap" not in page
    else:
        assert page.count("Compliance gap") == 1 and gap in page


def test_the_state_change_form_posts_only_the_reason_and_the_accounts_shown(support_client, tatum):
    tatum.get(url(CUSTOMER_PATH), json=customer_json())
    tatum.get(url(ACCOUNTS_PATH), json=[account_json()])
    page = body(support_client.get(f"/customers/{CUSTOMER_ID}/"))
    dialog = page[page.index('<dialog id="dialog-disable"') :]
    dialog = dialog[: dialog.index("</dialog>")]
    names = set(re.findall(r'name="([^"]+)"', dialog))
    assert names == {"csrfmiddlewaretoken", "active_accounts", "reason"}
    assert "3 Tatum credits" in dialog


def test_forged_fields_posted_with_a_change_reach_neither_tatum_nor_the_trail(support_client, tatum):
    tatum.get(url(CUSTOMER_PATH), json=customer_json(externalId="as-tatum-has-it"))
    tatum.put(url(f"{CUSTOMER_PATH}/disable"), status=204)
    forged = {
        "external_id": "SOMEONE-ELSE-999",
        "active": "False",
        "enabled": "False",
        "customer_country": "XX",
        "provider_country": "",
        "customer_id": "5e68c66581f2ee32bc354088",
    }
    page = body(post_change(support_client, "disable", **forged))
    entry = AuditEntry.objects.get()
    assert entry.customer_id == CUSTOMER_ID and entry.customer_external_id == "as-tatum-has-it"
    assert entry.changes == {"enabled": [True, False]}
    assert "SOMEONE-ELSE-999" not in page and "Compliance gap" not in page
    assert [c.request.url for c in tatum.calls] == [url(CUSTOMER_PATH), url(f"{CUSTOMER_PATH}/disable")]


ACCOUNTS_NOTICE = '<div id="accounts-notice" hx-swap-oob="true">'
ALREADY_DISABLED = {
    "statusCode": 403,
    "errorCode": "customer.disabled",
    "message": "Unable to disable disabled customer.",
}


@pytest.mark.parametrize(
    ("action", "enabled", "said"),
    [
        ("disable", True, "disabling set every account's available balance to 0"),
        ("enable", False, "enabling restored every account's available balance"),
    ],
)
def test_a_change_that_moves_balances_marks_the_accounts_shown_as_read_before_it(
    support_client, tatum, action, enabled, said
):
    tatum.get(url(CUSTOMER_PATH), json=customer_json(enabled=enabled))
    tatum.put(url(f"{CUSTOMER_PATH}/{action}"), status=204)
    page = body(post_change(support_client, action, active_accounts="2"))
    assert page.count(ACCOUNTS_NOTICE) == 1 and said in page
    assert f'<a href="/customers/{CUSTOMER_ID}/">Refresh</a> (2 credits)' in page


@pytest.mark.parametrize(
    ("action", "accounts", "read", "answer"),
    [
        ("disable", "0", {}, {"status": 204}),  # no accounts shown
        ("disable", "2", {}, {"status": 403, "json": ALREADY_DISABLED}),  # nothing changed
        ("disable", "2", {"enabled": False}, None),  # already disabled when read: nothing sent
        ("disable", "2", {}, {"status": 500, "json": {"statusCode": 500}}),  # refused
        ("deactivate", "2", {}, {"status": 204}),  # balances untouched
    ],
)
def test_other_outcomes_leave_the_accounts_shown_as_they_are(
    support_client, tatum, action, accounts, read, answer
):
    tatum.get(url(CUSTOMER_PATH), json=customer_json(**read))
    if answer is not None:
        tatum.put(url(f"{CUSTOMER_PATH}/{action}"), **answer)
    page = body(post_change(support_client, action, active_accounts=accounts))
    assert 'id="customer-status"' in page and "accounts-notice" not in page


def test_the_detail_page_has_a_place_for_the_accounts_notice_only_above_accounts(support_client, tatum):
    tatum.get(url(CUSTOMER_PATH), json=customer_json())
    tatum.get(url(ACCOUNTS_PATH), json=[account_json()])
    assert (
        body(support_client.get(f"/customers/{CUSTOMER_ID}/")).count('<div id="accounts-notice"></div>') == 1
    )
    tatum.replace(responses.GET, url(ACCOUNTS_PATH), json=[])
    assert "accounts-notice" not in body(support_client.get(f"/customers/{CUSTOMER_ID}/"))


def test_disable_without_a_reason_is_refused_and_sends_nothing(support_client, tatum):
    tatum.get(url(CUSTOMER_PATH), json=customer_json())
    tatum.get(url(ACCOUNTS_PATH), json=[])
    response = post_change(support_client, "disable", htmx=False, reason="  ")
    assert response.status_code == 400
    assert "Give a reason" in body(response)
    assert not [c for c in tatum.calls if c.request.method == "PUT"]
    assert AuditEntry.objects.count() == 0


def test_disable_over_htmx_without_a_reason_says_so_on_the_field_and_changes_nothing(support_client, tatum):
    response = post_change(support_client, "disable", reason=" ")
    field = parse_html(body(response))
    # The dialog's reason field comes back with the problem on it, over the one posted.
    assert response.status_code == 422
    assert (response["HX-Retarget"], response["HX-Reswap"]) == ("find .reason-field", "outerHTML")
    assert field.attributes == [("class", "field reason-field")]
    textarea = next(child for child in field.children if getattr(child, "name", "") == "textarea")
    assert ("id", "reason-disable") in textarea.attributes and ("required", None) in textarea.attributes
    assert "Give a reason: it goes into the audit log." in body(response)
    assert 'id="customer-status"' not in body(response)
    assert len(tatum.calls) == 0 and AuditEntry.objects.count() == 0


def test_disable_over_htmx_with_a_forged_account_count_says_why_in_the_messages(support_client, tatum):
    response = post_change(support_client, "disable", reason="fraud", active_accounts="-5")
    page = body(response)
    assert response["HX-Reswap"] == "none"  # the status area stays as it was
    assert 'id="customer-status"' not in page and '<div id="messages"' in page
    assert "nothing was sent" in page
    assert len(tatum.calls) == 0 and AuditEntry.objects.count() == 0


def test_a_change_to_the_state_the_customer_is_in_sends_nothing_and_says_so(support_client, tatum):
    tatum.get(url(CUSTOMER_PATH), json=customer_json(enabled=True))
    page = body(post_change(support_client, "enable"))
    assert "already enabled" in page and "nothing was changed" in page
    assert 'data-dialog-open="dialog-disable"' in page
    assert [c.request.method for c in tatum.calls] == ["GET"]
    entry = AuditEntry.objects.get()
    assert entry.outcome == "failed" and "Nothing was sent" in entry.error_message


def test_tatum_saying_already_in_that_state_refreshes_the_view_with_an_explanation(support_client, tatum):
    tatum.get(url(CUSTOMER_PATH), json=customer_json(enabled=False))
    tatum.put(
        url(f"{CUSTOMER_PATH}/enable"),
        status=403,
        json={
            "statusCode": 403,
            "errorCode": "customer.enabled",
            "message": "Unable to enable enabled customer.",
        },
    )
    page = body(post_change(support_client, "enable"))
    assert "already enabled" in page
    assert 'data-dialog-open="dialog-disable"' in page


def test_a_change_whose_read_fails_says_why_and_sends_nothing(support_client, tatum):
    tatum.get(url(CUSTOMER_PATH), body=requests.ConnectionError("refused"))
    response = post_change(support_client, "disable")
    page = body(response)
    assert response.status_code == 200 and response["HX-Reswap"] == "none"
    assert "Tatum cannot be reached" in page and "Tatum is not answering" in page
    assert not [c for c in tatum.calls if c.request.method == "PUT"]
    assert AuditEntry.objects.get().outcome == "failed"


def test_deactivate_with_active_accounts_explains_what_to_do_first(support_client, tatum):
    tatum.get(url(CUSTOMER_PATH), json=customer_json())
    tatum.put(
        url(f"{CUSTOMER_PATH}/deactivate"),
        status=403,
        json={
            "statusCode": 403,
            "errorCode": "customer.deactivate.account.active",
            "message": "Unable to deactivate customer, accounts not deactivated.",
        },
    )
    page = body(post_change(support_client, "deactivate", reason="closing"))
    assert "Deactivate the customer&#x27;s accounts first" in page
    entry = AuditEntry.objects.get()
    assert entry.outcome == "failed" and entry.error_code == "customer.deactivate.account.active"


def test_a_timed_out_change_is_shown_as_unknown_and_verify_settles_it(support_client, tatum):
    tatum.get(url(CUSTOMER_PATH), json=customer_json())
    tatum.put(url(f"{CUSTOMER_PATH}/disable"), body=requests.ReadTimeout("read timed out"))
    page = body(post_change(support_client, "disable", reason="r"))
    entry = AuditEntry.objects.get()
    assert entry.outcome == "unknown"
    verify = reverse("customers:audit_unknown_verify", args=[entry.pk])
    assert "Outcome unknown" in page and f'action="{verify}"' in page
    assert f'name="next" value="/customers/{CUSTOMER_ID}/"' in page
    tatum.replace(responses.GET, url(CUSTOMER_PATH), json=customer_json(enabled=False))
    response = support_client.post(verify, {"next": f"/customers/{CUSTOMER_ID}/"})
    assert response.status_code == 302 and response["Location"] == f"/customers/{CUSTOMER_ID}/"
    entry.refresh_from_db()
    assert entry.outcome == "succeeded" and entry.sequence is not None
    assert len([c for c in tatum.calls if c.request.method == "GET"]) == 2  # before the write, and verify


def _unknown_change(reason: str) -> AuditEntry:
    return audit_entry_record(
        actor=Actor(user=None),
        action=AuditEntry.Action.DISABLE,
        outcome=AuditEntry.Outcome.UNKNOWN,
        customer_id=CUSTOMER_ID,
        customer_external_id="cust-001",
        reason=reason,
    )


@pytest.mark.parametrize("later_changes", [0, 3, 15])
def test_detail_shows_every_unsettled_change_however_old(support_client, tatum, later_changes):
    tatum.get(url(CUSTOMER_PATH), json=customer_json())
    tatum.get(url(ACCOUNTS_PATH), json=[])
    _history_entries(2)
    old = _unknown_change("old timeout")
    _history_entries(later_changes)
    recent = _unknown_change("recent timeout")
    page = body(support_client.get(f"/customers/{CUSTOMER_ID}/"))
    old_form, recent_form = (
        f'action="{reverse("customers:audit_unknown_verify", args=[entry.pk])}"' for entry in (old, recent)
    )
    assert old_form in page and recent_form in page
    assert page.index(recent_form) < page.index(old_form)  # newest first


def test_state_change_without_javascript_redirects_back_to_the_detail_page(support_client, tatum):
    tatum.get(url(CUSTOMER_PATH), json=customer_json(active=False))
    tatum.put(url(f"{CUSTOMER_PATH}/activate"), status=204)
    response = post_change(support_client, "activate", htmx=False)
    assert response.status_code == 302 and response["Location"] == f"/customers/{CUSTOMER_ID}/"


def test_confirmation_page_without_javascript_names_customer_consequence_and_cost(support_client, tatum):
    tatum.get(url(CUSTOMER_PATH), json=customer_json())
    tatum.get(url(ACCOUNTS_PATH), json=[account_json()])
    page = body(support_client.get(f"/customers/{CUSTOMER_ID}/disable/"))
    assert "Disable customer cust-001?" in page
    assert "available balance of every account is set to 0" in page
    assert "3 Tatum credits" in page and 'name="reason"' in page and "required" in page


def test_unknown_state_action_is_not_found(support_client, tatum):
    assert post_change(support_client, "explode").status_code == 404
    assert len(tatum.calls) == 0


def test_header_shows_the_credits_this_user_spent_today(support_client, tatum):
    tatum.get(url(CUSTOMER_PATH), json=customer_json())
    tatum.get(url(ACCOUNTS_PATH), json=[])
    support_client.get(f"/customers/{CUSTOMER_ID}/")
    tatum.put(url(f"{CUSTOMER_PATH}/disable"), status=204)
    post_change(support_client, "disable", htmx=False, reason="r")
    page = body(support_client.get("/"))
    assert "5 credits today" in page  # 2 for the page, 1 + 2 for the change


OOB_CREDITS = re.compile(r'<span id="credits-today" hx-swap-oob="innerHTML">(\d+) credits? today</span>')


def test_a_fragment_htmx_swaps_in_brings_the_header_credits_up_to_date(support_client, tatum):
    tatum.get(url(CUSTOMER_PATH), json=customer_json())
    tatum.get(url(ACCOUNTS_PATH), json=[])
    page = body(support_client.get(f"/customers/{CUSTOMER_ID}/"))
    assert page.count('id="credits-today"') == 1 and "hx-swap-oob" not in page
    assert "2 credits today" in page

    tatum.get(url("/v3/ledger/customer"), json=[customer_json()])
    fragment = body(support_client.get("/customers/live/?size=10", headers=HTMX))
    assert OOB_CREDITS.findall(fragment) == ["3"]  # the detail's 2 and this page's own call

    tatum.put(url(f"{CUSTOMER_PATH}/disable"), status=204)
    status = body(post_change(support_client, "disable", reason="r"))
    assert OOB_CREDITS.findall(status) == ["6"]  # and the change's read and write


def test_only_fragments_htmx_swaps_in_carry_the_credits(client, support_client, tatum):
    tatum.get(url("/v3/ledger/customer"), json=[customer_json()])
    boosted_headers = {"HX-Request": "true", "HX-Boosted": "true"}
    boosted = body(support_client.get("/customers/live/", headers=boosted_headers))
    assert boosted.count('id="credits-today"') == 1 and OOB_CREDITS.findall(boosted) == []
    not_found = support_client.get("/customers/..%2F/", headers=HTMX)
    assert not_found.status_code == 404 and OOB_CREDITS.findall(body(not_found)) == []
    client.logout()
    expired = client.get("/customers/", headers=HTMX)
    assert "HX-Redirect" in expired and "credits-today" not in expired.content.decode()


@pytest.mark.parametrize("bad_id", ["abcdefghij\n", "abc\x85defghij", "..", "x" * 101])
def test_malformed_ids_in_the_address_are_not_found_and_reach_nothing(support_client, tatum, bad_id):
    response = support_client.get(f"/customers/{quote(bad_id, safe='')}/")
    assert response.status_code == 404
    assert len(tatum.calls) == 0


def test_detail_stores_its_call_records_even_when_reading_the_history_fails(
    support_client, tatum, monkeypatch
):
    tatum.get(url(CUSTOMER_PATH), json=customer_json())
    tatum.get(url(ACCOUNTS_PATH), json=[])

    def locked(*args, **kwargs):
        raise OperationalError("database is locked")

    monkeypatch.setattr("customers.screens.views.entry_page", locked)
    support_client.raise_request_exception = False
    # A database that does not answer in time is an outage page (503), not a crash.
    assert support_client.get(f"/customers/{CUSTOMER_ID}/").status_code == 503
    assert sorted(ApiCall.objects.values_list("route", flat=True)) == [
        "/v3/ledger/account/customer/{id}",
        "/v3/ledger/customer/{id}",
    ]
