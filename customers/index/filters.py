"""The customer list's search, filters, sort and paging over the index: one django-filter FilterSet.

The query parameter names are a contract (bookmarks, shared links and tests use them): `q`, `active`,
`enabled`, `currency`, `country`, `provider_country`, `gap`, `missing`, `sort`, `page`, `size`. Booleans
are `true`/`false`. A value that does not validate is reported on the form and filters nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import django_filters
from django import forms
from django.db.models import F, Q, QuerySet

from customers.index.models import CustomerRecord
from customers.tatum.reference import COUNTRY_CHOICES, CURRENCY_CHOICES

# The filters' parameters; with the search and the sort, what the list's address keeps.
FILTER_PARAMS = ("active", "enabled", "currency", "country", "provider_country", "gap", "missing")
LIST_PARAMS = ("q", *FILTER_PARAMS, "sort")
# Submitting the search (rather than typing) asks to open the customer whose id it is exactly.
FIND_PARAM = "find"
# The search box's id: typing in it replaces the address rather than adding to the history.
SEARCH_INPUT_ID = "customer-search"

PAGE_SIZES = (20, 50, 100)
DEFAULT_PAGE_SIZE = 50
# Longer than any id Tatum accepts (100 characters, some of them several code points).
SEARCH_MAX_LENGTH = 300

# The columns a list can be sorted by (a `sort` value, `-` in front for descending), in words.
SORT_COLUMNS = {
    "external_id": "External id",
    "tatum_id": "Internal id",
    "accounting_currency": "Accounting currency",
    "customer_country": "Customer country",
    "provider_country": "Provider country",
    "active": "Active",
    "enabled": "Enabled",
    "compliance_gap": "Compliance gap",
    "first_seen_at": "First seen",
    "last_seen_at": "Last seen",
    "missing_since": "Missing from Tatum since",
}
DEFAULT_SORT = "external_id"
# The list's columns, each sortable by its header, in table order, with the header's (short) label.
TABLE_COLUMNS = {
    "external_id": "External id",
    "tatum_id": "Internal id",
    "active": "Active",
    "enabled": "Enabled",
    "accounting_currency": "Currency",
    "customer_country": "Country",
    "provider_country": "Provider country",
    "compliance_gap": "Compliance",
    "last_seen_at": "Last seen",
}
SORT_CHOICES = [
    choice
    for column, label in SORT_COLUMNS.items()
    for choice in ((column, f"{label}, ascending"), (f"-{column}", f"{label}, descending"))
]
# Nullable columns: an empty value sorts after every date, so it comes last going up and first going
# down (PostgreSQL's own order, which one index serves both ways).
_NULLABLE_SORT_COLUMNS = frozenset({"missing_since"})


def _true_false(value: str) -> bool:
    return value == "true"


def _yes_no_filter(label: str, field_name: str, yes: str, no: str, **kwargs: Any) -> django_filters.Filter:
    return django_filters.TypedChoiceFilter(
        field_name=field_name,
        label=label,
        choices=[("", "Any"), ("true", yes), ("false", no)],
        coerce=_true_false,
        error_messages={"invalid_choice": f"“{label}” is true or false; that value was ignored."},
        **kwargs,
    )


def _code_filter(
    label: str, field_name: str, choices: list[tuple[str, str]], kind: str
) -> django_filters.Filter:
    return django_filters.ChoiceFilter(
        field_name=field_name,
        label=label,
        choices=choices,
        empty_label="Any",
        error_messages={"invalid_choice": f"That is not a {kind} code in Tatum's list; it was ignored."},
    )


class CustomerIndexForm(forms.Form):
    """The filter form, with the paging fields beside the filters so that every parameter is validated
    in one place."""

    page = forms.IntegerField(
        min_value=1,
        required=False,
        error_messages={
            "invalid": "The page is a whole number; the first page is shown.",
            "min_value": "The page is a whole number from 1; the first page is shown.",
        },
    )
    size = forms.TypedChoiceField(
        label="Rows per page",
        choices=[(str(n), str(n)) for n in PAGE_SIZES],
        coerce=int,
        required=False,
        error_messages={
            "invalid_choice": (
                f"Rows per page are {', '.join(map(str, PAGE_SIZES))}; {DEFAULT_PAGE_SIZE} are shown."
            )
        },
    )

    def page_number(self) -> int:
        return self.cleaned_data.get("page") or 1

    def page_size(self) -> int:
        return self.cleaned_data.get("size") or DEFAULT_PAGE_SIZE


class CustomerRecordFilter(django_filters.FilterSet):
    q = django_filters.CharFilter(
        method="search",
        label="Search by external id or internal id",
        max_length=SEARCH_MAX_LENGTH,
        error_messages={
            "max_length": f"Search for at most {SEARCH_MAX_LENGTH} characters; the search was ignored."
        },
    )
    active = _yes_no_filter("Active", "active", "Active", "Inactive")
    enabled = _yes_no_filter("Enabled", "enabled", "Enabled", "Disabled")
    currency = _code_filter("Accounting currency", "accounting_currency", CURRENCY_CHOICES, "currency")
    country = _code_filter("Customer country", "customer_country", COUNTRY_CHOICES, "country")
    provider_country = _code_filter("Provider country", "provider_country", COUNTRY_CHOICES, "country")
    gap = _yes_no_filter("Compliance gap", "compliance_gap", "Country missing", "Countries complete")
    missing = _yes_no_filter(
        "Missing from Tatum", "missing_since", "Missing", "In Tatum", method="missing_from_tatum"
    )
    sort = django_filters.ChoiceFilter(
        method="sort_by",
        label="Sort by",
        choices=SORT_CHOICES,
        empty_label=None,
        error_messages={"invalid_choice": "The list cannot be sorted that way; it is sorted by external id."},
    )

    class Meta:
        model = CustomerRecord
        fields: list[str] = []
        form = CustomerIndexForm

    def filter_queryset(self, queryset: QuerySet[CustomerRecord]) -> QuerySet[CustomerRecord]:
        # The form also holds the paging fields, which are not filters.
        for name, value in self.form.cleaned_data.items():
            if name in self.filters:
                queryset = self.filters[name].filter(queryset, value)
        if not self.form.cleaned_data.get("sort"):
            queryset = self.sort_by(queryset, "sort", DEFAULT_SORT)
        return queryset

    def search(self, queryset: QuerySet[CustomerRecord], name: str, value: str) -> QuerySet[CustomerRecord]:
        """Part of an external id, any case; or the start of an internal id.

        The matches are a subquery so that the database finds the few of them first and then sorts them,
        rather than walking the sort's index and testing every row on the way (SQLite, 100,000 customers,
        sorted by last seen: 30 ms instead of 200; bench/README.md, "Customer index search")."""
        matching = CustomerRecord.objects.filter(
            Q(external_id__icontains=value) | Q(tatum_id__startswith=value)
        )
        return queryset.filter(pk__in=matching.values("pk"))

    def missing_from_tatum(
        self, queryset: QuerySet[CustomerRecord], name: str, value: bool
    ) -> QuerySet[CustomerRecord]:
        return queryset.filter(missing_since__isnull=not value)

    def sort_by(self, queryset: QuerySet[CustomerRecord], name: str, value: str) -> QuerySet[CustomerRecord]:
        """The column, with the internal id as the tiebreak so that pages never share or skip a row."""
        descending = value.startswith("-")
        column = value.lstrip("-")
        if column in _NULLABLE_SORT_COLUMNS:
            first = F(column).desc(nulls_first=True) if descending else F(column).asc(nulls_last=True)
        else:
            first = F(column).desc() if descending else F(column).asc()
        tiebreak = F("tatum_id").desc() if descending else F("tatum_id").asc()
        return queryset.order_by(first, tiebreak)

    @property
    def sort_value(self) -> str:
        """The sort in effect (a `sort` value), once the form is validated."""
        return self.form.cleaned_data.get("sort") or DEFAULT_SORT


@dataclass(frozen=True)
class SortHeader:
    """A sortable column's header: how it is sorted now, and the sort its link asks for."""

    column: str
    label: str
    aria_sort: str  # "ascending", "descending" or "none"
    link_sort: str


def sort_headers(current: str, columns: dict[str, str]) -> list[SortHeader]:
    """The headers of `columns` given the sort in effect: a click sorts by the column going up, or, when
    it is already sorted going up, going down."""
    headers = []
    for column, label in columns.items():
        if current == column:
            aria_sort, link_sort = "ascending", f"-{column}"
        elif current == f"-{column}":
            aria_sort, link_sort = "descending", column
        else:
            aria_sort, link_sort = "none", column
        headers.append(SortHeader(column=column, label=label, aria_sort=aria_sort, link_sort=link_sort))
    return headers
