"""The record of every call to Tatum, with its credit cost (the `on_call` hook of the Tatum client).

Inside a web request the rows are written once the response has gone out (`request_finished`), so
storing them never delays a page; everywhere else (tasks, commands) each row is written at once.
"""

from __future__ import annotations

import datetime
import logging
from collections import Counter
from contextvars import ContextVar
from typing import TYPE_CHECKING, Any

from django.db import DatabaseError, IntegrityError, transaction
from django.db.models import F
from django.utils import timezone

from customers.circuit import circuit_record
from customers.models import ApiCall, CreditTally
from dashboard.context import current_actor, request_id_to_store

if TYPE_CHECKING:
    from customers.tatum import CallRecord

logger = logging.getLogger(__name__)

# The calls of the request being served, waiting for its response to be sent; None outside requests.
_pending_calls: ContextVar[list[ApiCall] | None] = ContextVar("pending_api_calls", default=None)


def record_api_call(record: CallRecord) -> None:
    """Record one Tatum call, attributed to the acting user (None outside a request), and feed the
    circuit breaker."""
    circuit_record(record)
    call = ApiCall(
        at=timezone.now(),
        user=current_actor(),
        method=record.method,
        route=record.route,
        status=record.status,
        error_code=record.error_code[:100],
        duration_ms=record.duration_ms,
        credits=record.credits,
        request_id=request_id_to_store(),
    )
    pending = _pending_calls.get()
    if pending is None:
        api_calls_store([call])
    else:
        pending.append(call)


def api_calls_defer() -> None:
    """From now until `api_calls_flush`, keep this context's call records in memory (one request)."""
    api_calls_flush()
    _pending_calls.set([])


def api_calls_flush(**_: Any) -> None:
    """Write the records kept since `api_calls_defer` (connected to `request_finished`)."""
    pending = _pending_calls.get()
    _pending_calls.set(None)
    if not pending:
        return
    try:
        api_calls_store(pending)
    except DatabaseError:
        # The response has gone out: nobody to tell but the log, which keeps what the table could not.
        logger.exception("Could not store the records of %d Tatum calls", len(pending))
        for call in pending:
            logger.error(
                "Unrecorded Tatum call %s %s -> %s, %s credits, request %s",
                call.method,
                call.route,
                call.status,
                call.credits,
                call.request_id,
            )


def api_calls_store(calls: list[ApiCall]) -> None:
    """Store call records and add their credits to each user's tally for the day, all or nothing."""
    # A savepoint: if the insert fails inside a caller's transaction, that transaction stays usable.
    with transaction.atomic():
        ApiCall.objects.bulk_create(calls)
        spent: Counter[tuple[int, datetime.date]] = Counter()
        for call in calls:
            if call.user_id is not None:
                spent[call.user_id, timezone.localdate(call.at)] += call.credits
        for (user_id, day), credits in spent.items():
            _tally_add(user_id, day, credits)


def _tally_add(user_id: int, day: datetime.date, credits: int) -> None:
    tally = CreditTally.objects.filter(user_id=user_id, day=day)
    if tally.update(credits=F("credits") + credits):
        return
    try:
        with transaction.atomic():
            CreditTally.objects.create(user_id=user_id, day=day, credits=credits)
    except IntegrityError:
        # Another request stored the day's first call in the meantime: its row is there to add to.
        tally.update(credits=F("credits") + credits)


def credits_spent_today(user: Any) -> int:
    """Credits the user's Tatum calls have cost since local midnight, including this request's."""
    if user is None or not getattr(user, "is_authenticated", False):
        return 0
    stored = CreditTally.objects.filter(user=user, day=timezone.localdate()).values_list("credits", flat=True)
    pending = _pending_calls.get() or []
    return (stored.first() or 0) + sum(call.credits for call in pending if call.user_id == user.pk)
