"""The deployment's shared rate limit (`customers.credits.ratelimit`), on real databases: a SQLite file
(what the unit tests' in-memory database cannot be: shared by processes) and, when the tests run on
PostgreSQL, the test database itself."""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import psycopg
import pytest
import responses
from django.contrib.auth.models import User
from django.db import connection, transaction

from customers.credits.ratelimit import SharedRateLimiter
from customers.tatum import TatumClient, TatumRateLimited, new_session
from tests.ratelimit_worker import busiest_second, postgresql_url, run_workers, sqlite_file_database

pytestmark = pytest.mark.django_db

TATUM = "https://tatum.test"
ID = "5e68c66581f2ee32bc354087"
# Release times come from real sleeps: allow the scheduler this much early or late.
SLACK = 0.02
ON_POSTGRESQL_ONLY = "needs the tests to run on PostgreSQL (DATABASE_URL=postgres://...)"


@pytest.fixture
def database(tmp_path: Path) -> dict[str, Any]:
    return sqlite_file_database(tmp_path / "shared.sqlite3")


@pytest.fixture
def new_limiter(database: dict[str, Any]) -> Callable[..., SharedRateLimiter]:
    """Limiters on one SQLite file, each with a connection of its own, as separate processes have."""
    made: list[SharedRateLimiter] = []

    def make(**options: Any) -> SharedRateLimiter:
        limiter = SharedRateLimiter(database=database, **options)
        made.append(limiter)
        return limiter

    yield make
    for limiter in made:
        limiter.close()


def gaps(times: list[float], step: int = 1) -> list[float]:
    """The time between each call and the `step`-th after it."""
    return [later - earlier for earlier, later in zip(times, times[step:], strict=False)]


def test_calls_from_many_threads_go_two_at_once_at_most_then_one_interval_apart(new_limiter) -> None:
    limiter, released, lock = new_limiter(), [], threading.Lock()
    start = threading.Barrier(8)

    def calls() -> None:
        start.wait()
        for _ in range(3):
            limiter.wait(20.0)
            with lock:
                released.append(time.monotonic())

    threads = [threading.Thread(target=calls) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)

    released.sort()
    assert len(released) == 24
    assert min(gaps(released)) < SLACK  # the first two went at once
    assert min(gaps(released, step=2)) >= 1 / 19 - SLACK  # then slots 1/(20 - 1) s apart
    assert busiest_second(released) <= 21


def test_limiters_on_separate_connections_take_turns_on_one_schedule(new_limiter) -> None:
    first, second = new_limiter(sleep=lambda _: None), new_limiter(sleep=lambda _: None)

    waits = [limiter.wait(5.0) for limiter in (first, second, first, second)]

    # Two at once (a detail page's reads), then one every 1/(5 - 1) s: 5 in any one second.
    assert waits == pytest.approx([0.0, 0.0, 0.25, 0.5], abs=0.03)


def test_below_two_calls_a_second_no_two_go_at_once(new_limiter) -> None:
    limiter = new_limiter(sleep=lambda _: None)

    assert [limiter.wait(1.5) for _ in range(3)] == pytest.approx([0.0, 1 / 1.5, 2 / 1.5], abs=0.03)


def test_a_limit_left_idle_lets_the_next_call_go_at_once(new_limiter) -> None:
    limiter = new_limiter(sleep=lambda _: None)
    limiter.wait(20.0)
    time.sleep(0.1)

    assert limiter.wait(20.0) == 0.0


def test_a_hold_off_delays_the_next_call_of_every_process(new_limiter) -> None:
    refused, other = new_limiter(), new_limiter(sleep=lambda _: None)

    refused.hold_off(2.0)

    assert other.wait(5.0) == pytest.approx(2.0, abs=0.01)
    assert other.wait(5.0) == pytest.approx(2.25, abs=0.01)


def test_a_429_from_tatum_holds_off_the_other_processes_for_its_retry_after(new_limiter) -> None:
    session = new_session(pool_size=1)
    client = TatumClient(
        base_url=TATUM,
        api_key="key",
        timeout=(1.0, 1.0),
        max_rps=5.0,
        session=session,
        rate_limiter=new_limiter(sleep=lambda _: None),
    )
    other_process = new_limiter(sleep=lambda _: None)
    with responses.RequestsMock() as tatum:
        tatum.put(f"{TATUM}/v3/ledger/customer/{ID}/disable", status=429, headers={"Retry-After": "3"})
        with pytest.raises(TatumRateLimited):
            client.disable_customer(ID)
    session.close()

    assert other_process.wait(5.0) == pytest.approx(3.0, abs=0.05)


def test_an_unreachable_database_neither_hangs_nor_stops_calls_which_the_process_then_spaces(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    unreachable = {**connection.settings_dict, "ENGINE": "django.db.backends.sqlite3", "OPTIONS": {}}
    unreachable["NAME"] = str(tmp_path / "no-such-folder" / "db.sqlite3")
    limiter = SharedRateLimiter(database=unreachable, sleep=lambda _: None)
    started = time.monotonic()

    with caplog.at_level(logging.WARNING, logger="customers.credits.ratelimit"):
        waits = [limiter.wait(5.0) for _ in range(3)]

    assert time.monotonic() - started < 1.0
    assert waits == pytest.approx([0.0, 0.0, 0.25], abs=0.01)
    assert "shared Tatum rate limit is unreachable" in caplog.text


@pytest.mark.parametrize("backend", ["sqlite-file", "postgresql"])
def test_processes_sharing_the_database_keep_to_one_rate_together(backend: str, tmp_path: Path) -> None:
    if backend == "sqlite-file":
        database_url = f"sqlite:///{tmp_path / 'shared.sqlite3'}"
        sqlite_file_database(tmp_path / "shared.sqlite3")
    elif connection.vendor != "postgresql":
        pytest.skip(ON_POSTGRESQL_ONLY)
    else:
        database_url = postgresql_url(connection.settings_dict)

    released = run_workers(
        database_url=database_url,
        processes=2,
        threads=2,
        calls=5,
        max_rps=10.0,
        limit=f"test-{uuid.uuid4().hex[:8]}",
    )

    assert len(released) == 20
    assert min(gaps(released, step=2)) >= 1 / 9 - SLACK
    assert busiest_second(released) <= 11


@pytest.mark.django_db(transaction=True)
def test_a_reservation_commits_at_once_inside_the_callers_transaction() -> None:
    if connection.vendor != "postgresql":
        pytest.skip(f"{ON_POSTGRESQL_ONLY}; the unit tests' in-memory SQLite keeps the limit in memory")
    name = f"test-{uuid.uuid4().hex[:8]}"
    limiter = SharedRateLimiter(name, sleep=lambda _: None)
    with transaction.atomic():
        User.objects.create_user("holding-a-transaction")
        limiter.wait(5.0)
        seen_from_elsewhere = _next_slot(name)
        transaction.set_rollback(True)
    limiter.close()

    assert seen_from_elsewhere is not None
    assert _next_slot(name) == seen_from_elsewhere


def _next_slot(name: str) -> float | None:
    with psycopg.connect(postgresql_url(connection.settings_dict), autocommit=True) as other:
        row = other.execute(
            "SELECT next_slot FROM customers_sharedratelimit WHERE name = %s", [name]
        ).fetchone()
    return row[0] if row else None


def test_the_unit_tests_in_memory_database_keeps_the_limit_in_the_process() -> None:
    if connection.vendor != "sqlite":
        pytest.skip("the tests run on PostgreSQL, where the limit is kept in the test database")
    limiter = SharedRateLimiter(sleep=lambda _: None)

    assert [limiter.wait(10.0) for _ in range(3)] == pytest.approx([0.0, 0.0, 1 / 9], abs=0.01)
