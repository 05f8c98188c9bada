"""Fixtures shared by every test package."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import requests
import responses

_UNMATCHED = "Connection refused by Responses"


@pytest.fixture
def mocked_responses() -> Iterator[responses.RequestsMock]:
    """Fakes every HTTP call made with `requests`.

    A call that matches no registered response fails the test even if the code under test caught the
    error (say, by retrying and then reporting "unavailable"); a registered response that was never
    requested fails it too.
    """
    with responses.RequestsMock(assert_all_requests_are_fired=True) as mock:
        yield mock
        stray = [
            f"{call.request.method} {call.request.url}"
            for call in mock.calls
            if isinstance(call.response, requests.ConnectionError)
            and str(call.response).startswith(_UNMATCHED)
        ]
        assert not stray, f"Unexpected HTTP calls: {stray}"


@pytest.fixture(autouse=True)
def _fresh_cache() -> Iterator[None]:
    """Each test starts with an empty cache: no circuit-breaker state or cached probes leak across."""
    from django.core.cache import cache

    cache.clear()
    yield
    cache.clear()


@pytest.fixture(autouse=True)
def _rate_limit_connection_closed() -> Iterator[None]:
    """The shared Tatum rate limit keeps a database connection of its own: closed after each test, as
    PostgreSQL drops the test database only once no connection to it is left."""
    yield
    from customers.credits.client import process_rate_limiter

    process_rate_limiter().close()


@pytest.fixture(autouse=True)
def _live_server_shares_the_test_database(request: pytest.FixtureRequest) -> Iterator[None]:
    """Tests on the live server serve its requests on the test's own database connection (SQLite)."""
    if "live_server" not in request.fixturenames:
        yield
        return
    from tests.live import hang_up, sharing_the_test_database

    live_server = request.getfixturevalue("live_server")
    with sharing_the_test_database(live_server):
        yield
    hang_up(live_server)
