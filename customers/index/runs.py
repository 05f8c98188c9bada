"""Reads about syncs: the recent runs, the one under way, what the next one will cost, a run's progress."""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import timedelta

from django.utils import timezone

from customers.index.models import CustomerRecord, SyncRun
from customers.index.reader import PAGE_SIZE
from customers.tatum import CREDIT_COSTS
from customers.templatetags.customer_tags import duration_words

Status = SyncRun.Status


def sync_run_list(*, limit: int = 10) -> list[SyncRun]:
    """The newest runs first."""
    return list(SyncRun.objects.order_by("-created_at", "-id")[:limit])


def sync_run_active() -> SyncRun | None:
    """The run waiting or running, if any (the newest, should there be more)."""
    return SyncRun.objects.filter(status__in=SyncRun.ACTIVE_STATUSES).order_by("-created_at", "-id").first()


def sync_last_complete() -> SyncRun | None:
    return SyncRun.objects.filter(status=Status.SUCCEEDED).order_by("-finished_at", "-id").first()


def sync_estimated_customers() -> int | None:
    """How many customers the next sync will read: as many as the last complete sync read, else as
    many as the index holds; None when neither says anything."""
    last = sync_last_complete()
    if last is not None:
        return last.customers_read
    return CustomerRecord.objects.count() or None


@dataclass(frozen=True)
class SyncCost:
    """What reading the whole ledger costs: a page of 50 customers is one call, 1 credit (None: unknown)."""

    customers: int | None
    credits_per_page: int = CREDIT_COSTS["GET"]
    page_size: int = PAGE_SIZE

    @property
    def pages(self) -> int | None:
        # The last page is the first that comes back short (empty when the count divides evenly).
        return None if self.customers is None else math.floor(self.customers / self.page_size) + 1

    @property
    def credits(self) -> int | None:
        return None if self.pages is None else self.pages * self.credits_per_page

    @property
    def text(self) -> str:
        if self.credits is None:
            return "cost unknown: no complete sync yet and an empty index"
        return f"about {self.credits} credits"


def sync_cost() -> SyncCost:
    return SyncCost(customers=sync_estimated_customers())


class ProgressBar:
    """A background run's progress bar (a sync's or an export's): `bar_value` of `bar_max`, None when
    not known, and how long the run has taken."""

    bar_value: int | None
    bar_max: int | None
    elapsed: timedelta | None

    @property
    def percent(self) -> int | None:
        if self.bar_value is None or not self.bar_max:
            return None
        return min(100, math.floor(100 * self.bar_value / self.bar_max))

    @property
    def elapsed_text(self) -> str:
        return duration_words(self.elapsed)


@dataclass(frozen=True)
class SyncProgress(ProgressBar):
    """What the progress bar shows, worked out from the run's row."""

    run: SyncRun
    stalled: bool
    elapsed: timedelta | None
    bar_value: int | None
    bar_max: int | None


def sync_progress(run: SyncRun) -> SyncProgress:
    elapsed = None
    if run.started_at is not None:
        elapsed = (run.finished_at or timezone.now()) - run.started_at
    value = maximum = None
    if run.status == Status.SUCCEEDED:
        value = maximum = max(run.customers_read, 1)
    elif run.estimated_customers:
        # The ledger may have grown since the estimate: never more than a full bar.
        value, maximum = run.customers_read, max(run.estimated_customers, run.customers_read)
    return SyncProgress(run, run.is_stalled, elapsed, value, maximum)


def index_size() -> int:
    return CustomerRecord.objects.count()
