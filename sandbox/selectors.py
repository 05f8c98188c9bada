"""Reads of the sandbox ledger."""

from __future__ import annotations

from django.conf import settings
from django.db.models import QuerySet

from sandbox.models import Account, Customer

# SQL offsets are 64-bit; anything beyond is past the end of any ledger.
_MAX_SKIP = 2**62


def records_to_skip(*, page_size: int, offset: int) -> int:
    """What `offset` means is a setting shared with the dashboard's client (TATUM_OFFSET_MODE)."""
    if getattr(settings, "TATUM_OFFSET_MODE", "records") == "pages":
        return offset * page_size
    return offset


def _page(queryset: QuerySet, *, page_size: int, offset: int) -> list:
    skip = records_to_skip(page_size=page_size, offset=offset)
    if skip >= _MAX_SKIP:
        return []
    # Primary-key order is creation order: a static ledger pages without gaps or repeats.
    return list(queryset.order_by("pk")[skip : skip + page_size])


def customer_list(*, page_size: int, offset: int) -> list[Customer]:
    return _page(Customer.objects.all(), page_size=page_size, offset=offset)


def customer_lookup(identifier: str) -> Customer | None:
    """By internal id first, then by external id (the get endpoint accepts either)."""
    customer = Customer.objects.filter(ledger_id=identifier).first()
    return customer or Customer.objects.filter(external_id=identifier).first()


def customer_active_accounts(*, customer_ledger_id: str, page_size: int, offset: int) -> list[Account]:
    accounts = Account.objects.filter(customer__ledger_id=customer_ledger_id, active=True)
    return _page(accounts, page_size=page_size, offset=offset)
