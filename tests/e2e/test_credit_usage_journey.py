"""A manager looks customers up in the live sandbox, then opens Credit usage and finds those calls: the
chart, the totals, the breakdowns and this month's spend against the budget."""

from __future__ import annotations

import re

import pytest
from django.db.models import Sum
from django.utils import timezone
from playwright.sync_api import Page, expect

from customers.credits.models import ApiCall
from customers.usage.selectors import NO_USER
from tests.e2e.helpers import sandbox_customer, sign_in
from tests.users import make_user

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def credits_of(**filters: object) -> int:
    return ApiCall.objects.filter(**filters).aggregate(credits=Sum("credits"))["credits"] or 0


def test_a_manager_sees_the_credits_of_the_calls_just_made(page: Page, live_server, settings):
    settings.TATUM_MONTHLY_CREDIT_BUDGET = 1000
    customer = sandbox_customer("e2e-usage")  # opened from a script: calls with no user
    make_user("Manager", "mia")
    sign_in(page, live_server.url, "mia")

    page.get_by_role("navigation", name="Main").get_by_role("link", name="Customers").click()
    page.get_by_role("link", name="Live from Tatum").first.click()  # the index's list costs nothing
    expect(page).to_have_url(re.compile(r"/customers/live/$"))
    page.goto(f"{live_server.url}/customers/{customer.id}/")
    expect(page.get_by_role("heading", name="e2e-usage")).to_be_visible()

    page.get_by_role("navigation", name="Main").get_by_role("link", name="Credit usage").click()
    expect(page).to_have_url(re.compile(r"/credits/$"))
    expect(page.get_by_role("heading", name="Credit usage", exact=True)).to_be_visible()
    total, by_mia, by_nobody = credits_of(), credits_of(user__username="mia"), credits_of(user=None)
    assert by_mia >= 3 and by_nobody >= 3  # the list, the customer and its accounts; the account and a read

    chart = page.get_by_role("img", name=re.compile(r"^Credits per day, "))
    expect(chart).to_be_visible()
    bars = page.locator("svg rect.usage-bar")
    expect(bars).to_have_count(30)
    assert float(bars.last.get_attribute("height")) > 0  # today
    assert float(bars.first.get_attribute("height")) == 0

    stats = page.locator("dl.stats dd")
    expect(stats.first).to_have_text(str(total))
    by_user = page.get_by_role("region", name="By user", exact=True)
    expect(by_user.get_by_role("row", name=re.compile(rf"^mia {by_mia} "))).to_be_visible()
    expect(
        by_user.get_by_role("row", name=re.compile(rf"^{re.escape(NO_USER)} {by_nobody} "))
    ).to_be_visible()
    by_action = page.get_by_role("region", name="By action", exact=True)
    expect(by_action.get_by_role("row", name=re.compile(r"^Read customer \d+ "))).to_be_visible()
    expect(by_action.get_by_role("row", name=re.compile(r"^List customers \d+ "))).to_be_visible()

    budget = page.get_by_role("region", name=re.compile(r"^This month"))
    expect(budget).to_contain_text(f"{total} of 1,000 credits budgeted")
    expect(budget.get_by_text("Within budget")).to_be_visible()

    page.get_by_text("Credits per day as a table").click()
    today = timezone.localdate()
    day_table = page.get_by_role("table", name="Credits and calls per day, oldest first")
    expect(day_table.get_by_role("row").last).to_contain_text(f"{today.day} {today:%b %Y}")
    expect(day_table.get_by_role("row").last.get_by_role("cell").nth(1)).to_have_text(str(total))
