"""The customer list from the index: search, filters, sort, pages, count, exact ids, and what reaches
Tatum (nothing, but for an exact id the index has not seen)."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qs, urlsplit

import pytest
from django.utils.html import escape

from customers.index import selectors
from customers.index.models import CustomerRecord, SyncRun
from customers.index.selectors import index_as_of, record_list
from tests.customers.conftest import CUSTOMER_ID, customer_json, html_elements, index_row, url

pytestmark = pytest.mark.django_db

HTMX = {"HX-Request": "true"}
SEEN = datetime(2026, 11, 30, 8, 0, tzinfo=UTC)


def record(external_id: str, tatum_id: str | None = None, **fields) -> CustomerRecord:
    tatum_id = tatum_id or f"{abs(hash(external_id)) % 16**24:024x}"
    return index_row(tatum_id, external_id=external_id, seen_at=SEEN, **fields)


def body(response) -> str:
    return response.content.decode()


def listed(response) -> list[str]:
    """The external ids in the table, in order."""
    return re.findall(r'<td><a href="/customers/[^"]+/">([^<]*)</a></td>', body(response))


def query_of(location: str) -> dict[str, list[str]]:
    return parse_qs(urlsplit(location).query)


@pytest.fixture
def ledger(db) -> dict[str, CustomerRecord]:
    return {
        "anon-001": record("anon-001", "aa0000000000000000000001"),
        "anon-002": record("anon-002", "aa0000000000000000000002", customer_country="FR", enabled=False),
        "anon-BIG": record("anon-BIG", "bb0000000000000000000003", accounting_currency="USD", active=False),
        "shop-7": record("shop-7", "cc0000000000000000000004", customer_country="", provider_country="MT"),
        "shop-8": record(
            "shop-8", "dd0000000000000000000005", customer_country="FR", enabled=False, missing_since=SEEN
        ),
    }


# --- Search --------------------------------------------------------------------------------------


def test_search_matches_part_of_an_external_id_in_any_case(support_client, ledger):
    assert listed(support_client.get("/customers/?q=anon-")) == ["anon-001", "anon-002", "anon-BIG"]
    assert listed(support_client.get("/customers/?q=NON-00")) == ["anon-001", "anon-002"]
    assert listed(support_client.get("/customers/?q=n-b")) == ["anon-BIG"]
    assert listed(support_client.get("/customers/?q=op-")) == ["shop-7", "shop-8"]


def test_search_matches_the_start_of_an_internal_id_not_its_middle(support_client, ledger):
    assert listed(support_client.get("/customers/?q=aa00")) == ["anon-001", "anon-002"]
    assert listed(support_client.get("/customers/?q=0000000000000000005")) == []


def test_search_treats_like_wildcards_as_plain_characters(support_client, ledger):
    record("100%_sure", "ee0000000000000000000006")
    assert listed(support_client.get("/customers/?q=%25_")) == ["100%_sure"]
    assert listed(support_client.get("/customers/?q=_")) == ["100%_sure"]


def test_a_search_too_long_is_ignored_with_a_message(support_client, ledger):
    page = body(support_client.get("/customers/?q=" + "x" * 301))
    assert "Search for at most 300 characters; the search was ignored." in page
    assert "5 customers match" in page


def test_a_search_with_a_null_character_is_ignored_with_a_message(support_client, ledger):
    response = support_client.get("/customers/?q=anon%00")
    assert response.status_code == 200
    assert "Null characters are not allowed." in body(response)
    assert "5 customers match" in body(response)


# --- Filters -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("active=true", ["anon-001", "anon-002", "shop-7", "shop-8"]),
        ("active=false", ["anon-BIG"]),
        ("enabled=false", ["anon-002", "shop-8"]),
        ("enabled=true", ["anon-001", "anon-BIG", "shop-7"]),
        ("currency=USD", ["anon-BIG"]),
        ("country=FR", ["anon-002", "shop-8"]),
        ("provider_country=MT", ["shop-7"]),
        ("gap=true", ["shop-7"]),
        ("gap=false", ["anon-001", "anon-002", "anon-BIG", "shop-8"]),
        ("missing=true", ["shop-8"]),
        ("missing=false", ["anon-001", "anon-002", "anon-BIG", "shop-7"]),
    ],
)
def test_each_filter_narrows_the_list(support_client, ledger, query, expected):
    assert listed(support_client.get(f"/customers/?{query}")) == expected


def test_filters_and_the_search_combine(support_client, ledger):
    assert listed(support_client.get("/customers/?country=FR&enabled=false&q=anon")) == ["anon-002"]
    assert listed(support_client.get("/customers/?country=FR&enabled=false&missing=false")) == ["anon-002"]
    assert listed(support_client.get("/customers/?q=shop&gap=true&provider_country=MT")) == ["shop-7"]


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("enabled=maybe", "“Enabled” is true or false; that value was ignored."),
        ("active=1", "“Active” is true or false; that value was ignored."),
        ("gap=yes", "“Compliance gap” is true or false; that value was ignored."),
        ("missing=TRUE", "“Missing from Tatum” is true or false; that value was ignored."),
        ("country=XX", "That is not a country code in Tatum's list; it was ignored."),
        ("provider_country=de", "That is not a country code in Tatum's list; it was ignored."),
        ("currency=EURO", "That is not a currency code in Tatum's list; it was ignored."),
    ],
)
def test_a_bad_filter_value_is_named_and_filters_nothing(support_client, ledger, query, message):
    response = support_client.get(f"/customers/?{query}")
    assert response.status_code == 200
    assert escape(message) in body(response)
    assert listed(response) == ["anon-001", "anon-002", "anon-BIG", "shop-7", "shop-8"]


def test_a_bad_filter_value_leaves_the_good_ones_beside_it_in_effect(support_client, ledger):
    response = support_client.get("/customers/?enabled=maybe&country=FR&q=shop")
    assert escape("“Enabled” is true or false; that value was ignored.") in body(response)
    assert listed(response) == ["shop-8"]


def test_country_and_currency_choices_read_as_names_sorted_by_name(support_client, ledger):
    page = body(support_client.get("/customers/"))
    wanted = {"DE", "DK", "AT"}
    countries = [
        attrs["value"] for name, attrs in html_elements(page, "option") if attrs.get("value") in wanted
    ]
    assert countries[:3] == ["AT", "DK", "DE"]  # Austria, Denmark, Germany: by name, not by code
    assert "Germany (DE)</option>" in page
    assert "Euro (EUR)</option>" in page


# --- Sort ----------------------------------------------------------------------------------------


def test_the_list_sorts_by_any_column_both_ways(support_client, ledger):
    assert listed(support_client.get("/customers/?sort=-external_id")) == [
        "shop-8",
        "shop-7",
        "anon-BIG",
        "anon-002",
        "anon-001",
    ]
    assert listed(support_client.get("/customers/?sort=tatum_id"))[0] == "anon-001"
    assert listed(support_client.get("/customers/?sort=-tatum_id"))[0] == "shop-8"
    assert listed(support_client.get("/customers/?sort=accounting_currency"))[-1] == "anon-BIG"
    assert listed(support_client.get("/customers/?sort=-accounting_currency"))[0] == "anon-BIG"
    # A country not set sorts first.
    assert listed(support_client.get("/customers/?sort=customer_country"))[0] == "shop-7"
    # Not missing sorts after every date: last going up, first going down.
    assert listed(support_client.get("/customers/?sort=missing_since"))[0] == "shop-8"
    assert listed(support_client.get("/customers/?sort=-missing_since"))[-1] == "shop-8"


def test_equal_values_sort_by_internal_id_so_pages_neither_repeat_nor_skip(support_client, ledger):
    # Four customers share active=true: the internal id orders them, reversed when going down.
    assert listed(support_client.get("/customers/?sort=active&active=true")) == [
        "anon-001",
        "anon-002",
        "shop-7",
        "shop-8",
    ]
    assert listed(support_client.get("/customers/?sort=-active&active=true")) == [
        "shop-8",
        "shop-7",
        "anon-002",
        "anon-001",
    ]


def test_column_headers_link_to_their_sort_and_say_which_one_is_in_effect(support_client, ledger):
    page = body(support_client.get("/customers/?q=anon&sort=customer_country"))
    headers = {attrs.get("aria-sort") for name, attrs in html_elements(page, "th")}
    assert headers == {"ascending", "none"}
    links = [attrs["href"] for name, attrs in html_elements(page, "a") if attrs.get("class") == "sort-link"]
    assert "/customers/?q=anon&sort=-customer_country" in links  # the sorted column turns around
    assert "/customers/?q=anon&sort=external_id" in links


def test_an_unknown_sort_is_named_and_the_list_sorts_by_external_id(support_client, ledger):
    response = support_client.get("/customers/?sort=password")
    assert "The list cannot be sorted that way; it is sorted by external id." in body(response)
    assert listed(response) == ["anon-001", "anon-002", "anon-BIG", "shop-7", "shop-8"]


# --- Pages and count -----------------------------------------------------------------------------


@pytest.fixture
def many(db) -> None:
    CustomerRecord.objects.bulk_create(
        CustomerRecord(
            tatum_id=f"{n:024x}",
            external_id=f"bulk-{n:03d}",
            accounting_currency="EUR",
            customer_country="DE",
            provider_country="DE",
            active=True,
            enabled=n % 2 == 0,
            compliance_gap=False,
            first_seen_at=SEEN,
            last_seen_at=SEEN,
            last_seen_by="sync",
        )
        for n in range(1, 46)
    )


def test_pages_hold_the_size_asked_for_with_the_total_and_page_numbers(support_client, many):
    page = body(support_client.get("/customers/?size=20&page=2"))
    assert "45 customers match" in page
    assert "Page 2 of 3" in page
    assert re.findall(r">(bulk-\d+)<", page) == [f"bulk-{n:03d}" for n in range(21, 41)]
    numbers = [attrs.get("aria-label") for name, attrs in html_elements(page, "a") if attrs.get("aria-label")]
    assert {"Page 1", "Page 3"} <= set(numbers)
    assert 'aria-current="page">2<' in page


def test_a_page_past_the_end_shows_the_last_page(support_client, many):
    response = support_client.get("/customers/?size=20&page=99")
    assert "Page 3 of 3" in body(response)
    assert listed(response) == [f"bulk-{n:03d}" for n in range(41, 46)]


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("size=7", "Rows per page are 20, 50, 100; 50 are shown."),
        ("page=zero", "The page is a whole number; the first page is shown."),
        ("page=-1", "The page is a whole number from 1; the first page is shown."),
    ],
)
def test_bad_paging_values_are_named_and_fall_back(support_client, many, query, message):
    response = support_client.get(f"/customers/?{query}")
    assert response.status_code == 200
    assert message in body(response)
    assert "Page 1 of 1" in body(response)
    assert len(listed(response)) == 45


def test_past_the_count_limit_the_list_says_more_than_and_pages_through_the_first(
    support_client, many, monkeypatch
):
    monkeypatch.setattr(selectors, "COUNT_LIMIT", 30)
    monkeypatch.setattr(selectors.record_list, "__kwdefaults__", {"count_limit": 30})
    page = body(support_client.get("/customers/?size=20&page=2"))
    assert "More than 30 customers match" in page
    assert "the first 30 are shown" in page
    assert "Page 2 of 2" in page
    assert re.findall(r">(bulk-\d+)<", page) == [f"bulk-{n:03d}" for n in range(21, 31)]
    # Within the limit, the count is exact.
    assert "23 customers match" in body(support_client.get("/customers/?enabled=false"))


def test_record_list_counts_exactly_up_to_the_limit_and_caps_above_it(many):
    exact = record_list(data={}, count_limit=45)
    assert (exact.count, exact.count_capped) == (45, False)
    capped = record_list(data={"size": "20", "page": "3"}, count_limit=44)
    assert (capped.count, capped.count_capped, capped.page.number) == (44, True, 3)
    assert [r.external_id for r in capped.page.object_list] == [f"bulk-{n:03d}" for n in range(41, 45)]


# --- Empty, as of ---------------------------------------------------------------------------------


def test_nothing_matching_says_so_with_a_way_to_clear_the_filters(support_client, ledger):
    page = body(support_client.get("/customers/?q=nobody&country=FR"))
    assert "No customers match." in page
    clear = [attrs["href"] for name, attrs in html_elements(page, "a") if attrs.get("href") == "/customers/"]
    assert clear and "Clear filters" in page


def test_the_as_of_line_gives_the_last_complete_sync(support_client, ledger):
    finished = datetime(2026, 12, 1, 3, 4, tzinfo=UTC)
    SyncRun.objects.create(status="succeeded", created_at=finished, finished_at=finished)
    SyncRun.objects.create(status="failed", created_at=finished, finished_at=finished + timedelta(hours=1))
    assert index_as_of() == finished
    page = body(support_client.get("/customers/"))
    assert re.search(r"Index as of <time[^>]*>1 Dec 2026, \d\d:04</time> \(last complete sync\)", page)


def test_a_never_synced_index_says_so_and_offers_managers_the_sync(support_client, client, manager, ledger):
    page = body(support_client.get("/customers/"))
    assert "never been fully synced" in page and 'href="/customers/sync/"' not in page
    client.force_login(manager)
    assert 'href="/customers/sync/"' in body(client.get("/customers/"))


# --- Exact ids -----------------------------------------------------------------------------------


def test_submitting_an_exact_external_id_opens_that_customer(support_client, ledger, tatum):
    response = support_client.get("/customers/?q=anon-002&find=1")
    assert response.status_code == 302
    assert response["Location"] == "/customers/aa0000000000000000000002/"


def test_submitting_an_exact_internal_id_opens_that_customer(support_client, ledger, tatum):
    response = support_client.get("/customers/?q=cc0000000000000000000004&find=1")
    assert response["Location"] == "/customers/cc0000000000000000000004/"


def test_submitting_a_partial_search_shows_the_list_at_its_own_address(support_client, ledger, tatum):
    response = support_client.get("/customers/?q=anon&find=1&country=&enabled=false&size=50")
    assert response.status_code == 302
    assert response["Location"] == "/customers/?q=anon&enabled=false"
    assert len(tatum.calls) == 0


def test_an_id_the_index_has_not_seen_is_looked_up_in_tatum(support_client, ledger, tatum):
    response = support_client.get("/customers/?q=new-customer&find=1")
    assert response["Location"] == "/customers/lookup/?q=new-customer"
    tatum.get(url("/v3/ledger/customer/new-customer"), json=customer_json(externalId="new-customer"))
    final = support_client.get(response["Location"])
    assert final["Location"] == f"/customers/{CUSTOMER_ID}/"


def test_submitting_text_that_cannot_be_an_id_shows_the_list_and_asks_tatum_nothing(
    support_client, ledger, tatum
):
    response = support_client.get("/customers/?q=nobody%00&find=1")
    assert response["Location"] == "/customers/"
    assert len(tatum.calls) == 0


# --- htmx, permissions, Tatum --------------------------------------------------------------------


def test_htmx_gets_the_results_alone_and_the_address_to_show(support_client, ledger):
    response = support_client.get(
        "/customers/?q=anon&active=&enabled=false&sort=-external_id&size=50", headers=HTMX
    )
    page = body(response)
    assert page.lstrip().startswith('<section id="customer-table"')
    assert "<form" not in page and "<html" not in page
    assert response["HX-Push-Url"] == "/customers/?q=anon&enabled=false&sort=-external_id"
    # The sort in effect goes back to the form, out of band.
    sort = {attrs.get("id"): attrs for name, attrs in html_elements(page, "input")}["customer-sort"]
    assert (sort["value"], sort["hx-swap-oob"]) == ("-external_id", "true")


def test_typing_in_the_search_box_replaces_the_address_instead_of_adding_to_history(support_client, ledger):
    response = support_client.get("/customers/?q=anon", headers={**HTMX, "HX-Trigger": "customer-search"})
    assert response["HX-Replace-Url"] == "/customers/?q=anon"
    assert "HX-Push-Url" not in response


def test_the_full_page_keeps_the_search_and_filters_in_its_form(support_client, ledger):
    page = body(support_client.get("/customers/?q=anon&country=FR&sort=-tatum_id"))
    inputs = {attrs.get("name"): attrs for name, attrs in html_elements(page, "input")}
    assert inputs["q"]["value"] == "anon"
    assert inputs["q"]["aria-keyshortcuts"] == "/" and "autofocus" in inputs["q"]
    assert inputs["sort"]["value"] == "-tatum_id"
    selected = [attrs["value"] for name, attrs in html_elements(page, "option") if "selected" in attrs]
    assert "FR" in selected
    assert 'href="/customers/live/"' in page


def test_the_list_reads_nothing_from_tatum(support_client, ledger, tatum):
    support_client.get("/customers/?q=anon&country=FR&sort=-last_seen_at")
    support_client.get("/customers/?q=anon", headers=HTMX)
    assert len(tatum.calls) == 0


@pytest.mark.parametrize("fixture", ["support", "compliance", "manager"])
def test_every_role_may_use_the_list(client, request, fixture, ledger):
    client.force_login(request.getfixturevalue(fixture))
    assert client.get("/customers/?q=anon").status_code == 200


def test_signed_out_users_are_sent_to_sign_in_and_users_without_a_role_refused(client, ledger):
    assert client.get("/customers/?q=anon")["Location"].startswith("/accounts/login/")
    from tests.users import make_user

    client.force_login(make_user(None, "nobody"))
    assert client.get("/customers/?q=anon").status_code == 403
