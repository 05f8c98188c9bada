"""The audit log page: filters, keyset paging, URL state, invalid input and one entry's page."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from unittest import mock
from urllib.parse import parse_qs, urlsplit

import pytest
from django.db import connection
from django.test.html import parse_html
from django.utils import timezone
from pytest_django.asserts import assertInHTML

from customers.audit.models import AuditEntry
from customers.audit.trail import Actor, audit_entry_close, audit_entry_open, audit_entry_record
from tests.customers.conftest import CUSTOMER_ID, account_json, customer_json, html_ids, html_link, url
from tests.users import make_user

Action = AuditEntry.Action
Outcome = AuditEntry.Outcome
OTHER_ID = "6f00000000000000000000aa"


def record(
    user=None,
    *,
    at: datetime | None = None,
    action=Action.DISABLE,
    outcome=Outcome.SUCCEEDED,
    request_id="",
    **fields,
):
    """A sealed entry, as the services write it, started at `at`."""
    actor = Actor(user=user, request_id=request_id or "req-audit-test")
    with mock.patch("customers.audit.trail.timezone.now", return_value=at or timezone.now()):
        return audit_entry_record(actor=actor, action=action, outcome=outcome, **fields)


def shown_ids(response) -> list[int]:
    rows = html_ids(response.content.decode(), "tr")
    return [int(row.removeprefix("entry-")) for row in rows if re.fullmatch(r"entry-\d+", row)]


@pytest.fixture
def officer_client(client, compliance):
    client.force_login(compliance)
    return client


@pytest.fixture
def people(db):
    return {"sam": make_user("Support", "sam"), "sue": make_user("Support", "sue")}


def test_the_log_shows_each_entry_newest_first_with_its_whole_story(officer_client, people):
    older = record(
        people["sam"],
        at=datetime(2024, 5, 1, 9, 0, tzinfo=UTC),
        customer_id=CUSTOMER_ID,
        customer_external_id="cust-001",
        changes={"enabled": [True, False]},
        reason="Ticket 42: chargeback",
    )
    failed = record(
        people["sue"],
        at=datetime(2024, 5, 2, 9, 0, tzinfo=UTC),
        action=Action.DEACTIVATE,
        outcome=Outcome.FAILED,
        customer_id=CUSTOMER_ID,
        customer_external_id="cust-001",
        changes={"active": [True, False]},
        reason="Closing the account",
        http_status=403,
        error_code="customer.deactivate.account.active",
        error_message="Unable to deactivate customer, accounts not deactivated.",
        request_id="req-deactivate-42",
    )

    response = officer_client.get("/audit/")

    assert response.status_code == 200
    assert shown_ids(response) == [failed.pk, older.pk]
    page = response.content.decode()
    for text in (
        "2024-05-02 09:00:00",
        "sue",
        "Deactivate",
        "Closing the account",
        "Failed",
        "HTTP 403",
        "customer.deactivate.account.active",
        "Unable to deactivate customer, accounts not deactivated.",
        '<span class="audit-request-label">Request </span><code>req-deactivate-42</code>',
        "Succeeded",
        "Ticket 42: chargeback",
        f'href="/customers/{CUSTOMER_ID}/"',
        f'href="/audit/entries/{failed.pk}/"',
    ):
        assert text in page, text
    assertInHTML(
        '<div><span class="field-name">Enabled</span>: <del><span class="visually-hidden">before </span>yes'
        '</del> → <ins><span class="visually-hidden">after </span>no</ins></div>',
        page,
    )


def test_filtering_by_actor_matches_the_username_in_any_case(officer_client, people):
    mine = record(people["sam"])
    record(people["sue"])

    assert shown_ids(officer_client.get("/audit/?actor=SAM")) == [mine.pk]


def test_filtering_by_action_shows_only_that_action(officer_client, people):
    edit = record(people["sam"], action=Action.UPDATE)
    record(people["sam"], action=Action.DISABLE)

    assert shown_ids(officer_client.get("/audit/?action=update")) == [edit.pk]


def test_filtering_by_outcome_shows_only_that_outcome(officer_client, people):
    record(people["sam"], outcome=Outcome.SUCCEEDED)
    denied = record(people["sam"], outcome=Outcome.DENIED)

    assert shown_ids(officer_client.get("/audit/?outcome=denied")) == [denied.pk]


def test_filtering_by_internal_customer_id(officer_client, people):
    theirs = record(people["sam"], customer_id=CUSTOMER_ID, customer_external_id="cust-001")
    record(people["sam"], customer_id=OTHER_ID, customer_external_id="cust-002")

    assert shown_ids(officer_client.get(f"/audit/?customer={CUSTOMER_ID}")) == [theirs.pk]


def test_filtering_by_external_id_also_finds_entries_recorded_under_an_earlier_name(officer_client, people):
    # The customer was renamed from cust-001 to vip-001: older entries carry the old external id.
    before_rename = record(people["sam"], customer_id=CUSTOMER_ID, customer_external_id="cust-001")
    rename = record(
        people["sam"],
        action=Action.UPDATE,
        customer_id=CUSTOMER_ID,
        customer_external_id="cust-001",
        changes={"externalId": ["cust-001", "vip-001"]},
    )
    after_rename = record(people["sam"], customer_id=CUSTOMER_ID, customer_external_id="vip-001")
    record(people["sam"], customer_id=OTHER_ID, customer_external_id="cust-002")

    expected = [after_rename.pk, rename.pk, before_rename.pk]
    assert shown_ids(officer_client.get("/audit/?customer=vip-001")) == expected
    assert shown_ids(officer_client.get("/audit/?customer=cust-001")) == expected


def test_the_date_range_includes_both_whole_days_in_utc(officer_client, people):
    def at(*args):
        return record(people["sam"], at=datetime(*args, tzinfo=UTC))

    at(2024, 4, 30, 23, 59, 59)
    first = at(2024, 5, 1, 0, 0, 0)
    last = at(2024, 5, 3, 23, 59, 59, 999999)
    at(2024, 5, 4, 0, 0, 0)

    response = officer_client.get("/audit/?date_from=2024-05-01&date_to=2024-05-03")

    assert shown_ids(response) == [last.pk, first.pk]
    assert shown_ids(officer_client.get("/audit/?date_from=2024-05-02")) == [
        entry.pk for entry in AuditEntry.objects.filter(started_at__gte=datetime(2024, 5, 2, tzinfo=UTC))
    ]
    assert shown_ids(officer_client.get("/audit/?date_to=2024-04-30")) == [
        AuditEntry.objects.get(started_at__lt=datetime(2024, 5, 1, tzinfo=UTC)).pk
    ]


def test_filters_combine(officer_client, people):
    day = datetime(2024, 5, 1, 12, tzinfo=UTC)
    match = record(
        people["sam"], at=day, action=Action.ENABLE, outcome=Outcome.FAILED, customer_id=CUSTOMER_ID
    )
    record(people["sue"], at=day, action=Action.ENABLE, outcome=Outcome.FAILED, customer_id=CUSTOMER_ID)
    record(people["sam"], at=day, action=Action.DISABLE, outcome=Outcome.FAILED, customer_id=CUSTOMER_ID)
    record(people["sam"], at=day, action=Action.ENABLE, outcome=Outcome.SUCCEEDED, customer_id=CUSTOMER_ID)
    record(people["sam"], at=day, action=Action.ENABLE, outcome=Outcome.FAILED, customer_id=OTHER_ID)
    record(people["sam"], at=day + timedelta(days=1), action=Action.ENABLE, outcome=Outcome.FAILED)

    response = officer_client.get(
        f"/audit/?actor=sam&action=enable&outcome=failed&customer={CUSTOMER_ID}"
        "&date_from=2024-05-01&date_to=2024-05-01"
    )

    assert shown_ids(response) == [match.pk]
    assert "1 entry matches the filters" in response.content.decode()


@pytest.mark.parametrize(
    "query,message",
    [
        ("date_from=yesterday", "Enter the date as YYYY-MM-DD"),
        ("date_to=2024-02-30", "Enter the date as YYYY-MM-DD"),
        (
            "date_from=2024-05-02&date_to=2024-05-01",
            "The &#x27;to&#x27; date is before the &#x27;from&#x27; date.",
        ),
        ("action=drop_table", "Select a valid choice."),
        ("outcome=maybe", "Select a valid choice."),
        ("customer=" + "x" * 101, "Customer ids are at most 100 characters long."),
        ("customer=bad%00id", "Null characters are not allowed."),
        ("customer=bad%01id", "That is not a valid customer id."),
    ],
)
def test_invalid_filter_values_explain_themselves_and_show_no_entries(officer_client, people, query, message):
    record(people["sam"])

    response = officer_client.get(f"/audit/?{query}")

    assert response.status_code == 200
    page = response.content.decode()
    assert "These filters cannot be used" in page
    assert message in page
    assert 'aria-invalid="true"' in page
    assert shown_ids(response) == []


def test_paging_walks_older_and_newer_fifty_at_a_time(officer_client, people):
    start = datetime(2024, 5, 1, tzinfo=UTC)
    entries = [record(people["sam"], at=start + timedelta(minutes=i)) for i in range(120)]
    newest_first = [entry.pk for entry in reversed(entries)]

    first = officer_client.get("/audit/")
    assert shown_ids(first) == newest_first[:50]
    assert 'rel="prev"' not in first.content.decode()
    second = officer_client.get(_link(first, "next"))
    assert shown_ids(second) == newest_first[50:100]
    third = officer_client.get(_link(second, "next"))
    assert shown_ids(third) == newest_first[100:]
    assert 'rel="next"' not in third.content.decode()
    back = officer_client.get(_link(third, "prev"))
    assert shown_ids(back) == newest_first[50:100]
    assert shown_ids(officer_client.get(_link(back, "prev"))) == newest_first[:50]


def test_pages_stay_put_while_new_entries_arrive(officer_client, people):
    start = datetime(2024, 5, 1, tzinfo=UTC)
    entries = [record(people["sam"], at=start + timedelta(minutes=i)) for i in range(60)]
    first = officer_client.get("/audit/")

    record(people["sue"])  # a new entry arrives while the officer reads page one

    second = officer_client.get(_link(first, "next"))
    assert shown_ids(second) == [entry.pk for entry in reversed(entries[:10])]


def test_paging_keeps_the_filters(officer_client, people):
    start = datetime(2024, 5, 1, tzinfo=UTC)
    for i in range(60):
        record(people["sam"], at=start + timedelta(minutes=2 * i))
        record(people["sue"], at=start + timedelta(minutes=2 * i + 1))

    first = officer_client.get("/audit/?actor=sam")
    next_link = _link(first, "next")
    assert parse_qs(urlsplit(next_link).query)["actor"] == ["sam"]
    second = officer_client.get(next_link)
    assert len(shown_ids(second)) == 10
    assert {AuditEntry.objects.get(pk=pk).actor_username for pk in shown_ids(second)} == {"sam"}


@pytest.mark.parametrize("query", ["after=abc", "after=999999", "before=-1", "after=1&before=2"])
def test_a_broken_page_link_shows_the_newest_entries_with_a_notice(officer_client, people, query):
    entry = record(people["sam"])

    response = officer_client.get(f"/audit/?{query}")

    assert response.status_code == 200
    assert "That page link is not valid" in response.content.decode()
    assert shown_ids(response) == [entry.pk]


def test_htmx_gets_only_the_log_fragment_and_the_address_bar_gets_the_filters_in_use(officer_client, people):
    entry = record(people["sam"], outcome=Outcome.FAILED)
    record(people["sue"])

    response = officer_client.get(
        "/audit/?actor=sam&action=&outcome=failed&customer=&date_from=&date_to=",
        headers={"HX-Request": "true"},
    )

    page = response.content.decode()
    # The log's section is swapped in; anything after it is an out-of-band swap (the credits counter).
    fragment = parse_html(page)
    roots = fragment.children if fragment.name is None else [fragment]
    first, *others = [dict(node.attributes) | {"": node.name} for node in roots]
    assert (first[""], first.get("id")) == ("section", "audit-log")
    assert all("hx-swap-oob" in other for other in others)
    assert "<html" not in page
    assert response["HX-Push-Url"] == "/audit/?actor=sam&outcome=failed"
    assert "HX-Request" in response["Vary"]
    reloaded = officer_client.get(response["HX-Push-Url"])
    assert "<html" in reloaded.content.decode()
    assert shown_ids(reloaded) == shown_ids(response) == [entry.pk]


def test_the_pushed_address_of_a_later_page_reproduces_that_page(officer_client, people):
    start = datetime(2024, 5, 1, tzinfo=UTC)
    for i in range(55):
        record(people["sam"], at=start + timedelta(minutes=i))
    first = officer_client.get("/audit/?actor=sam")

    second = officer_client.get(_link(first, "next"), headers={"HX-Request": "true"})

    pushed = second["HX-Push-Url"]
    assert "after=" in pushed and "actor=sam" in pushed
    assert shown_ids(officer_client.get(pushed)) == shown_ids(second)
    assert len(shown_ids(second)) == 5


def test_without_javascript_filters_are_a_plain_get_form_and_pages_are_plain_links(officer_client, people):
    for _ in range(51):
        record(people["sam"])

    page = officer_client.get("/audit/").content.decode()

    form = re.search(r"<form[^>]*role=\"search\"[^>]*>", page, re.S).group(0)
    assert 'method="get"' in form and 'action="/audit/"' in form
    assert 'hx-push-url="true"' in form
    for name in ("actor", "action", "outcome", "customer", "date_from", "date_to"):
        assert re.search(rf'<label for="id_{name}">', page), name
    assert html_link(page, "next") == f"?after={AuditEntry.objects.order_by('id')[1].pk}"


def test_the_customer_history_and_the_log_render_the_same_entries_partial(officer_client, tatum, people):
    record(people["sam"], customer_id=CUSTOMER_ID, customer_external_id="cust-001", reason="Ticket 7")
    tatum.get(url(f"/v3/ledger/customer/{CUSTOMER_ID}"), json=customer_json())
    tatum.get(url(f"/v3/ledger/account/customer/{CUSTOMER_ID}"), json=[account_json()])

    detail = officer_client.get(f"/customers/{CUSTOMER_ID}/")
    log = officer_client.get("/audit/")

    partial = "customers/partials/audit_entries.html"
    assert partial in [t.name for t in detail.templates]
    assert partial in [t.name for t in log.templates]
    assert "Ticket 7" in detail.content.decode()


def test_the_log_links_to_unknown_outcomes_only_when_there_are_some(officer_client, people):
    assert "Review unknown outcomes" not in officer_client.get("/audit/").content.decode()
    entry = audit_entry_open(actor=Actor(user=people["sam"]), action=Action.DISABLE, customer_id=CUSTOMER_ID)
    audit_entry_close(entry, outcome=Outcome.UNKNOWN, error_message="Tatum did not answer in time.")

    page = officer_client.get("/audit/").content.decode()

    assert "1 change has an unknown outcome." in page
    assert 'href="/audit/unknown/"' in page


def test_one_entry_page_shows_who_when_where_and_its_intact_seal(officer_client, people):
    entry = record(
        people["sam"],
        customer_id=CUSTOMER_ID,
        customer_external_id="cust-001",
        changes={"enabled": [True, False]},
        reason="Ticket 9",
    )

    page = officer_client.get(f"/audit/entries/{entry.pk}/").content.decode()

    for text in ("Entry #", "sam", "Ticket 9", "Seal intact", entry.entry_hash, f"?customer={CUSTOMER_ID}"):
        assert text in page, text


def test_one_entry_page_says_when_its_content_no_longer_matches_its_seal(officer_client, people):
    entry = record(people["sam"], reason="Ticket 9")
    with connection.cursor() as cursor:
        cursor.execute(
            "UPDATE customers_auditentry SET reason = %s WHERE id = %s", ["Nothing to see", entry.pk]
        )

    page = officer_client.get(f"/audit/entries/{entry.pk}/").content.decode()

    assert "Seal broken" in page
    assert "Nothing to see" in page


def test_an_unknown_entry_id_is_not_found(officer_client):
    assert officer_client.get("/audit/entries/12345/").status_code == 404


def _link(response, rel: str) -> str:
    href = html_link(response.content.decode(), rel)
    assert href, f"no {rel} link"
    return "/audit/" + href


def test_an_entry_written_outside_a_request_stores_and_shows_no_request_id(officer_client):
    entry = audit_entry_record(
        actor=Actor(user=None), action=AuditEntry.Action.ENABLE, outcome=AuditEntry.Outcome.SUCCEEDED
    )
    assert entry.request_id == ""
    page = officer_client.get("/audit/").content.decode()
    row = re.search(rf'<tr\b[^>]*\bid="entry-{entry.pk}".*?</tr>', page, re.S)
    assert row and "Request" not in row.group(0)
