"""Reads of the customer index: the searchable list, an exact id, and how fresh the index is."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from functools import cached_property
from typing import Any

from django.core.paginator import Page, Paginator
from django.db.models import F, Q, QuerySet
from django.http import QueryDict

from customers.index.filters import DEFAULT_PAGE_SIZE, DEFAULT_SORT, LIST_PARAMS, CustomerRecordFilter
from customers.index.models import CustomerRecord, SyncRun

# Counting every match of a loose search over a million rows costs more than the page itself: past
# this many matches the list says "more than" and pages through the first ones only.
COUNT_LIMIT = 10_000


class _CountedPaginator(Paginator):
    """A paginator told its count, so that a capped count is counted once."""

    def __init__(self, object_list: QuerySet[CustomerRecord], per_page: int, *, count: int) -> None:
        super().__init__(object_list, per_page)
        self._known_count = count

    @cached_property
    def count(self) -> int:
        return self._known_count


@dataclass(frozen=True)
class RecordList:
    filterset: CustomerRecordFilter
    page: Page
    # Matches counted, at most `count_limit`; `count_capped` when there are more.
    count: int
    count_capped: bool
    count_limit: int

    @property
    def form(self) -> Any:
        return self.filterset.form

    @property
    def state(self) -> QueryDict:
        """The parameters that took effect, defaults left out: the address of what is shown."""
        state = QueryDict(mutable=True)
        for name in LIST_PARAMS:
            value = self.form.data.get(name, "").strip() if name in self.form.cleaned_data else ""
            if value and not (name == "sort" and value == DEFAULT_SORT):
                state[name] = value
        if self.page.number > 1:
            state["page"] = str(self.page.number)
        if self.form.page_size() != DEFAULT_PAGE_SIZE:
            state["size"] = str(self.form.page_size())
        return state


def record_list(*, data: Mapping[str, Any], count_limit: int = COUNT_LIMIT) -> RecordList:
    """The index searched, filtered and sorted as `data` (the list's query parameters) asks, one page of
    it, and how many match. A parameter that does not validate is left out (the form says why)."""
    filterset = CustomerRecordFilter(data, queryset=CustomerRecord.objects.all())
    records = filterset.qs
    form = filterset.form
    # Which rows fall under the cap does not matter to the count: unordered, the database counts them by
    # whichever index finds them fastest.
    matching = records.order_by()[: count_limit + 1].count()
    count = min(matching, count_limit)
    page = _CountedPaginator(records, form.page_size(), count=count).get_page(form.page_number())
    return RecordList(
        filterset=filterset,
        page=page,
        count=count,
        count_capped=matching > count_limit,
        count_limit=count_limit,
    )


def record_exact_get(*, customer_id: str) -> CustomerRecord | None:
    """The record whose external or internal id is exactly `customer_id`, if the index has one."""
    return (
        CustomerRecord.objects.filter(Q(external_id=customer_id) | Q(tatum_id=customer_id))
        .order_by(F("missing_since").asc(nulls_first=True), "tatum_id")
        .first()
    )


def index_as_of() -> datetime | None:
    """When the last complete sync finished: what the whole index is at least as fresh as."""
    return (
        SyncRun.objects.filter(status=SyncRun.Status.SUCCEEDED, finished_at__isnull=False)
        .order_by("-finished_at")
        .values_list("finished_at", flat=True)
        .first()
    )
