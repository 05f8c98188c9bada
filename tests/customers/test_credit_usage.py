"""The credit usage page (`customers/usage/`): who may see it, what it adds up, the chart, the CSV, and
the monthly budget banner on every page."""

from __future__ import annotations

import csv
import datetime
import io
from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.db import connection
from django.test.html import Element, parse_html
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from customers.credits.models import ApiCall
from customers.exports.models import ExportJob
from customers.usage.chart import PLOT_BOTTOM, PLOT_TOP, scale_ceiling
from customers.usage.models import UsageDay
from customers.usage.selectors import (
    NO_USER,
    SETTLED_AFTER,
    credit_budget_get,
    credit_usage_get,
    credits_spent_in_month,
    usage_period,
    usage_row_list,
)
from tests.customers.conftest import html_elements
from tests.dashboard.test_production import django_setup

pytestmark = pytest.mark.django_db

CUSTOMER = "/v3/ledger/customer/{id}"


def call(
    at: datetime.datetime,
    *,
    user: Any = None,
    method: str = "GET",
    route: str = CUSTOMER,
    credits: int | None = None,
    request_id: str = "",
) -> ApiCall:
    return ApiCall.objects.create(
        at=at,
        user=user,
        method=method,
        route=route,
        status=200,
        duration_ms=12,
        credits=credits if credits is not None else (1 if method == "GET" else 2),
        request_id=request_id,
    )


def local(day: datetime.date, hour: int = 12, minute: int = 0) -> datetime.datetime:
    return timezone.make_aware(datetime.datetime.combine(day, datetime.time(hour, minute)))


def days_ago(days: int, hour: int = 12) -> datetime.datetime:
    return local(timezone.localdate() - datetime.timedelta(days=days), hour)


def totals(breakdown: list) -> dict[str, tuple[int, int]]:
    return {total.label: (total.credits, total.calls) for total in breakdown}


def cells(page: str, tag: str = "td") -> list[str]:
    """The text of each `tag` element of the page, in order."""
    found: list[str] = []

    def walk(node: Any) -> None:
        if isinstance(node, Element):
            if node.name == tag:
                found.append(" ".join(str(child) for child in node.children).strip())
                return
            for child in node.children:
                walk(child)

    walk(parse_html(page))
    return found


def row_of(page: str, label: str) -> list[str]:
    """The cells of the first table row of the page that starts with `label`."""
    texts = cells(page)
    start = texts.index(label)
    return texts[start : start + 4]


# --- Who may see it -------------------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/credits/", "/credits/export/"])
@pytest.mark.parametrize("role", ["support", "compliance"])
def test_support_and_compliance_are_refused_the_page_and_the_csv(client, request, role, path):
    client.force_login(request.getfixturevalue(role))
    response = client.get(path)
    assert response.status_code == 403
    assert "You do not have access to this" in response.content.decode()


def test_anonymous_users_are_sent_to_sign_in(client):
    response = client.get("/credits/")
    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/?next=/credits/")


def test_only_managers_get_the_credit_usage_link_in_the_navigation(client, manager, support):
    client.force_login(manager)
    assert 'href="/credits/"' in client.get("/").content.decode()
    client.force_login(support)
    assert 'href="/credits/"' not in client.get("/").content.decode()


def test_the_page_refuses_a_post(client, manager):
    client.force_login(manager)
    assert client.post("/credits/").status_code == 405


# --- What it adds up ------------------------------------------------------------------------------


@pytest.fixture
def history(alice, bob) -> datetime.date:
    """Calls over the 7 days to `today`, by two users, a background job and an export; returns today."""
    today = datetime.date(2026, 3, 10)

    def at(days_before: int, hour: int, minute: int = 0) -> datetime.datetime:
        return local(today - datetime.timedelta(days=days_before), hour, minute)

    call(at(0, 9), user=alice)  # Read customer, 1 credit
    call(at(0, 9), user=alice, method="PUT")  # Edit customer, 2
    call(at(0, 10), user=alice, method="PUT", route=CUSTOMER + "/disable")  # Change state, 2
    call(at(0, 11), user=bob, method="PUT", route=CUSTOMER + "/activate")  # Change state, 2
    call(at(0, 11), user=bob, route="/v3/ledger/customer")  # List customers, 1
    call(at(2, 8), route="/v3/tatum/version")  # no user: Check Tatum, 1
    call(at(2, 8), method="POST", route="/v3/ledger/account")  # no user: Account actions, 2
    call(at(6, 0), user=bob, method="PUT", route="/v3/ledger/account/{id}/freeze")  # Account actions, 2
    export = ExportJob.objects.create(
        username="alice", scope="all", created_at=at(0, 7), request_id="req-exp-1"
    )
    for _ in range(3):  # the export's pages: they list customers, but for the export
        call(at(0, 7), user=alice, route="/v3/ledger/customer", request_id=export.request_id)
    # Outside the period: the day before it, and tomorrow.
    call(at(7, 23, 59), user=alice, credits=50)
    call(at(-1, 0), user=alice, credits=50)
    return today


def test_usage_adds_up_each_day_user_and_action_including_calls_with_no_user(history):
    usage = credit_usage_get(usage_period(7, today=history))

    assert [(day.day.isoformat(), day.credits, day.calls) for day in usage.days] == [
        ("2026-03-04", 2, 1),
        ("2026-03-05", 0, 0),
        ("2026-03-06", 0, 0),
        ("2026-03-07", 0, 0),
        ("2026-03-08", 3, 2),
        ("2026-03-09", 0, 0),
        ("2026-03-10", 11, 8),
    ]
    assert (usage.credits, usage.calls) == (16, 11)
    assert totals(usage.by_user) == {"alice": (8, 6), "bob": (5, 3), NO_USER: (3, 2)}
    assert totals(usage.by_action) == {
        "Change state": (4, 2),
        "Account actions": (4, 2),
        "Export": (3, 3),
        "Edit customer": (2, 1),
        "Read customer": (1, 1),
        "List customers": (1, 1),
        "Check Tatum (plan, usage)": (1, 1),
    }
    assert [total.label for total in usage.by_user] == ["alice", "bob", NO_USER]  # most credits first
    assert [total.share for total in usage.by_user] == [50, 31, 19]


def test_a_deleted_users_calls_stay_counted_as_calls_with_no_user(history, bob):
    bob.delete()

    usage = credit_usage_get(usage_period(7, today=history))

    assert usage.credits == 16
    assert totals(usage.by_user) == {"alice": (8, 6), NO_USER: (8, 5)}


def test_days_and_months_are_cut_at_midnight_in_the_time_zone(settings, alice):
    settings.TIME_ZONE = "Europe/Berlin"
    utc = datetime.UTC
    call(
        datetime.datetime(2026, 2, 28, 22, 30, tzinfo=utc), user=alice, credits=1
    )  # 23:30 on 28 Feb in Berlin
    call(datetime.datetime(2026, 2, 28, 23, 30, tzinfo=utc), user=alice, credits=2)  # 00:30 on 1 March
    call(datetime.datetime(2026, 3, 31, 21, 59, tzinfo=utc), credits=4)  # 23:59 on 31 March (summer time)
    call(datetime.datetime(2026, 3, 31, 22, 0, tzinfo=utc), credits=8)  # midnight, 1 April

    assert credits_spent_in_month(datetime.date(2026, 2, 14)) == 1
    assert credits_spent_in_month(datetime.date(2026, 3, 1)) == 2 + 4
    assert credits_spent_in_month(datetime.date(2026, 4, 30)) == 8
    rows = usage_row_list(usage_period(3, today=datetime.date(2026, 3, 1)))
    assert [(row.day.isoformat(), row.credits) for row in rows] == [("2026-02-28", 1), ("2026-03-01", 2)]
    edge = credit_usage_get(usage_period(2, today=datetime.date(2026, 4, 1)))
    assert [(day.day.isoformat(), day.credits) for day in edge.days] == [("2026-03-31", 4), ("2026-04-01", 8)]


# --- Settled days -----------------------------------------------------------------------------------


def usage_figures(period) -> list[tuple[str, str, str, int, int]]:
    rows = usage_row_list(period)
    return [(row.day.isoformat(), row.username, row.action, row.credits, row.calls) for row in rows]


def clock_at(monkeypatch, moment: datetime.datetime) -> None:
    monkeypatch.setattr(timezone, "now", lambda: moment)


def test_settled_days_are_summed_once_and_kept_today_is_summed_from_the_calls(history, alice, monkeypatch):
    clock_at(monkeypatch, local(history, 15))
    period = usage_period(7, today=history)
    first = credit_usage_get(period)

    assert sorted(UsageDay.objects.values_list("day", flat=True)) == period.each_day()[:-1]
    assert UsageDay.objects.get(day=datetime.date(2026, 3, 9)).rows == []  # a day without calls
    # The kept sums are what the page reads: the calls of settled days are no longer added up.
    ApiCall.objects.filter(at__lt=local(history, 0)).delete()
    call(local(history, 14), user=alice, credits=7)  # today, in progress
    again = credit_usage_get(period)

    assert again.days[:-1] == first.days[:-1]
    assert (again.credits, again.calls) == (first.credits + 7, first.calls + 1)
    assert totals(again.by_user)["alice"] == (8 + 7, 6 + 1)


def test_a_day_is_summed_from_its_calls_until_an_hour_after_its_end(monkeypatch, alice):
    yesterday = datetime.date(2026, 3, 9)
    call(local(yesterday, 23, 59), user=alice)
    period = usage_period(2, today=yesterday + datetime.timedelta(days=1))
    midnight = local(yesterday + datetime.timedelta(days=1), 0)

    clock_at(monkeypatch, midnight + SETTLED_AFTER - datetime.timedelta(seconds=1))
    assert usage_figures(period) == [("2026-03-09", "alice", "Read customer", 1, 1)]
    assert not UsageDay.objects.exists()
    # A call of the last minute, stored late: still counted, since the day is not kept yet.
    call(local(yesterday, 23, 59), user=alice)

    clock_at(monkeypatch, midnight + SETTLED_AFTER)
    assert usage_figures(period) == [("2026-03-09", "alice", "Read customer", 2, 2)]
    assert UsageDay.objects.get().day == yesterday


def test_the_months_spend_reads_its_settled_days_kept_and_adds_up_the_calls_since(monkeypatch, alice):
    today = datetime.date(2026, 3, 10)
    call(local(datetime.date(2026, 2, 28), 23, 59), user=alice, credits=50)  # last month
    call(local(datetime.date(2026, 3, 1), 0), credits=3)  # background work counts too
    call(local(datetime.date(2026, 3, 9), 23, 59), user=alice, credits=4)
    call(local(today, 0, 10), user=alice, credits=5)

    # Half past midnight: yesterday is not settled yet, so it is added up from its calls.
    clock_at(monkeypatch, local(today, 0, 30))
    assert credits_spent_in_month(today) == 3 + 4 + 5
    assert sorted(UsageDay.objects.values_list("day", flat=True)) == [
        datetime.date(2026, 3, day) for day in range(1, 9)
    ]

    clock_at(monkeypatch, local(today, 15))
    assert credits_spent_in_month(today) == 3 + 4 + 5
    assert UsageDay.objects.count() == 9
    # The kept sums are what is read: the calls of settled days are no longer added up.
    ApiCall.objects.filter(at__lt=local(today, 0)).delete()
    call(local(today, 14), user=alice, credits=6)
    assert credits_spent_in_month(today) == 3 + 4 + 5 + 6


def test_kept_days_name_users_as_they_are_now_and_a_deleted_users_calls_as_no_user(history, bob):
    # Bob's account action on a day with one made by no user.
    call(local(datetime.date(2026, 3, 8), 9), user=bob, method="POST", route="/v3/ledger/account")
    period = usage_period(7, today=history)
    usage_figures(period)
    assert UsageDay.objects.count() == 7  # every day of March is settled
    bob.delete()

    usage = credit_usage_get(period)

    assert usage.credits == 16 + 2
    assert totals(usage.by_user) == {"alice": (8, 6), NO_USER: (8 + 2, 5 + 1)}
    # One row a day and action for the calls with no user, a deleted user's among them.
    assert [row for row in usage_figures(period) if row[0] == "2026-03-08"] == [
        ("2026-03-08", "", "Account actions", 4, 2),
        ("2026-03-08", "", "Check Tatum (plan, usage)", 1, 1),
    ]


def test_days_kept_in_another_time_zone_are_summed_again(settings, alice):
    call(
        datetime.datetime(2026, 3, 9, 23, 30, tzinfo=datetime.UTC), user=alice
    )  # 00:30 on 10 March in Berlin
    period = usage_period(2, today=datetime.date(2026, 3, 10))
    assert usage_figures(period) == [("2026-03-09", "alice", "Read customer", 1, 1)]

    settings.TIME_ZONE = "Europe/Berlin"

    assert usage_figures(period) == [("2026-03-10", "alice", "Read customer", 1, 1)]
    assert set(UsageDay.objects.values_list("time_zone", flat=True)) == {"UTC", "Europe/Berlin"}


def test_the_page_shows_the_periods_totals_and_breakdowns(client, manager, alice):
    call(days_ago(0), user=alice, method="PUT", route=CUSTOMER + "/enable")
    call(days_ago(3), route="/v3/ledger/customer")
    call(days_ago(29), user=alice)
    call(days_ago(30), user=alice, credits=40)  # 31 days ago: outside the default 30 days
    client.force_login(manager)

    page = client.get("/credits/").content.decode()

    assert row_of(page, "alice") == ["alice", "3", "2", "75%"]
    assert row_of(page, NO_USER) == [NO_USER, "1", "1", "25%"]
    assert row_of(page, "Change state") == ["Change state", "2", "1", "50%"]
    assert row_of(page, "Read customer") == ["Read customer", "1", "1", "25%"]
    assert cells(page, "dd")[:2] == ["4", "3"]  # credits, calls
    assert len(list(html_elements(page, "rect"))) == 30
    ninety = client.get("/credits/?days=90").content.decode()
    assert cells(ninety, "dd")[:2] == ["44", "4"]
    assert row_of(ninety, "alice") == ["alice", "43", "3", "98%"]
    assert len(list(html_elements(ninety, "rect"))) == 90


# --- The chart ------------------------------------------------------------------------------------


def test_the_chart_has_one_bar_a_day_in_proportion_to_its_credits(client, manager, alice):
    for days, credits in [(6, 40), (4, 10), (1, 25), (0, 5)]:
        call(days_ago(days), user=alice, credits=credits)
    client.force_login(manager)

    page = client.get("/credits/?days=7").content.decode()

    bars = [attrs for _, attrs in html_elements(page, "rect") if "usage-bar" in (attrs.get("class") or "")]
    assert len(bars) == 7
    heights = [float(bar["height"]) for bar in bars]
    assert [int(bar["data-credits"]) for bar in bars] == [40, 0, 10, 0, 0, 25, 5]
    assert heights[1] == heights[3] == heights[4] == 0
    for height, credits in zip(heights, [40, 0, 10, 0, 0, 25, 5], strict=True):
        assert height == pytest.approx(heights[0] * credits / 40, abs=0.02)
    # The scale tops out at 50, so the tallest bar fills four fifths of the plot.
    assert {round(float(bar["y"]) + float(bar["height"]), 1) for bar in bars} == {PLOT_BOTTOM}
    assert heights[0] == pytest.approx((PLOT_BOTTOM - PLOT_TOP) * 40 / 50, abs=0.02)
    xs = [float(bar["x"]) for bar in bars]
    assert xs == sorted(xs)


def test_the_chart_is_described_for_screen_readers_and_listed_as_a_table(client, manager, alice):
    call(days_ago(2), user=alice, credits=7)
    client.force_login(manager)

    page = client.get("/credits/?days=7").content.decode()

    svg = next(attrs for _, attrs in html_elements(page, "svg"))
    assert svg["role"] == "img"
    assert svg["aria-labelledby"] == "usage-chart-title usage-chart-desc"
    assert "style" not in page.split("<svg", 1)[1].split("</svg>", 1)[0]
    assert "<script" not in page.split("<main", 1)[1]
    day = timezone.localdate() - datetime.timedelta(days=2)
    assert f"the most on {day.day} {day:%b} (7)" in page
    label = f"{day:%a} {day.day} {day:%b %Y}"
    assert row_of(page, label)[:3] == [label, "7", "1"]


@pytest.mark.parametrize(
    "most,ceiling", [(0, 1), (1, 1), (2, 2), (3, 5), (7, 10), (10, 10), (11, 20), (40, 50), (501, 1000)]
)
def test_the_credit_scale_ends_on_a_round_number(most, ceiling):
    assert scale_ceiling(most) == ceiling


# --- The period -----------------------------------------------------------------------------------


@pytest.mark.parametrize("query", ["?days=365", "?days=abc", "?days=", "?days=-7", "?days=7.0"])
def test_a_period_not_offered_gets_a_clear_message_and_no_figures(client, manager, query):
    client.force_login(manager)

    response = client.get(f"/credits/{query}")

    assert response.status_code == 400
    page = response.content.decode()
    assert "Choose a period of 7, 30 or 90 days." in page
    assert not list(html_elements(page, "svg"))
    assert "Download CSV" not in page


def test_a_csv_for_a_period_not_offered_is_refused_with_a_message(client, manager):
    client.force_login(manager)

    response = client.get("/credits/export/?days=12", follow=True)

    assert response.redirect_chain == [("/credits/", 302)]
    assert "Nothing was downloaded. Choose a period of 7, 30 or 90 days." in response.content.decode()


# --- The CSV --------------------------------------------------------------------------------------


def test_the_csv_has_a_row_per_day_user_and_action_safe_for_spreadsheets(client, manager, alice):
    mallory = get_user_model().objects.create_user("=cmd|' /C calc'!A0", "m@example.com", "pw-mallory-123")
    plus = get_user_model().objects.create_user("+plus", "p@example.com", "pw-plus-12345")
    call(days_ago(0, 9), user=alice, method="PUT", route=CUSTOMER + "/disable")
    call(days_ago(0, 10), user=alice, method="PUT", route=CUSTOMER + "/enable")
    call(days_ago(0, 11), user=alice)
    call(days_ago(1), user=mallory)
    call(days_ago(1), user=plus)
    call(days_ago(6), route="/v3/tatum/version")
    call(days_ago(7), user=alice, credits=99)  # the day before the period
    client.force_login(manager)

    response = client.get("/credits/export/?days=7")

    assert response.status_code == 200
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    cache_control = {part.strip() for part in response["Cache-Control"].split(",")}
    assert {"private", "no-store"} <= cache_control
    today = timezone.localdate()
    first = today - datetime.timedelta(days=6)
    assert response["Content-Disposition"] == (
        f'attachment; filename="credit-usage-{first.isoformat()}-to-{today.isoformat()}.csv"'
    )
    rows = list(csv.reader(io.StringIO(response.content.decode())))
    yesterday = (today - datetime.timedelta(days=1)).isoformat()
    assert rows == [
        ["Day", "User", "Action", "Credits", "Calls"],
        [first.isoformat(), "(no user)", "Check Tatum (plan, usage)", "1", "1"],
        [yesterday, "'+plus", "Read customer", "1", "1"],
        [yesterday, "'=cmd|' /C calc'!A0", "Read customer", "1", "1"],
        [today.isoformat(), "alice", "Change state", "4", "2"],
        [today.isoformat(), "alice", "Read customer", "1", "1"],
    ]


def test_the_page_links_the_csv_of_the_period_shown(client, manager):
    client.force_login(manager)
    page = client.get("/credits/?days=90").content.decode()
    assert any(attrs.get("href") == "/credits/export/?days=90" for _, attrs in html_elements(page, "a"))


# --- The monthly budget ---------------------------------------------------------------------------


def spend_this_month(credits: int, user: Any) -> None:
    """`credits` this month, half by `user` and half by background work (it counts too)."""
    now = timezone.now()
    call(now, user=user, credits=credits // 2)
    call(now, credits=credits - credits // 2)


def banner(page: str) -> list[dict[str, Any]]:
    return [attrs for _, attrs in html_elements(page, "aside") if attrs.get("id") == "credit-budget-banner"]


@pytest.mark.parametrize(
    "spent,expected",
    [
        (79, None),
        (80, "Approaching the monthly credit budget."),
        (99, "Approaching the monthly credit budget."),
        (100, "Over the monthly credit budget."),
        (130, "Over the monthly credit budget."),
    ],
)
def test_every_role_sees_the_budget_banner_from_80_percent(client, settings, support, spent, expected):
    settings.TATUM_MONTHLY_CREDIT_BUDGET = 1000
    spend_this_month(spent * 10, support)
    # Last month's calls do not count.
    call(local(timezone.localdate().replace(day=1) - datetime.timedelta(days=1)), user=support, credits=500)
    client.force_login(support)

    page = client.get("/").content.decode()

    if expected is None:
        assert banner(page) == []
        assert "monthly credit budget" not in page
        return
    assert banner(page)
    assert expected in page
    assert f"{spent}%" in page
    assert 'href="/credits/"' not in page  # support may not open the usage page


def test_a_managers_banner_links_to_the_usage_page(client, settings, manager):
    settings.TATUM_MONTHLY_CREDIT_BUDGET = 100
    spend_this_month(90, manager)
    client.force_login(manager)

    page = client.get("/").content.decode()

    assert banner(page)
    assert any(attrs.get("href") == "/credits/" for _, attrs in html_elements(page, "a"))


def test_the_banner_counts_the_calls_of_the_page_that_shows_it(client, settings, support, tatum):
    settings.TATUM_MONTHLY_CREDIT_BUDGET = 10
    spend_this_month(7, support)
    tatum.get(f"{settings.TATUM_API_URL}/v3/ledger/customer", json=[])  # 1 credit
    client.force_login(support)

    page = client.get("/customers/live/").content.decode()

    assert banner(page)
    assert "have cost 8 of the 10 credits budgeted (80%); 2 left." in " ".join(page.split())


def test_budget_figures_of_one_credit_read_in_the_singular(client, settings, manager):
    settings.TATUM_MONTHLY_CREDIT_BUDGET = 1
    spend_this_month(1, manager)
    client.force_login(manager)

    page = " ".join(client.get("/credits/").content.decode().split())

    assert "of 1 credit budgeted (100%)" in page
    assert "1 credit spent against a budget of 1." in page
    assert "a banner from 1 credit (80%)" in page
    assert "have cost 1 credit, 100% of the 1 budgeted." in page

    settings.TATUM_MONTHLY_CREDIT_BUDGET = 10
    spend_this_month(8, manager)

    page = " ".join(client.get("/credits/").content.decode().split())

    assert "1 credit left this month." in page
    assert "of the 10 credits budgeted (90%); 1 left." in page


def test_with_no_budget_there_is_no_banner_and_no_query_for_it(client, settings, support):
    settings.TATUM_MONTHLY_CREDIT_BUDGET = 0
    spend_this_month(10_000, support)
    client.force_login(support)

    with CaptureQueriesContext(connection) as queries:
        page = client.get("/").content.decode()

    assert banner(page) == []
    assert not [query["sql"] for query in queries.captured_queries if "customers_apicall" in query["sql"]]


def test_the_banner_adds_up_only_todays_calls_once_the_months_days_are_kept(client, settings, support):
    settings.TATUM_MONTHLY_CREDIT_BUDGET = 100
    spend_this_month(100, support)
    client.force_login(support)
    client.get("/")  # sums and keeps the month's settled days, if it has any yet

    with CaptureQueriesContext(connection) as queries:
        page = client.get("/").content.decode()

    assert banner(page)
    reads = [query["sql"] for query in queries.captured_queries if "customers_apicall" in query["sql"]]
    assert len(reads) == 1
    assert "SUM(" in reads[0].upper()


def test_the_page_shows_this_months_spend_against_the_budget(client, settings, manager):
    settings.TATUM_MONTHLY_CREDIT_BUDGET = 2000
    spend_this_month(500, manager)
    client.force_login(manager)

    page = client.get("/credits/").content.decode()

    meter = next(attrs for _, attrs in html_elements(page, "meter"))
    assert (meter["min"], meter["max"], meter["value"], meter["low"]) == ("0", "2000", "500", "1600")
    assert "Within budget" in page
    assert banner(page) == []
    budget = credit_budget_get()
    assert (budget.spent, budget.percent, budget.remaining, budget.level) == (500, 25, 1500, "")


@pytest.mark.parametrize(
    "spent,region",
    [(100, "optimum"), (1599, "optimum"), (1600, "warning"), (1999, "warning"), (2000, "bad"), (2600, "bad")],
)
def test_the_meter_shows_a_warning_from_80_percent_and_bad_from_100(client, settings, manager, spent, region):
    settings.TATUM_MONTHLY_CREDIT_BUDGET = 2000
    spend_this_month(spent, manager)
    client.force_login(manager)

    page = client.get("/credits/").content.decode()

    meter = next(attrs for _, attrs in html_elements(page, "meter"))
    low, high, top = float(meter["low"]), float(meter["high"]), float(meter["max"])
    assert float(meter["optimum"]) < low <= high <= top
    # A browser clamps the value to the meter's range, then colours it by the region it falls in.
    value = min(float(meter["value"]), top)
    shown = "optimum" if value < low else "warning" if value <= high else "bad"
    assert shown == region


def test_the_page_says_when_no_budget_is_set(client, settings, manager):
    settings.TATUM_MONTHLY_CREDIT_BUDGET = 0
    spend_this_month(12, manager)
    client.force_login(manager)

    page = client.get("/credits/").content.decode()

    assert "No monthly budget is set" in page
    assert not list(html_elements(page, "meter"))


@pytest.mark.parametrize("value", ["lots", "-5", "1.5"])
def test_settings_refuse_a_budget_that_is_not_a_whole_number(value):
    result = django_setup(DEBUG="true", TATUM_MONTHLY_CREDIT_BUDGET=value)
    assert result.returncode != 0
    assert "TATUM_MONTHLY_CREDIT_BUDGET must be a whole number" in result.stderr
