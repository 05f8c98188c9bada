"""Writing Tatum's answers into the index: the rows a page, a read or a write just showed, and the rows a
complete sync did not find. Only what Tatum answered is written; nothing is ever deleted.

Exposed to the rest of the app through `customers.index.services` (the sync engine, below the services,
uses it directly).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any

from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from customers.compliance.services import cases_open_for_gaps
from customers.index.models import CustomerRecord
from customers.tatum import Customer

SeenBy = CustomerRecord.SeenBy

# What Tatum says of a customer, as the row holds it.
_DATA_FIELDS = [
    "external_id",
    "accounting_currency",
    "customer_country",
    "provider_country",
    "active",
    "enabled",
    "compliance_gap",
]
# Everything a sighting refreshes. `first_seen_at` is left out: an update keeps the first sighting.
_REFRESHED_FIELDS = [*_DATA_FIELDS, "last_seen_at", "last_seen_by", "missing_since"]
# A read of a row that a read saw unchanged less than this long ago writes nothing: the list and the
# detail page are read again and again, and each sighting written would take the database's write lock.
READ_AGAIN_WITHIN = timedelta(minutes=1)


def records_seen(
    customers: Iterable[Customer], *, seen_by: str, at: datetime | None = None
) -> list[CustomerRecord]:
    """Write the customers Tatum just returned: a new row for a new customer, the row refreshed for a
    known one (its `first_seen_at` kept, `missing_since` cleared). Then open a compliance case for each
    one with a compliance gap that has no case under way.

    In one transaction: the rows are read first, so that those Tatum shows as they were only get their
    sighting written, and the rest are upserted in one statement. A nightly sync finds nearly every row
    unchanged, and rewriting all of an unchanged row's indexed columns costs several times more: on a
    100,000-row index in SQLite, 133 KB of WAL and 9.7 ms a page of 50, against 47 KB and 1.8 ms.

    A read (`seen_by` read) of rows that a read saw as they are within `READ_AGAIN_WITHIN` writes
    nothing, takes no lock and opens no case (that earlier read opened them): their `last_seen_at`
    stays that read's, and no rows are returned. A case cleared meanwhile while the gap is still there
    is opened again by the next sighting that is written.

    Returns the rows written, in the order given (a customer given twice counts once, as last given).
    """
    at = at or timezone.now()
    latest = {customer.id: customer for customer in customers}
    if not latest or (seen_by == SeenBy.READ and _read_lately(latest, at)):
        return []
    records = _write(latest, seen_by, at)
    gaps = [record for record in records if record.compliance_gap]
    if gaps:
        cases_open_for_gaps(_with_pks(gaps))
    return records


def _read_lately(latest: dict[str, Customer], at: datetime) -> bool:
    """Whether a read saw every one of these rows as they are within `READ_AGAIN_WITHIN`. Compares
    the columns alone: a list page's read must not cost 50 model instances."""
    rows = CustomerRecord.objects.filter(
        tatum_id__in=list(latest),
        last_seen_by=SeenBy.READ,
        last_seen_at__gt=at - READ_AGAIN_WITHIN,
        missing_since__isnull=True,
    ).values("tatum_id", *_DATA_FIELDS)
    lately = {row.pop("tatum_id"): row for row in rows}
    return all(lately.get(key) == _data(customer) for key, customer in latest.items())


def _write(latest: dict[str, Customer], seen_by: str, at: datetime) -> list[CustomerRecord]:
    with transaction.atomic():
        known = CustomerRecord.objects.in_bulk(list(latest), field_name="tatum_id")
        same = {key: known[key] for key, customer in latest.items() if _unchanged(known.get(key), customer)}
        if same:
            CustomerRecord.objects.filter(pk__in=[record.pk for record in same.values()]).update(
                last_seen_at=at, last_seen_by=seen_by
            )
        written = _upsert([customer for key, customer in latest.items() if key not in same], seen_by, at)
    for record in same.values():
        record.last_seen_at, record.last_seen_by = at, seen_by
    by_id = {**same, **{record.tatum_id: record for record in written}}
    return [by_id[key] for key in latest]


def _upsert(customers: list[Customer], seen_by: str, at: datetime) -> list[CustomerRecord]:
    if not customers:
        return []
    return CustomerRecord.objects.bulk_create(
        [_record(customer, seen_by=seen_by, at=at) for customer in customers],
        update_conflicts=True,
        unique_fields=["tatum_id"],
        update_fields=_REFRESHED_FIELDS,
    )


def _unchanged(record: CustomerRecord | None, customer: Customer) -> bool:
    """Whether the row already says what Tatum says (and is not marked missing)."""
    if record is None or record.missing_since is not None:
        return False
    return all(getattr(record, name) == value for name, value in _data(customer).items())


def records_mark_missing(*, not_seen_since: datetime, at: datetime | None = None) -> int:
    """After a complete sync that started at `not_seen_since`: mark every row it did not see (and not
    seen otherwise since) as missing from Tatum. Rows already missing keep their date. Returns how many."""
    unseen = Q(last_seen_at__lt=not_seen_since, missing_since__isnull=True)
    return CustomerRecord.objects.filter(unseen).update(missing_since=at or timezone.now())


def _data(customer: Customer) -> dict[str, Any]:
    """What Tatum says of the customer, as the row holds it (`_DATA_FIELDS`)."""
    return {
        "external_id": customer.external_id,
        "accounting_currency": customer.accounting_currency or "",
        "customer_country": customer.customer_country or "",
        "provider_country": customer.provider_country or "",
        "active": customer.active,
        "enabled": customer.enabled,
        "compliance_gap": customer.compliance_gap,
    }


def _record(customer: Customer, *, seen_by: str, at: datetime) -> CustomerRecord:
    return CustomerRecord(
        tatum_id=customer.id,
        **_data(customer),
        first_seen_at=at,
        last_seen_at=at,
        last_seen_by=seen_by,
        missing_since=None,
    )


def _with_pks(records: list[CustomerRecord]) -> list[CustomerRecord]:
    """The rows with their primary keys: databases that return the rows of an upsert set them already;
    for the others, one query by the unique id."""
    if all(record.pk is not None for record in records):
        return records
    by_id = CustomerRecord.objects.in_bulk([record.tatum_id for record in records], field_name="tatum_id")
    return [by_id[record.tatum_id] for record in records]
