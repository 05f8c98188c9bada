"""The batching writer of call records (`CALL_RECORD_BATCH_MS` above 0): it runs on a thread of its
own with a database connection of its own, so these tests commit (`transaction=True`)."""

from __future__ import annotations

import datetime
import os
import time
from collections.abc import Iterator
from typing import Any

import pytest
from django.db import OperationalError
from django.utils import timezone

import customers.apicalls
from customers.apicalls import (
    CallRecordWriter,
    api_calls_defer,
    api_calls_flush,
    call_record_writer,
    credits_spent_today,
    record_api_call,
)
from customers.models import ApiCall, CreditTally
from customers.tatum import CallRecord
from dashboard.context import acting_as

pytestmark = pytest.mark.django_db(transaction=True)

READ = CallRecord(
    method="GET", route="/v3/ledger/customer", status=200, duration_ms=50, credits=1, error_code=""
)


@pytest.fixture
def writers() -> Iterator[list[CallRecordWriter]]:
    """Writers made by a test, closed after it (which ends their threads and connections)."""
    made: list[CallRecordWriter] = []
    yield made
    for writer in made:
        writer.close()


def new_writer(writers: list[CallRecordWriter], delay: float) -> CallRecordWriter:
    writer = CallRecordWriter(delay)
    writers.append(writer)
    return writer


def call(user: Any, credits: int = 1, route: str = "/v3/ledger/customer") -> ApiCall:
    return ApiCall(
        at=timezone.now(), user=user, method="GET", route=route, status=200, duration_ms=50, credits=credits
    )


def tally(user: Any) -> int:
    row = CreditTally.objects.filter(user=user, day=timezone.localdate()).first()
    return row.credits if row else 0


def test_records_submitted_within_the_delay_are_written_together_in_one_batch(
    writers: list, alice: Any, bob: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    batches: list[int] = []
    store = customers.apicalls.api_calls_store

    def counting_store(calls: list[ApiCall]) -> None:
        batches.append(len(calls))
        store(calls)

    monkeypatch.setattr(customers.apicalls, "api_calls_store", counting_store)
    writer = new_writer(writers, delay=0.5)

    writer.submit([call(alice, 1)])
    writer.submit([call(bob, 2), call(alice, 3)])
    assert ApiCall.objects.count() == 0  # still gathering
    assert writer.flush(timeout=10)

    assert batches == [3]
    assert ApiCall.objects.count() == 3
    assert (tally(alice), tally(bob)) == (4, 2)


def test_a_later_record_starts_a_new_batch(writers: list, alice: Any) -> None:
    writer = new_writer(writers, delay=0.01)
    writer.submit([call(alice, 1)])
    assert writer.flush(timeout=10)
    writer.submit([call(alice, 2)])
    assert writer.flush(timeout=10)

    assert ApiCall.objects.count() == 2
    assert tally(alice) == 3


def test_close_writes_what_is_waiting_without_the_delay_and_ends_the_thread(
    writers: list, alice: Any
) -> None:
    writer = new_writer(writers, delay=60)
    writer.submit([call(alice, 5)])
    thread = writer._thread

    started = time.monotonic()
    writer.close()

    assert time.monotonic() - started < 10
    assert ApiCall.objects.count() == 1
    assert tally(alice) == 5
    assert thread is not None and not thread.is_alive()


def test_records_submitted_after_close_are_written_at_once(writers: list, alice: Any) -> None:
    writer = new_writer(writers, delay=60)
    writer.close()

    writer.submit([call(alice, 2)])

    assert ApiCall.objects.count() == 1
    assert writer._thread is None  # no thread was started for them


def store_fails_once(monkeypatch: pytest.MonkeyPatch, error: Exception) -> None:
    """The next write of call records raises `error`; the ones after it are written."""
    store = customers.apicalls.api_calls_store
    failures = iter([error])

    def store_failing_once(calls: list[ApiCall]) -> None:
        failure = next(failures, None)
        if failure is not None:
            raise failure
        store(calls)

    monkeypatch.setattr(customers.apicalls, "api_calls_store", store_failing_once)


def test_a_failed_batch_is_logged_call_by_call_and_the_next_batch_is_written(
    writers: list, alice: Any, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    store_fails_once(monkeypatch, OperationalError("database is locked"))
    writer = new_writer(writers, delay=0.01)
    lost = call(alice, 2, route="/v3/ledger/customer/{id}")
    lost.request_id = "req-0badc0de"

    writer.submit([lost])
    assert writer.flush(timeout=10)
    writer.submit([call(alice, 1)])
    assert writer.flush(timeout=10)

    assert "Unrecorded Tatum call GET /v3/ledger/customer/{id} -> 200, 2 credits, request req-0badc0de" in (
        caplog.text
    )
    assert list(ApiCall.objects.values_list("credits", flat=True)) == [1]


def test_an_unexpected_error_is_logged_and_does_not_stop_the_writer(
    writers: list, alice: Any, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    store_fails_once(monkeypatch, RuntimeError("a bug"))
    writer = new_writer(writers, delay=0.01)

    writer.submit([call(alice, 7)])
    assert writer.flush(timeout=10)
    writer.submit([call(alice, 1)])
    assert writer.flush(timeout=10)

    assert "Unrecorded Tatum call GET /v3/ledger/customer -> 200, 7 credits" in caplog.text
    assert tally(alice) == 1
    assert writer._thread is not None and writer._thread.is_alive()


@pytest.fixture
def batching(settings: Any, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Batching on, with a fresh process writer that is closed afterwards."""
    settings.CALL_RECORD_BATCH_MS = 300
    monkeypatch.setattr(customers.apicalls, "_writer", None)
    yield
    if customers.apicalls._writer is not None:
        customers.apicalls._writer.close()


def test_a_requests_records_go_to_the_writer_and_are_counted_until_written(
    alice: Any, batching: None
) -> None:
    with acting_as(alice, request_id="req-00c0ffee"):
        api_calls_defer()
        record_api_call(READ)
        record_api_call(READ)
        assert credits_spent_today(alice) == 2  # the page counts its own calls
        api_calls_flush()

    assert ApiCall.objects.count() == 0  # gathering
    assert call_record_writer().flush(timeout=10)
    assert list(ApiCall.objects.values_list("request_id", flat=True)) == ["req-00c0ffee"] * 2
    assert credits_spent_today(alice) == 2


def test_pages_over_http_store_their_records_through_the_writer(
    live_server: Any, settings: Any, batching: None
) -> None:
    import requests

    from tests.live import hang_up, sharing_the_test_database
    from tests.users import PASSWORD, make_user

    settings.TATUM_API_URL = f"{live_server.url}/sandbox"
    make_user("Support", username="writer-support")
    with sharing_the_test_database(live_server):
        browser = requests.Session()
        login = browser.get(f"{live_server.url}/accounts/login/", timeout=10)
        browser.post(
            f"{live_server.url}/accounts/login/",
            data={
                "username": "writer-support",
                "password": PASSWORD,
                "csrfmiddlewaretoken": login.cookies.get("csrftoken") or browser.cookies["csrftoken"],
            },
            headers={"Referer": f"{live_server.url}/accounts/login/"},
            timeout=10,
        )
        first = browser.get(f"{live_server.url}/customers/?size=10", timeout=10)
        assert first.status_code == 200 and "1 credit today" in first.text
        assert stored_calls_reach(1)
        second = browser.get(f"{live_server.url}/customers/?size=10", timeout=10)
        assert "2 credits today" in second.text
        assert stored_calls_reach(2)
        browser.close()
        hang_up(live_server)
    assert ApiCall.objects.filter(user__username="writer-support").count() == 2


def stored_calls_reach(count: int, seconds: float = 10) -> bool:
    """Whether `count` call records are stored within `seconds`: the server hands a page's records
    to the writer just after the response, so they may not have been submitted when it arrives."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        call_record_writer().flush(timeout=seconds)
        if ApiCall.objects.count() >= count:
            return True
        time.sleep(0.02)
    return False


def test_a_forked_process_starts_a_writer_of_its_own(batching: None) -> None:
    parent = call_record_writer()
    child = os.fork()
    if child == 0:  # pragma: no cover - runs in the child, which reports through its exit code
        os._exit(0 if customers.apicalls._writer is None and call_record_writer() is not parent else 1)
    _, status = os.waitpid(child, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    assert call_record_writer() is parent


def test_the_day_of_a_batched_record_is_the_day_it_was_made(writers: list, alice: Any) -> None:
    writer = new_writer(writers, delay=0.01)
    yesterday = call(alice, 4)
    yesterday.at = timezone.now() - datetime.timedelta(days=1)
    writer.submit([yesterday, call(alice, 1)])
    assert writer.flush(timeout=10)

    assert tally(alice) == 1
    assert CreditTally.objects.get(user=alice, day=timezone.localdate(yesterday.at)).credits == 4
