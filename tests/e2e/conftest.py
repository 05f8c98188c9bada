"""Browser tests: Playwright drives Debian's Chromium against the live server and its sandbox."""

import os

# pytest-playwright runs an event loop in the main thread; Django's ORM must still work there.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

import pytest  # noqa: E402

CHROMIUM = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args):
    return {
        **browser_type_launch_args,
        "executable_path": CHROMIUM,
        "headless": True,
        "args": [
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--no-first-run",
        ],
    }


@pytest.fixture(scope="session")
def django_db_modify_db_settings(django_db_modify_db_settings_parallel_suffix, tmp_path_factory):
    """On SQLite, the browser tests' database is a file, as the deployment's is: every thread (the live
    server's requests, the test, the task worker) has a connection of its own, and SQLite's locks (the
    settings' `timeout`, write-ahead log, IMMEDIATE transactions) make each wait for the others' writes.

    The default in-memory test database does not wait: a second connection to it fails at once with
    "database table is locked" while another writes. Shared by every thread on one connection instead,
    it keeps one transaction state for all of them: a request's statement lands inside the worker's
    open transaction, and a worker's `atomic(durable=True)` fails while a request's block is open.
    """
    from django.conf import settings

    database = settings.DATABASES["default"]
    if database["ENGINE"] == "django.db.backends.sqlite3":
        database.setdefault("TEST", {})["NAME"] = str(tmp_path_factory.mktemp("e2e-db") / "test.sqlite3")


@pytest.fixture
def site(live_server):
    """The demo data every page of tests/e2e/pages.py is opened with."""
    from tests.e2e.pages import site_seed

    return site_seed(live_server)


@pytest.fixture(autouse=True)
def dashboard_on_live_sandbox(live_server, settings):
    """The dashboard under test talks to the sandbox served by the same live server."""
    settings.TATUM_API_URL = f"{live_server.url}/sandbox"
    settings.TATUM_TIMEOUT = (2.0, 5.0)
    return live_server
