"""The record of every call to Tatum, with its credit cost (the `on_call` hook of the Tatum client).

Inside a web request the rows are written once the response has gone out (`request_finished`), so
storing them never delays a page. With `CALL_RECORD_BATCH_MS` above 0, a web process gathers them for
that long and writes them in one transaction from a thread of its own (`CallRecordWriter`): one write
for many pages instead of one a page. Everywhere else (tasks, commands) each row is written at once.
"""

from __future__ import annotations

import atexit
import datetime
import logging
import os
import threading
from collections import Counter
from contextvars import ContextVar
from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.db import DatabaseError, close_old_connections, connections, transaction
from django.utils import timezone

from customers.circuit import circuit_record
from customers.models import ApiCall, CreditTally
from dashboard.context import current_actor, request_id_to_store
from dashboard.db import counter_add, counter_value

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
    """Write the records kept since `api_calls_defer` (connected to `request_finished`): at once, or
    through the process's `CallRecordWriter` when `CALL_RECORD_BATCH_MS` is above 0."""
    pending = _pending_calls.get()
    _pending_calls.set(None)
    if not pending:
        return
    if settings.CALL_RECORD_BATCH_MS > 0:
        call_record_writer().submit(pending)
    else:
        _store_or_log(pending)


def _store_or_log(calls: list[ApiCall]) -> None:
    try:
        api_calls_store(calls)
    except DatabaseError:
        # The response has gone out: nobody to tell but the log, which keeps what the table could not.
        logger.exception("Could not store the records of %d Tatum calls", len(calls))
        _log_unrecorded(calls)


def _log_unrecorded(calls: list[ApiCall]) -> None:
    for call in calls:
        logger.error(
            "Unrecorded Tatum call %s %s -> %s, %s credits, request %s",
            call.method,
            call.route,
            call.status,
            call.credits,
            call.request_id,
        )


class CallRecordWriter:
    """Writes a web process's call records in batches, from a thread of its own.

    Records submitted within `delay` seconds of the first one waiting are written together, in one
    transaction: under load that is one write for many pages, and the request threads never wait for
    the database's write lock. A failed write is logged call by call, like a failed direct write.
    `close()` (at process exit) writes whatever is still waiting.
    """

    def __init__(self, delay: float) -> None:
        self._delay = delay
        self._changed = threading.Condition()
        self._waiting: list[ApiCall] = []
        self._writing = 0  # records taken for the batch being written
        self._closed = False
        self._thread: threading.Thread | None = None

    def submit(self, calls: list[ApiCall]) -> None:
        with self._changed:
            if self._closed:
                # The process is exiting: nothing may wait any more.
                _store_or_log([*self._waiting, *calls])
                self._waiting = []
                return
            first = not self._waiting
            self._waiting.extend(calls)
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="call-record-writer", daemon=True)
                self._thread.start()
            if first:
                # Wake the writer only to start gathering: waking it for every page costs the pages.
                self._changed.notify_all()

    def flush(self, timeout: float | None = None) -> bool:
        """Wait until every record submitted so far is written (or logged as unrecorded); False if
        `timeout` seconds passed first."""
        with self._changed:
            return self._changed.wait_for(lambda: not self._waiting and not self._writing, timeout)

    def close(self, timeout: float = 10.0) -> None:
        """Write what is waiting now, without the delay, and stop the thread (closing its database
        connection); records submitted later are written at once, by the thread that submits them."""
        with self._changed:
            self._closed = True
            self._changed.notify_all()
            thread = self._thread
        if thread is not None:
            thread.join(timeout)
            if thread.is_alive():
                logger.error("Tatum call records were still being written after %s s", timeout)

    def _run(self) -> None:
        try:
            while batch := self._next_batch():
                try:
                    # This thread serves no requests, so it retires an old or broken connection as
                    # requests do.
                    close_old_connections()
                    _store_or_log(batch)
                except Exception:
                    # Whatever went wrong, the thread lives on for the next batch; the log keeps this one.
                    logger.exception("Could not store the records of %d Tatum calls", len(batch))
                    _log_unrecorded(batch)
                finally:
                    with self._changed:
                        self._writing = 0
                        self._changed.notify_all()
        finally:
            connections.close_all()

    def _next_batch(self) -> list[ApiCall]:
        """The records gathered for `delay` seconds after the first one came; empty once closed and
        nothing is left."""
        with self._changed:
            self._changed.wait_for(lambda: self._waiting or self._closed)
            self._changed.wait_for(lambda: self._closed, self._delay)
            batch, self._waiting = self._waiting, []
            self._writing = len(batch)
            return batch


_writer: CallRecordWriter | None = None
_writer_lock = threading.Lock()


def call_record_writer() -> CallRecordWriter:
    """This process's writer, started on first use (so each forked web process has its own)."""
    global _writer
    with _writer_lock:
        if _writer is None:
            _writer = CallRecordWriter(settings.CALL_RECORD_BATCH_MS / 1000)
            atexit.register(_writer.close)
        return _writer


def _forget_writer_after_fork() -> None:
    # A forked child gets the parent's writer without its thread: it starts its own when needed.
    global _writer, _writer_lock
    _writer, _writer_lock = None, threading.Lock()


os.register_at_fork(after_in_child=_forget_writer_after_fork)


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
            counter_add(CreditTally, keys={"user": user_id, "day": day}, field="credits", amount=credits)


def credits_spent_today(user: Any) -> int:
    """Credits the user's Tatum calls have cost since local midnight, including this request's."""
    return credits_stored_today(user) + credits_pending(user)


def credits_stored_today(user: Any) -> int:
    """Credits of the user's calls stored since local midnight (one read of the day's tally)."""
    if user is None or not getattr(user, "is_authenticated", False):
        return 0
    return counter_value(CreditTally, keys={"user": user.pk, "day": timezone.localdate()}, field="credits")


def credits_pending(user: Any) -> int:
    """Credits of this request's calls by the user, not stored yet."""
    if user is None or not getattr(user, "is_authenticated", False):
        return 0
    return sum(call.credits for call in _pending_calls.get() or [] if call.user_id == user.pk)
