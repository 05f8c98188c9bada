"""A database restart, as the people signed in to the dashboard live through it: while the database
is away, every page says so with a 503 (never a bare 500); once it is back, the same pages work again.

The dashboard is served by the live server and requested over real HTTP, so each request goes through
the whole cycle a deployment runs (its connection checked and reopened between requests). On
PostgreSQL the restart is real in what clients see: every connection to the test database is
dropped and new ones are refused, then allowed again. On SQLite (a file, not a server) the driver
fails every statement for the length of the outage.
"""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import Iterator

import psycopg
import pytest
import requests
from django.conf import settings
from django.db import connection, connections
from django.db.backends.base.base import BaseDatabaseWrapper
from psycopg import sql

from tests.users import make_user

pytestmark = pytest.mark.django_db(transaction=True)

NOT_ANSWERING = "The dashboard's database is not answering; nothing was changed."


@contextlib.contextmanager
def postgresql_restart() -> Iterator[None]:
    """Every connection to the test database dropped and new ones refused, until the block ends.

    Done from a connection to the `postgres` database. The test's own connection is spared: pytest-django
    cleans up through it afterwards, and it serves no request (the live server's threads have theirs).
    """
    name = connection.settings_dict["NAME"]
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        (harness_pid,) = cursor.fetchone()
    params = connection.settings_dict
    with psycopg.connect(
        dbname="postgres",
        host=params["HOST"] or None,
        port=params["PORT"] or None,
        user=params["USER"] or None,
        password=params["PASSWORD"] or None,
        autocommit=True,
    ) as admin:
        database = sql.Identifier(name)
        admin.execute(sql.SQL("ALTER DATABASE {} WITH ALLOW_CONNECTIONS false").format(database))
        try:
            admin.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s AND pid <> %s",
                [name, harness_pid],
            )
            yield
        finally:
            admin.execute(sql.SQL("ALTER DATABASE {} WITH ALLOW_CONNECTIONS true").format(database))


@contextlib.contextmanager
def sqlite_outage() -> Iterator[None]:
    """The SQLite driver fails every statement as it does when the database file is gone or unreadable,
    until the block ends. The test database lives in memory, shared with the live server, so nothing
    on disk can be taken away: the failure is raised where the driver would raise it."""
    wrapper = type(connections["default"])
    create_cursor = wrapper.create_cursor

    def unable_to_open(self: BaseDatabaseWrapper, name: str | None = None) -> None:
        raise sqlite3.OperationalError("unable to open database file")

    wrapper.create_cursor = unable_to_open  # type: ignore[method-assign]
    try:
        yield
    finally:
        wrapper.create_cursor = create_cursor  # type: ignore[method-assign]


def database_outage() -> contextlib.AbstractContextManager[None]:
    return postgresql_restart() if connection.vendor == "postgresql" else sqlite_outage()


@pytest.fixture
def browser(client, live_server) -> Iterator[requests.Session]:
    """A signed-in support user's browser, talking HTTP to the live server."""
    client.force_login(make_user("Support"))
    session = requests.Session()
    session.cookies.set(settings.SESSION_COOKIE_NAME, client.cookies[settings.SESSION_COOKIE_NAME].value)
    yield session
    # PostgreSQL drops the test database only once no connection to it is left.
    session.close()


def test_a_database_restart_shows_the_503_page_then_the_pages_work_again(browser, live_server):
    home = f"{live_server.url}/"
    assert browser.get(home, timeout=10).status_code == 200

    with database_outage():
        page = browser.get(home, timeout=10)
        fragment = browser.get(f"{live_server.url}/customers/", headers={"HX-Request": "true"}, timeout=10)

    assert page.status_code == 503, page.text[:2000]
    assert NOT_ANSWERING in page.text
    assert f"Request {page.headers['X-Request-ID']}" in page.text
    assert "Something went wrong on our side" not in page.text
    assert fragment.status_code == 503
    assert fragment.headers["X-Dashboard-Outage"] == "database"

    again = browser.get(home, timeout=10)
    assert again.status_code == 200, again.text[:2000]
    assert "Welcome, " in again.text
