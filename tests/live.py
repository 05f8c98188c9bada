"""Helpers for tests that use the live server (the sandbox over real HTTP, the browser)."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Iterator
from typing import Any

from django.db import connections

from customers.credits.client import process_session


@contextlib.contextmanager
def sharing_the_test_database(live_server: Any) -> Iterator[None]:
    """Serve the live server's requests on the test's own connection to an in-memory SQLite database.

    That is what the live server means to do, but pytest-django starts it (once per session) before
    the test database exists, so it finds no in-memory database to share. Its threads then open
    connections of their own to the shared in-memory cache, where two writers at once fail at once
    with "database table is locked" instead of waiting. Other databases need nothing of this.

    Shared, the connection runs one statement at a time (`_OneStatementAtATime`), whichever thread
    (a request, the test, a task worker) runs it.
    """
    conn = connections["default"]
    if conn.vendor != "sqlite" or not conn.is_in_memory_db():
        yield
        return
    overrides = live_server.thread.connections_override
    with contextlib.ExitStack() as stack:
        if "default" not in overrides:
            # Left enabled afterwards: a kept-alive request thread may still close the connection later.
            conn.inc_thread_sharing()
            overrides["default"] = conn
            stack.callback(overrides.pop, "default")
        if not any(isinstance(wrapper, _OneStatementAtATime) for wrapper in conn.execute_wrappers):
            stack.enter_context(conn.execute_wrapper(_OneStatementAtATime()))
        yield


class _OneStatementAtATime:
    """Lets one thread at a time run a statement on a connection that several threads share.

    SQLite counts the rows a statement changed per connection, not per statement: `cursor.rowcount`
    is read from the connection just after the statement ran. When another thread's statement on the
    same connection finishes in between, an UPDATE reports that statement's count instead of its own.
    Django decides on that count (`QuerySet.update()`, `Model.save()`), and so do the conditional
    updates that claim something once: a queued sandbox fault, a job or a sync run. Two request
    threads claiming the last queued fault could both be told they had it, or neither.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()

    def __call__(
        self, execute: Callable[..., Any], sql: str, params: Any, many: bool, context: dict[str, Any]
    ) -> Any:
        with self._lock:
            return execute(sql, params, many, context)


def hang_up(live_server: Any) -> None:
    """Close the client's kept-alive connections to the live server, so its request threads end and
    close their database connections (PostgreSQL will not drop a test database still in use)."""
    process_session().close()
