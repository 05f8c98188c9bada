"""Reads for the credit usage page and the budget banner: the record of Tatum calls (`ApiCall`) summed
by day (in TIME_ZONE), user and action, and this month's spend against `TATUM_MONTHLY_CREDIT_BUDGET`."""

from __future__ import annotations

import datetime
from collections import defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any, TypeVar

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db.models import BooleanField, Case, Count, Q, Sum, Value, When
from django.db.models.functions import TruncDate
from django.utils import timezone

from customers.credits.calls import credits_not_stored_yet
from customers.credits.models import ApiCall
from customers.csv_safety import safe_row
from customers.exports.models import ExportJob
from customers.usage.actions import call_action
from customers.usage.models import UsageDay

K = TypeVar("K")

PERIOD_DAYS = (7, 30, 90)
DEFAULT_PERIOD_DAYS = 30
NO_USER = "No user (background work, command line)"
CSV_NO_USER = "(no user)"
CSV_COLUMNS = ["Day", "User", "Action", "Credits", "Calls"]
# The shares of the monthly budget at which every page shows a banner.
APPROACHING_PERCENT = 80
OVER_PERCENT = 100


def _local_midnight(day: datetime.date) -> datetime.datetime:
    return timezone.make_aware(datetime.datetime.combine(day, datetime.time.min))


# --- The period ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class UsagePeriod:
    """Whole days in TIME_ZONE, `first` to `last` inclusive."""

    first: datetime.date
    last: datetime.date

    @property
    def days(self) -> int:
        return (self.last - self.first).days + 1

    def each_day(self) -> list[datetime.date]:
        return [self.first + datetime.timedelta(days=offset) for offset in range(self.days)]

    @property
    def starts(self) -> datetime.datetime:
        return _local_midnight(self.first)

    @property
    def ends(self) -> datetime.datetime:
        """The moment after the period (the next day's midnight)."""
        return _local_midnight(self.last + datetime.timedelta(days=1))


def usage_period(days: int, *, today: datetime.date | None = None) -> UsagePeriod:
    """The last `days` days, today included."""
    last = today or timezone.localdate()
    return UsagePeriod(first=last - datetime.timedelta(days=days - 1), last=last)


# --- Usage ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class UsageRow:
    """What one user's (or no user's) one action cost on one day: a line of the CSV."""

    day: datetime.date
    username: str  # "" for calls with no user
    action: str
    credits: int
    calls: int


@dataclass(frozen=True)
class DayUsage:
    day: datetime.date
    credits: int
    calls: int


@dataclass(frozen=True)
class UsageTotal:
    """A line of a breakdown: a user's or an action's credits and calls over the period."""

    label: str
    credits: int
    calls: int
    share: int  # percent of the period's credits, rounded


@dataclass(frozen=True)
class CreditUsage:
    period: UsagePeriod
    days: list[DayUsage]
    by_user: list[UsageTotal]
    by_action: list[UsageTotal]
    credits: int
    calls: int

    @property
    def busiest_day(self) -> DayUsage | None:
        return max(self.days, key=lambda day: day.credits) if self.credits else None


def usage_row_list(period: UsagePeriod) -> list[UsageRow]:
    """Credits and calls per day, user and action in the period, ordered by day, user and action.

    Settled days (over for `SETTLED_AFTER`) are read from their `UsageDay`, summed from the calls the
    first time a page or CSV needs them; the rest are summed from the calls. Calls made for a customer
    export (they carry the export's request id) count as "Export" whatever their route.
    """
    days = period.each_day()
    settled = _settled_days(days)
    by_day = _settled_usage(settled)
    unsettled = days[len(settled) :]
    if unsettled:
        by_day.update(_usage_by_day(UsagePeriod(first=unsettled[0], last=unsettled[-1])))
    user_ids = {user_id for rows in by_day.values() for user_id, *_ in rows if user_id is not None}
    usernames = dict(get_user_model().objects.filter(pk__in=user_ids).values_list("pk", "username"))
    # A deleted user's kept calls join the calls with no user.
    merged = _add_up(
        ((day, usernames.get(user, ""), action), credits, calls)
        for day, day_rows in by_day.items()
        for user, action, credits, calls in day_rows
    )
    return [
        UsageRow(day=day, username=username, action=action, credits=credits, calls=calls)
        for (day, username, action), (credits, calls) in sorted(merged.items())
    ]


# A day's call records are all stored within a minute or so of its end (a web request stores its calls
# when it finishes, and gunicorn stops it after 60 s; a task stores each call at once). An hour after
# midnight the day is settled: its sums can be kept.
SETTLED_AFTER = datetime.timedelta(hours=1)
_DAY_SETTLED = datetime.timedelta(days=1) + SETTLED_AFTER


def _settled_days(days: list[datetime.date]) -> list[datetime.date]:
    """Those of `days` (in order) that are settled now."""
    now = timezone.now()
    return [day for day in days if _local_midnight(day) + _DAY_SETTLED <= now]


def _settled_usage(days: list[datetime.date]) -> dict[datetime.date, list[list[Any]]]:
    """The usage rows of settled days, each summed from the calls once and kept as a `UsageDay`."""
    time_zone = timezone.get_current_timezone_name()
    kept = {usage.day: usage.rows for usage in UsageDay.objects.filter(time_zone=time_zone, day__in=days)}
    missing = [day for day in days if day not in kept]
    if missing:
        summed = _usage_by_day(UsagePeriod(first=missing[0], last=missing[-1]))
        new = {day: summed.get(day, []) for day in missing}
        # Another request may sum the same days at once: the sums are the same, the first one is kept.
        UsageDay.objects.bulk_create(
            [UsageDay(time_zone=time_zone, day=day, rows=rows) for day, rows in new.items()],
            ignore_conflicts=True,
        )
        kept.update(new)
    return kept


def _usage_by_day(period: UsagePeriod) -> dict[datetime.date, list[list[Any]]]:
    """The period's calls summed per day, user and action, in one grouped query: for each day with
    calls, `[user id or None, action, credits, calls]` lists."""
    made_for_export = Q(request_id__in=ExportJob.objects.exclude(request_id="").values("request_id"))
    groups = (
        ApiCall.objects.filter(at__gte=period.starts, at__lt=period.ends)
        .annotate(
            day=TruncDate("at"),
            for_export=Case(
                When(made_for_export, then=Value(True)), default=Value(False), output_field=BooleanField()
            ),
        )
        .values("day", "user", "method", "route", "for_export")
        .annotate(credits=Sum("credits"), calls=Count("id"))
        .order_by()
    )
    # Several routes make one action (four state changes, say): add them up.
    merged = _add_up(
        ((group["day"], group["user"], _group_action(group)), group["credits"], group["calls"])
        for group in groups
    )
    by_day: defaultdict[datetime.date, list[list[Any]]] = defaultdict(list)
    for (day, user_id, action), (credits, calls) in merged.items():
        by_day[day].append([user_id, action, credits, calls])
    return dict(by_day)


def _group_action(group: dict[str, Any]) -> str:
    return call_action(group["method"], group["route"], for_export=group["for_export"])


def credit_usage_get(period: UsagePeriod) -> CreditUsage:
    """The period's credits per day (every day, 0 when there were no calls), by user and by action."""
    rows = usage_row_list(period)
    per_day = _add_up((row.day, row.credits, row.calls) for row in rows)
    credits = sum(row.credits for row in rows)
    return CreditUsage(
        period=period,
        days=[DayUsage(day, *per_day.get(day, (0, 0))) for day in period.each_day()],
        by_user=_breakdown(((row.username or NO_USER, row) for row in rows), credits),
        by_action=_breakdown(((row.action, row) for row in rows), credits),
        credits=credits,
        calls=sum(row.calls for row in rows),
    )


def _breakdown(labelled: Iterable[tuple[str, UsageRow]], total_credits: int) -> list[UsageTotal]:
    """Rows added up by label, the most credits first."""
    sums = _add_up((label, row.credits, row.calls) for label, row in labelled)
    totals = [
        UsageTotal(
            label=label,
            credits=credits,
            calls=calls,
            share=round(credits * 100 / total_credits) if total_credits else 0,
        )
        for label, (credits, calls) in sums.items()
    ]
    return sorted(totals, key=lambda total: (-total.credits, -total.calls, total.label))


def _add_up(items: Iterable[tuple[K, int, int]]) -> dict[K, tuple[int, int]]:
    """`(key, credits, calls)` items added up by key."""
    sums: defaultdict[K, list[int]] = defaultdict(lambda: [0, 0])
    for key, credits, calls in items:
        sums[key][0] += credits
        sums[key][1] += calls
    return {key: (credits, calls) for key, (credits, calls) in sums.items()}


def usage_csv_filename(period: UsagePeriod) -> str:
    return f"credit-usage-{period.first:%Y-%m-%d}-to-{period.last:%Y-%m-%d}.csv"


def usage_csv_rows(period: UsagePeriod) -> Iterator[list[str]]:
    """The header, then one row per day, user and action, every cell made safe for spreadsheets."""
    yield CSV_COLUMNS
    for row in usage_row_list(period):
        yield safe_row([row.day.isoformat(), row.username or CSV_NO_USER, row.action, row.credits, row.calls])


# --- The monthly budget --------------------------------------------------------------------------


@dataclass(frozen=True)
class CreditBudget:
    """This month's spend (in TIME_ZONE) against the budget; a budget of 0 means none is set."""

    month: datetime.date  # its first day
    budget: int
    spent: int

    @property
    def percent(self) -> int:
        """The share of the budget spent, rounded down (so 79.9% never reads as 80%)."""
        return self.spent * 100 // self.budget if self.budget else 0

    @property
    def level(self) -> str:
        """ "over" from 100%, "approaching" from 80%, else "" (and "" with no budget)."""
        if not self.budget:
            return ""
        if self.percent >= OVER_PERCENT:
            return "over"
        return "approaching" if self.percent >= APPROACHING_PERCENT else ""

    @property
    def remaining(self) -> int:
        return max(0, self.budget - self.spent)

    @property
    def approaching_at(self) -> int:
        """The spend at which the banner appears (the meter's `low` mark)."""
        return -(-self.budget * APPROACHING_PERCENT // 100)

    @property
    def over_above(self) -> float:
        """The meter's `high` mark: browsers show a value above it as bad and one from `low` up to it as
        a warning. The meter stops at the budget, and credits are whole, so half a credit below the
        budget puts a spend of the budget or more above it, as `level` does."""
        return self.budget - 0.5


def credits_spent_in_month(month: datetime.date) -> int:
    """Credits of every call (with a user or not) in the calendar month of `month`.

    The month's settled days are read from their `UsageDay` (summed the first time they are needed, as
    for the usage page), and only the calls since are added up (today's, and yesterday's until it
    settles): one aggregate over the index on `ApiCall.at`. So every page's banner costs about the same
    on the 30th as on the 1st.
    """
    first = month.replace(day=1)
    following = (first + datetime.timedelta(days=32)).replace(day=1)
    month_days = UsagePeriod(first=first, last=following - datetime.timedelta(days=1))
    settled = _settled_days(month_days.each_day())
    kept = sum(credits for rows in _settled_usage(settled).values() for _, _, credits, _ in rows)
    live_from = _local_midnight(settled[-1] + datetime.timedelta(days=1)) if settled else month_days.starts
    live = ApiCall.objects.filter(at__gte=live_from, at__lt=month_days.ends)
    return kept + (live.aggregate(credits=Sum("credits"))["credits"] or 0)


def credit_budget_get(*, today: datetime.date | None = None) -> CreditBudget:
    """The spend of `today`'s month (this month by default) against the budget; this month's counts the
    calls of the request at hand too, as the header's credits do."""
    this_month = timezone.localdate().replace(day=1)
    month = (today or this_month).replace(day=1)
    spent = credits_spent_in_month(month)
    if month == this_month:
        spent += credits_not_stored_yet()
    return CreditBudget(month=month, budget=settings.TATUM_MONTHLY_CREDIT_BUDGET, spent=spent)


def credit_budget_warning() -> CreditBudget | None:
    """The budget when pages should warn about it (from 80% spent), else None; with no budget set, no
    query at all."""
    if not settings.TATUM_MONTHLY_CREDIT_BUDGET:
        return None
    budget = credit_budget_get()
    return budget if budget.level else None
