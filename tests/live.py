"""Helpers for tests that use the live server (the sandbox over real HTTP, the browser)."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
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
    """
    conn = connections["default"]
    overrides = live_server.thread.connections_override
    if conn.vendor != "sqlite" or not conn.is_in_memory_db() or "default" in overrides:
        yield
        return
    # Left enabled afterwards: a kept-alive request thread may still close the connection later.
    conn.inc_thread_sharing()
    overrides["default"] = conn
    try:
        yield
    finally:
        del overrides["default"]


def hang_up(live_server: Any) -> None:
    """Close the client's kept-alive connections to the live server, so its request threads end and
    close their database connections (PostgreSQL will not drop a test database still in use)."""
    process_session().close()
