"""The record of every call to Tatum, with its credit cost (the Tatum client's `on_call` callback).

Inside a web request the records are collected and stored once the view is done, in one
`bulk_create` (`ApiCallRecordingMiddleware`). Everywhere else (tasks, commands) each record is stored
at once. Each store also adds the credits to the user's tally for the day, which the page header reads.
"""

from __future__ import annotations

import datetime
import logging
from collections import Counter
from contextvars import ContextVar, Token
from typing import Any

from django.db import DatabaseError, connections, router, transaction
from django.utils import timezone

from customers.context import current_actor, request_id_to_store
from customers.credits.circuit import circuit_record
from customers.credits.models import ApiCall, CreditTally
from customers.tatum import CallRecord

logger = logging.getLogger(__name__)

# The calls of the request being served, stored when its view is done; None outside requests.
_collected_calls: ContextVar[list[ApiCall] | None] = ContextVar("collected_api_calls", default=None)


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
    collected = _collected_calls.get()
    if collected is None:
        api_calls_store([call])
    else:
        collected.append(call)


def api_calls_collect() -> Token:
    """From now until `api_calls_store_collected`, keep this context's call records (one request)."""
    return _collected_calls.set([])


def api_calls_collected_writes() -> int:
    """How many of the calls collected so far for this request were writes (PUT or POST)."""
    return sum(1 for call in _collected_calls.get() or [] if call.method != "GET")


def api_calls_store_collected(token: Token) -> None:
    """Store the records kept since `api_calls_collect`; a database failure is logged, call by call."""
    collected = _collected_calls.get() or []
    _collected_calls.reset(token)
    if not collected:
        return
    try:
        api_calls_store(collected)
    except DatabaseError:
        logger.exception("Could not store the records of %d Tatum calls", len(collected))
        for call in collected:
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
            _tally_add(user_id=user_id, day=day, credits=credits)


def _tally_add(*, user_id: int, day: datetime.date, credits: int) -> None:
    """Add to the user's tally for the day, creating it, in one statement.

    Plain SQL (`INSERT ... ON CONFLICT ... DO UPDATE`, the same on SQLite and PostgreSQL): two requests
    that add the day's first credits at once cannot collide, as `get_or_create` then `F()` can, since
    the database serialises them on the tally's unique constraint.
    """
    meta = CreditTally._meta
    connection = connections[router.db_for_write(CreditTally)]
    quote = connection.ops.quote_name
    table, user, day_column, counter = (
        quote(meta.db_table),
        quote(meta.get_field("user").column),
        quote(meta.get_field("day").column),
        quote(meta.get_field("credits").column),
    )
    day_value = meta.get_field("day").get_db_prep_value(day, connection)
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {table} ({user}, {day_column}, {counter}) VALUES (%s, %s, %s) "
            f"ON CONFLICT ({user}, {day_column}) "
            f"DO UPDATE SET {counter} = {table}.{counter} + EXCLUDED.{counter}",
            [user_id, day_value, credits],
        )


def credits_spent_today(user: Any) -> int:
    """Credits the user's Tatum calls have cost since local midnight, this request's included."""
    if user is None or not getattr(user, "is_authenticated", False):
        return 0
    stored = (
        CreditTally.objects.filter(user=user.pk, day=timezone.localdate())
        .values_list("credits", flat=True)
        .first()
    )
    return (stored or 0) + credits_not_stored_yet(user)


def credits_not_stored_yet(user: Any = None) -> int:
    """Credits of this request's Tatum calls (the user's only, when given), which are stored when its
    view is done (`api_calls_collect`)."""
    collected = _collected_calls.get() or []
    return sum(call.credits for call in collected if user is None or call.user_id == user.pk)
