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
