"""The record of every call to Tatum, with its credit cost (the `on_call` hook of the Tatum client)."""

from __future__ import annotations

import datetime
from typing import TYPE_CHECKING, Any

from django.db import transaction
from django.db.models import Sum
from django.db.models.functions import Coalesce
from django.utils import timezone

from customers.circuit import circuit_record
from customers.models import ApiCall
from dashboard.context import current_actor, current_request_id

if TYPE_CHECKING:
    from customers.tatum import CallRecord


def record_api_call(record: CallRecord) -> None:
    """Store one Tatum call, attributed to the acting user (None outside a request), and feed the
    circuit breaker."""
    circuit_record(record)
    # A savepoint: if the insert fails inside a caller's transaction, that transaction stays usable.
    with transaction.atomic():
        ApiCall.objects.create(
            at=timezone.now(),
            user=current_actor(),
            method=record.method,
            route=record.route,
            status=record.status,
            error_code=record.error_code[:100],
            duration_ms=record.duration_ms,
            credits=record.credits,
            request_id=current_request_id()[:64],
        )


def credits_spent_today(user: Any) -> int:
    """Credits the user's Tatum calls have cost since local midnight."""
    if user is None or not getattr(user, "is_authenticated", False):
        return 0
    midnight = timezone.make_aware(datetime.datetime.combine(timezone.localdate(), datetime.time.min))
    totals = ApiCall.objects.filter(user=user, at__gte=midnight).aggregate(total=Coalesce(Sum("credits"), 0))
    return int(totals["total"])
