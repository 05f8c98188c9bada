"""Reads of compliance review: the queue with its filters and counts, one case, its notes and its
history in the audit trail, and the case a customer's page shows."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlencode

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission
from django.db.models import Count, Q, QuerySet
from django.utils import timezone

from customers.audit.models import AuditEntry
from customers.compliance.models import CaseNote, ComplianceCase
from customers.csv_safety import safe_row
from customers.permissions import WORK_COMPLIANCE_CASES
from customers.templatetags.customer_tags import utc_text

Status = ComplianceCase.Status
Action = AuditEntry.Action

# The queue's own filter values beside the statuses ("" is every case not cleared).
ANY_STATUS = "all"
ASSIGNEE_ME = "me"
ASSIGNEE_NONE = "none"
CASE_ACTIONS = (
    Action.CASE_OPEN,
    Action.CASE_CLAIM,
    Action.CASE_UNASSIGN,
    Action.CASE_NOTE,
    Action.CASE_STATUS,
)
ORDER_OLDEST_FIRST = ("opened_at", "id")
CSV_CHUNK_SIZE = 1000


@dataclass(frozen=True)
class CaseFilters:
    """The queue's filters, as the query string holds them: `status` (a status, "not_cleared" or
    "all"), `assignee` ("me", "none" or a username), `country` (a code, either country of the
    customer) and `age` (opened more than that many days ago)."""

    status: str = ""
    assignee: str = ""
    country: str = ""
    age: int | None = None

    NAMES = ("status", "assignee", "country", "age")

    def items(self) -> list[tuple[str, str]]:
        return [
            (name, str(getattr(self, name))) for name in self.NAMES if getattr(self, name) not in ("", None)
        ]

    def query_string(self, **extra: Any) -> str:
        return urlencode(self.items() + [(key, str(value)) for key, value in extra.items() if value])


def case_list(filters: CaseFilters, *, user: Any, now: datetime | None = None) -> QuerySet[ComplianceCase]:
    """The cases matching `filters`, oldest first (`user` is who "me" is)."""
    cases = _without_status(filters, user=user, now=now)
    if filters.status == ANY_STATUS:
        pass
    elif filters.status in Status.values:
        cases = cases.filter(status=filters.status)
    else:
        cases = cases.filter(status__in=ComplianceCase.NOT_CLEARED)
    return cases.select_related("record", "assignee").order_by(*ORDER_OLDEST_FIRST)


def _without_status(filters: CaseFilters, *, user: Any, now: datetime | None) -> QuerySet[ComplianceCase]:
    cases = ComplianceCase.objects.all()
    if filters.assignee == ASSIGNEE_ME:
        cases = cases.filter(assignee=user)
    elif filters.assignee == ASSIGNEE_NONE:
        cases = cases.filter(assignee__isnull=True)
    elif filters.assignee:
        cases = cases.filter(assignee__username=filters.assignee)
    if filters.country:
        cases = cases.filter(
            Q(record__customer_country=filters.country) | Q(record__provider_country=filters.country)
        )
    if filters.age is not None:
        cases = cases.filter(opened_at__lt=(now or timezone.now()) - timedelta(days=filters.age))
    return cases


def case_counts(filters: CaseFilters, *, user: Any, now: datetime | None = None) -> dict[str, int]:
    """How many cases of each status match the other filters (one query)."""
    cases = _without_status(filters, user=user, now=now)
    counted = cases.aggregate(**{status: Count("id", filter=Q(status=status)) for status in Status.values})
    return {status: counted[status] or 0 for status in Status.values}


def case_get(*, case_id: int) -> ComplianceCase | None:
    return ComplianceCase.objects.select_related("record", "assignee").filter(pk=case_id).first()


def customer_case_get(customer_id: str) -> ComplianceCase | None:
    """The customer's case that is not cleared, else its latest; None when it never had one."""
    cases = ComplianceCase.objects.select_related("record", "assignee").filter(record__tatum_id=customer_id)
    # One query for its cases (a customer has a few at most), rather than one for the current case and
    # another for the latest when there is none.
    newest_first = list(cases.order_by("-opened_at", "-id"))
    current = (case for case in newest_first if case.status in ComplianceCase.NOT_CLEARED)
    return next(current, newest_first[0] if newest_first else None)


def case_notes(case: ComplianceCase, *, newest: int | None = None) -> list[CaseNote]:
    """The case's notes, oldest first; only the `newest` few when given."""
    notes = case.notes.all()
    if newest is None:
        return list(notes)
    return list(reversed(notes.order_by("-created_at", "-id")[:newest]))


def case_history(case: ComplianceCase) -> QuerySet[AuditEntry]:
    """The audit entries of the actions on this case, newest first."""
    return AuditEntry.objects.filter(action__in=CASE_ACTIONS, changes__case=case.pk).order_by(
        "-started_at", "-id"
    )


def case_workers() -> QuerySet:
    """The users who may work cases (by group, by their own permission, or as superusers)."""
    app_label, codename = WORK_COMPLIANCE_CASES.split(".")
    permission = Permission.objects.filter(content_type__app_label=app_label, codename=codename)
    users = get_user_model().objects.filter(is_active=True)
    may_work = (
        Q(is_superuser=True) | Q(groups__permissions__in=permission) | Q(user_permissions__in=permission)
    )
    return users.filter(may_work).distinct().order_by("username")


# --- CSV -----------------------------------------------------------------------------------------

CSV_COLUMNS: list[tuple[str, Any]] = [
    ("Case", lambda c: c.pk),
    ("Status", lambda c: c.get_status_display()),
    ("Customer external id", lambda c: c.record.external_id),
    ("Customer internal id", lambda c: c.record.tatum_id),
    ("Customer country", lambda c: c.record.customer_country),
    ("Provider country", lambda c: c.record.provider_country),
    ("Compliance gap", lambda c: c.record.compliance_gap),
    ("Opened (UTC)", lambda c: utc_text(c.opened_at)),
    ("Opened by", lambda c: c.opened_by_username or "(the dashboard)"),
    ("Reason", lambda c: c.reason),
    ("Assignee", lambda c: c.assignee.get_username() if c.assignee else ""),
    ("Updated (UTC)", lambda c: utc_text(c.updated_at)),
    ("Cleared (UTC)", lambda c: utc_text(c.closed_at)),
]


def case_csv_rows(cases: QuerySet[ComplianceCase]) -> Iterator[list[str]]:
    """The header, then one row per case, every cell made safe for spreadsheets."""
    yield safe_row([name for name, _ in CSV_COLUMNS])
    for case in cases.iterator(chunk_size=CSV_CHUNK_SIZE):
        yield safe_row([value(case) for _, value in CSV_COLUMNS])
