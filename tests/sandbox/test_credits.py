"""Credit metering, reported by /v3/tatum/version and /v3/tatum/usage."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from sandbox.credits import billing_period_start, key_digest
from sandbox.faults import fault_next
from sandbox.models import CreditUsage
from tests.sandbox.conftest import KEY, NO_KEY, make_customer

pytestmark = pytest.mark.django_db(transaction=True)


def _usage(api) -> int:
    return api.get("/v3/tatum/version").json()["usage"]


def test_version_reports_the_plan_of_a_testnet_key(api):
    response = api.get("/v3/tatum/version")

    assert response.status_code == 200
    body = response.json()
    assert set(body) == {
        "version",
        "testnet",
        "planName",
        "planCode",
        "price",
        "expiration",
        "creditLimit",
        "usage",
        "rolloverDay",
    }
    assert body["testnet"] is True
    assert body["usage"] == 1
    assert isinstance(body["creditLimit"], int) and body["creditLimit"] > 0
    assert 1 <= body["rolloverDay"] <= 31


def test_reads_cost_one_credit_and_writes_two(api):
    customer = make_customer()
    start = _usage(api)

    api.get("/v3/ledger/customer", params={"pageSize": 5})
    api.get(f"/v3/ledger/customer/{customer.ledger_id}")
    api.put(f"/v3/ledger/customer/{customer.ledger_id}", json={"externalId": "x"})
    api.put(f"/v3/ledger/customer/{customer.ledger_id}/disable")
    api.post("/v3/ledger/account", json={"currency": "BTC"})

    # Three reads and three writes, plus the version call that reports them.
    assert _usage(api) == start + 1 + 1 + 2 + 2 + 2 + 1


def test_refused_and_invalid_calls_are_charged_too(api):
    start = _usage(api)

    api.get("/v3/ledger/customer")
    api.put("/v3/ledger/customer/0123456789abcdef01234567/activate")
    api.get("/v3/ledger/customer/nobody")

    assert _usage(api) == start + 1 + 2 + 1 + 1


def test_unauthenticated_calls_and_unknown_paths_cost_nothing(api):
    start = _usage(api)

    api.get("/v3/ledger/customer", params={"pageSize": 5}, key="wrong-key")
    api.get("/v3/ledger/customer", params={"pageSize": 5}, key=NO_KEY)
    api.get("/v3/not/a/thing")
    api.request("DELETE", "/v3/ledger/customer/0123456789abcdef01234567")

    assert _usage(api) == start + 1


def test_calls_answered_by_an_injected_fault_are_charged(api):
    start = _usage(api)
    fault_next("500", count=2)

    assert api.get("/v3/ledger/customer", params={"pageSize": 5}).status_code == 500
    assert api.put("/v3/ledger/customer/0123456789abcdef01234567/enable").status_code == 500

    assert _usage(api) == start + 1 + 2 + 1


def test_usage_lists_todays_credits_in_month_day_year_form(api):
    api.get("/v3/ledger/customer", params={"pageSize": 5})
    api.post("/v3/ledger/account", json={"currency": "BTC"})

    response = api.get("/v3/tatum/usage")

    assert response.status_code == 200
    today = datetime.now(UTC).date()
    assert response.json() == [{"day": today.strftime("%m/%d/%Y"), "usage": 1 + 2 + 1}]


def test_usage_covers_the_last_month_oldest_first(api):
    today = datetime.now(UTC).date()
    digest = key_digest(KEY)
    for days_ago, credits in ((45, 9), (29, 4), (3, 7)):
        CreditUsage.objects.create(key_digest=digest, day=today - timedelta(days=days_ago), credits=credits)
    CreditUsage.objects.create(key_digest=key_digest("another-key"), day=today, credits=500)

    body = api.get("/v3/tatum/usage").json()

    assert body == [
        {"day": (today - timedelta(days=29)).strftime("%m/%d/%Y"), "usage": 4},
        {"day": (today - timedelta(days=3)).strftime("%m/%d/%Y"), "usage": 7},
        {"day": today.strftime("%m/%d/%Y"), "usage": 1},
    ]


def test_version_usage_counts_the_current_billing_period_only(api):
    today = datetime.now(UTC).date()
    period_start = billing_period_start(today)
    digest = key_digest(KEY)
    CreditUsage.objects.create(key_digest=digest, day=period_start - timedelta(days=1), credits=1000)
    if period_start < today:
        CreditUsage.objects.create(key_digest=digest, day=period_start, credits=20)
        expected = 20 + 1
    else:
        expected = 1

    assert _usage(api) == expected


def test_credits_are_counted_per_key(api, settings):
    api.get("/v3/ledger/customer", params={"pageSize": 5})
    settings.SANDBOX_API_KEY = "second-key"

    assert _usage(api) == 1
    assert api.get("/v3/tatum/version", key=KEY).status_code == 401


@pytest.mark.parametrize(
    ("today", "rollover", "expected"),
    [
        (date(2026, 3, 15), 1, date(2026, 3, 1)),
        (date(2026, 3, 1), 1, date(2026, 3, 1)),
        (date(2026, 3, 15), 20, date(2026, 2, 20)),
        (date(2026, 3, 15), 31, date(2026, 2, 28)),
        (date(2026, 1, 5), 10, date(2025, 12, 10)),
    ],
)
def test_billing_period_starts_on_the_last_rollover_day(today, rollover, expected):
    assert billing_period_start(today, rollover) == expected
