"""Credit metering per API key and day (UTC), and the plan the sandbox reports for its key."""

from __future__ import annotations

import calendar
import hashlib
from datetime import UTC, date, datetime, timedelta

from django.db import IntegrityError
from django.db.models import F, Sum

from sandbox.models import CreditUsage

# Tatum's price list for the endpoints the sandbox serves: 1 credit per read, 2 per write.
CREDIT_COSTS = {"GET": 1, "PUT": 2, "POST": 2}
PLAN = {
    "version": "3.18.3",
    "testnet": True,
    "planName": "Sandbox",
    "planCode": "SANDBOX",
    "price": 0,
    # Milliseconds since the epoch, as Tatum sends it; far in the future: the plan never expires.
    "expiration": 4102444800000,
    "creditLimit": 1_000_000,
}
ROLLOVER_DAY = 1
USAGE_HISTORY_DAYS = 30


def key_digest(api_key: str) -> str:
    return hashlib.sha256(api_key.encode("utf-8")).hexdigest()


def today_utc() -> date:
    return datetime.now(UTC).date()


def credits_charge(*, api_key: str, method: str, day: date | None = None) -> int:
    """Adds the cost of one call to the key's total for the day; returns the cost."""
    cost = CREDIT_COSTS.get(method, 1)
    keys = {"key_digest": key_digest(api_key), "day": day or today_utc()}
    # Single statements, no transaction: under the test server, threads share one SQLite connection.
    if CreditUsage.objects.filter(**keys).update(credits=F("credits") + cost):
        return cost
    try:
        CreditUsage.objects.create(**keys, credits=cost)
    except IntegrityError:  # another call created the day's row first
        CreditUsage.objects.filter(**keys).update(credits=F("credits") + cost)
    return cost


def billing_period_start(today: date, rollover_day: int = ROLLOVER_DAY) -> date:
    """The last day-of-month `rollover_day` on or before today (clamped to short months)."""

    def rollover_in(year: int, month: int) -> date:
        return date(year, month, min(rollover_day, calendar.monthrange(year, month)[1]))

    this_month = rollover_in(today.year, today.month)
    if this_month <= today:
        return this_month
    previous = today.replace(day=1) - timedelta(days=1)
    return rollover_in(previous.year, previous.month)


def credits_used_since(*, api_key: str, since: date) -> int:
    rows = CreditUsage.objects.filter(key_digest=key_digest(api_key), day__gte=since)
    return rows.aggregate(total=Sum("credits"))["total"] or 0


def credits_by_day(*, api_key: str, today: date | None = None) -> list[tuple[date, int]]:
    """Credits used per day over the last month, oldest first, days without calls left out."""
    today = today or today_utc()
    rows = CreditUsage.objects.filter(
        key_digest=key_digest(api_key), day__gt=today - timedelta(days=USAGE_HISTORY_DAYS), day__lte=today
    ).order_by("day")
    return [(row.day, row.credits) for row in rows if row.credits]
