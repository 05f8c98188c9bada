"""One rate limit for the whole deployment: four processes calling Tatum through the dashboard's own
client at once, sharing one database, keep together to `TATUM_MAX_RPS`, as Tatum counts their calls."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from django.db import connection

from tests.ratelimit_worker import busiest_second, postgresql_url, run_workers, sqlite_file_database

pytestmark = pytest.mark.django_db

MAX_RPS = 8.0


class Upstream(ThreadingHTTPServer):
    """Stands in for Tatum on loopback: notes when each call arrived and answers `[]`."""

    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.arrivals: list[float] = []
        self.lock = threading.Lock()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:
        server = self.server
        assert isinstance(server, Upstream)
        with server.lock:
            server.arrivals.append(time.time())
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"[]")

    def log_message(self, format: str, *args: object) -> None:
        return None


@pytest.fixture
def upstream() -> Iterator[Upstream]:
    server = Upstream()
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()
    thread.join(timeout=5)


@pytest.fixture(params=["sqlite-file", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "postgresql":
        if connection.vendor != "postgresql":
            pytest.skip("needs the tests to run on PostgreSQL (DATABASE_URL=postgres://...)")
        return postgresql_url(connection.settings_dict)
    sqlite_file_database(tmp_path / "deployment.sqlite3")
    return f"sqlite:///{tmp_path / 'deployment.sqlite3'}"


def test_the_rate_limit_holds_across_four_processes(upstream: Upstream, database_url: str) -> None:
    # Each process's threads read at once, as a busy web process's would.
    run_workers(
        database_url=database_url,
        processes=4,
        threads=3,
        calls=3,
        max_rps=MAX_RPS,
        api_url=upstream.url,
    )

    arrivals = sorted(upstream.arrivals)
    assert len(arrivals) == 36
    # Evenly spaced slots: no second holds more than the plan's rate (one more at most, for jitter).
    assert busiest_second(arrivals) <= MAX_RPS + 1
    assert arrivals[-1] - arrivals[0] >= (len(arrivals) - 1) / MAX_RPS - 0.1
