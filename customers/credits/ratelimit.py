"""One rate limit for the whole deployment: every web process and task worker, on every machine, takes
its Tatum call slots from one row in the database, so `TATUM_MAX_RPS` bounds their calls together.

Virtual scheduling (GCRA with a burst of 2): `next_slot` is the earliest moment the next call may go.
Each call reserves `slot = max(now, next_slot)` and moves `next_slot` to
`max(now, next_slot + interval)` in one statement, then sleeps until its slot, with slots
`interval = 1/(max_rps - 1)` apart. So two calls may go at once (a detail page reads the customer and its
accounts together: with calls evenly spaced, its second read waited a whole `1/max_rps`, 200 ms on the
free plan), calls then follow one interval apart, and any one second still holds at most `max_rps` of
them however many processes make them. Below 2 calls a second there is no burst: slots are `1/max_rps`
apart. Times come from the database's clock, so machines whose clocks differ still agree; a process only
sleeps the difference between two readings of that clock. After a 429 the client calls `hold_off`, which
moves `next_slot` to at least now + the wait Tatum asked for: every process slows down, not only the one
that was refused.

**Its own connection.** Reservations go over a database connection of the limiter's own (one per
process, in autocommit, used by one thread at a time), never over the calling thread's Django connection:
- a reservation commits at once even when the caller is inside `transaction.atomic()`; on the caller's
  connection it would hold the row (and so every other process's calls) until that transaction ended,
  and a rollback would hand the slot out twice;
- an export's reading threads, which only speak HTTP, open no database connection of their own.
That is one more database connection per process (count it in PostgreSQL's `max_connections`).

**When the database cannot be reached** (or fails), the limiter does not hang and does not stop the
dashboard from reaching Tatum: it logs a warning and, for the next `OFFLINE_SECONDS`, each process keeps
`TATUM_MAX_RPS` by itself (the deployment may then send up to processes x `TATUM_MAX_RPS`, and Tatum's
429s are still honoured), then tries the database again. The health check, which probes Tatum without
the database, keeps working. A call waits at most the database's own timeouts for the first failure
(SQLite's lock `timeout`; on PostgreSQL put `connect_timeout` in `DATABASE_URL`).

An in-memory SQLite database (the test suite's) belongs to one process and takes no second writer while a
test's transaction is open, so there the slots are kept in the process's memory, with the same arithmetic.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any, Protocol, TypeVar

from django.core.exceptions import ImproperlyConfigured
from django.db import DatabaseError, connections, router
from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.utils import load_backend

from customers.credits.models import SharedRateLimit

logger = logging.getLogger(__name__)

# The deployment calls Tatum with one key, on one plan: one limit.
TATUM_LIMIT = "tatum"
# How long a process keeps the limit by itself after the database failed it, before trying again.
OFFLINE_SECONDS = 5.0
# How many calls may go at once: the two reads of a detail page.
BURST = 2

# The database's clock, in seconds since the epoch; each is constant within one statement.
_NOW = {
    "sqlite": "((julianday('now') - 2440587.5) * 86400.0)",
    "postgresql": "extract(epoch from statement_timestamp())::double precision",
}
_GREATEST = {"sqlite": "max", "postgresql": "greatest"}

T = TypeVar("T")


class _Slots(Protocol):
    def reserve(self, interval: float, early: float) -> tuple[float, float]: ...

    def hold_off(self, seconds: float) -> None: ...

    def close(self) -> None: ...


class SharedRateLimiter:
    """The client's rate limiter (`customers.tatum.RateLimiter`), kept in the database.

    `database` is a `DATABASES` entry, by default the one `SharedRateLimit` is written to.
    """

    def __init__(
        self,
        name: str = TATUM_LIMIT,
        *,
        database: dict[str, Any] | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._name = name
        self._database = database
        self._sleep = sleep
        self._lock = threading.Lock()
        self._shared: _Slots | None = None
        self._local = _ProcessSlots()
        self._offline_until = 0.0

    def wait(self, max_rps: float) -> float:
        """Reserve the next slot and sleep until it; returns the seconds waited."""
        burst = BURST if max_rps >= BURST else 1
        # `burst` calls at once, then one an interval: at most `max_rps` in any one second.
        interval = 1.0 / (max_rps - burst + 1)
        # How much sooner than evenly spaced slots a call may go.
        early = (burst - 1) * interval
        slot, now = self._on_slots(lambda slots: slots.reserve(interval, early))
        delay = max(slot - now, 0.0)
        if delay > 0:
            self._sleep(delay)
        return delay

    def hold_off(self, seconds: float) -> None:
        """No slot before `seconds` from now, for every process."""
        if seconds > 0:
            self._on_slots(lambda slots: slots.hold_off(seconds))

    def close(self) -> None:
        """Close the limiter's connection (the next call opens a new one)."""
        with self._lock:
            if self._shared is not None:
                self._shared.close()

    def _on_slots(self, operation: Callable[[_Slots], T]) -> T:
        shared = self._shared_slots()
        if shared is not None:
            try:
                return operation(shared)
            except DatabaseError:
                self._offline_until = time.monotonic() + OFFLINE_SECONDS
                logger.warning(
                    "The shared Tatum rate limit is unreachable; this process keeps TATUM_MAX_RPS by itself "
                    "for %.0f s",
                    OFFLINE_SECONDS,
                    exc_info=True,
                )
        return operation(self._local)

    def _shared_slots(self) -> _Slots | None:
        """The database's slots; None while the database is considered unreachable."""
        if time.monotonic() < self._offline_until:
            return None
        with self._lock:
            if self._shared is None:
                self._shared = self._open()
            return self._shared

    def _open(self) -> _Slots:
        settings_dict = self._database
        if settings_dict is None:
            settings_dict = connections[router.db_for_write(SharedRateLimit)].settings_dict
        wrapper = _new_connection(settings_dict)
        if wrapper.vendor == "sqlite" and wrapper.is_in_memory_db():
            return self._local
        if wrapper.vendor not in _NOW:
            raise ImproperlyConfigured(
                f"The shared rate limit needs SQLite or PostgreSQL, not {wrapper.vendor}"
            )
        return _DatabaseSlots(self._name, wrapper)


def _new_connection(settings_dict: dict[str, Any]) -> BaseDatabaseWrapper:
    """A connection of the limiter's own, not registered with Django (so no request closes it)."""
    wrapper = load_backend(settings_dict["ENGINE"]).DatabaseWrapper(dict(settings_dict), "rate-limit")
    # Any thread of the process may take a slot; `_DatabaseSlots` lets one in at a time.
    wrapper.inc_thread_sharing()
    return wrapper


class _DatabaseSlots:
    """The limit's row, read and moved in one statement per call."""

    def __init__(self, name: str, connection: BaseDatabaseWrapper) -> None:
        self._name = name
        self._connection = connection
        self._lock = threading.Lock()
        self._used = False
        # Raw SQL: each call must move the slot and learn which one it got in one atomic step, and the
        # ORM's update() returns no values. INSERT ... ON CONFLICT ... RETURNING (PostgreSQL, SQLite
        # 3.35+) also creates the row on the first call.
        quote = connection.ops.quote_name
        table = quote(SharedRateLimit._meta.db_table)
        name_column = quote(SharedRateLimit._meta.get_field("name").column)
        slot = quote(SharedRateLimit._meta.get_field("next_slot").column)
        now, greatest = _NOW[connection.vendor], _GREATEST[connection.vendor]
        upsert = (
            f"INSERT INTO {table} ({name_column}, {slot}) VALUES (%s, {now} + %s) "
            f"ON CONFLICT ({name_column}) DO UPDATE SET {slot} = "
        )
        # The next slot moves on an interval, or to `interval - early` from now if it had passed by
        # more than `early`; this call's slot is the old one (the new one less an interval), or now.
        moved = f"{greatest}({now} + %s, {table}.{slot} + %s)"
        self._reserve_sql = f"{upsert}{moved} RETURNING {greatest}({slot} - %s, {now}), {now}"
        self._hold_off_sql = f"{upsert}{greatest}({now} + %s, {table}.{slot}) RETURNING {slot}, {now}"

    def reserve(self, interval: float, early: float) -> tuple[float, float]:
        """(this call's slot, the database's time now)."""
        after_now = interval - early
        params = [self._name, after_now, after_now, interval, interval]
        slot, now = self._execute(self._reserve_sql, params)
        return float(slot), float(now)

    def hold_off(self, seconds: float) -> None:
        self._execute(self._hold_off_sql, [self._name, seconds, seconds])

    def close(self) -> None:
        with self._lock:
            self._close()

    def _execute(self, sql: str, params: list[Any]) -> tuple[Any, ...]:
        with self._lock:
            try:
                return self._fetch_one(sql, params)
            except DatabaseError:
                # A kept connection may have died with a database restart: one more try, on a new one.
                stale = self._used and not self._connection.is_usable()
                self._close()
                if not stale:
                    raise
            try:
                return self._fetch_one(sql, params)
            except DatabaseError:
                self._close()
                raise

    def _fetch_one(self, sql: str, params: list[Any]) -> tuple[Any, ...]:
        with self._connection.cursor() as cursor:
            cursor.execute(sql, params)
            row = cursor.fetchone()
        self._used = True
        return row

    def _close(self) -> None:
        self._used = False
        try:
            self._connection.close()
        except DatabaseError:
            logger.warning("Could not close the shared rate limit's connection", exc_info=True)


class _ProcessSlots:
    """The same arithmetic in this process's memory: for a database no other process can reach, and
    while the database is unreachable."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._next_slot = 0.0

    def reserve(self, interval: float, early: float) -> tuple[float, float]:
        with self._lock:
            now = time.time()
            slot = max(now, self._next_slot)
            self._next_slot = max(now + interval - early, self._next_slot + interval)
        return slot, now

    def hold_off(self, seconds: float) -> None:
        with self._lock:
            self._next_slot = max(self._next_slot, time.time() + seconds)

    def close(self) -> None:
        return None
