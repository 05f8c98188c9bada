"""The export engine's rules, with Tatum faked by `responses`: order, the end of the list, odd answers."""

from __future__ import annotations

import json
import time
from collections import Counter
from datetime import timedelta
from urllib.parse import parse_qs, urlsplit

import pytest
from django.utils import timezone
from responses import matchers

from customers.credits.models import ApiCall
from customers.exports import engine
from customers.exports.engine import csv_row, export_run
from customers.exports.filters import ExportFilter
from customers.exports.models import ExportJob
from customers.exports.selectors import export_file_path
from customers.tatum import Customer
from customers.templatetags.customer_tags import duration_words
from tests.customers.conftest import customer_json, url
from tests.users import make_user

LIST = url("/v3/ledger/customer")


@pytest.fixture(autouse=True)
def export_root(settings, tmp_path):
    settings.EXPORT_ROOT = tmp_path / "exports"
    return settings.EXPORT_ROOT


@pytest.fixture
def queued_job(db):
    user = make_user("Manager", "morgan")
    return ExportJob.objects.create(
        user=user, username=user.username, scope=ExportJob.Scope.ALL, created_at=timezone.now()
    )


def page_of(first: int, count: int) -> list[dict]:
    return [customer_json(id=f"{n:024x}", externalId=f"cust-{n}") for n in range(first, first + count)]


def on_page(tatum, page: int, **kwargs) -> None:
    query = matchers.query_param_matcher({"pageSize": "50", "offset": str(page * 50)})
    tatum.get(LIST, match=[query], **kwargs)


def calls_per_page(tatum) -> Counter[int]:
    """How many calls `responses` saw for each page (offsets count records, 50 a page)."""
    offsets = [parse_qs(urlsplit(call.request.url).query)["offset"][0] for call in tatum.calls]
    return Counter(int(offset) // 50 for offset in offsets)


def written_ids(job: ExportJob) -> list[str]:
    lines = export_file_path(job).read_text(encoding="utf-8-sig").splitlines()[1:]
    return [line.split(",", 1)[0] for line in lines]


def test_rows_are_written_in_page_order_even_when_later_pages_arrive_first(tatum, queued_job, settings):
    settings.TATUM_EXPORT_CONCURRENCY = 4

    def slow_first_page(request):
        time.sleep(0.3)
        return 200, {}, json.dumps(page_of(0, 50))

    query = matchers.query_param_matcher({"pageSize": "50", "offset": "0"})
    tatum.add_callback("GET", LIST, callback=slow_first_page, match=[query])
    for page in (1, 2):
        on_page(tatum, page, json=page_of(page * 50, 50))
    on_page(tatum, 3, json=page_of(150, 7))
    for page in range(4, 12):
        on_page(tatum, page, json=[])

    job = export_run(job_id=queued_job.pk)

    assert job.status == ExportJob.Status.SUCCEEDED
    assert written_ids(job) == [f"{n:024x}" for n in range(157)]
    assert job.pages_read == 4


def test_an_evenly_divided_ledger_ends_on_an_empty_page(tatum, queued_job, settings):
    settings.TATUM_EXPORT_CONCURRENCY = 1
    on_page(tatum, 0, json=page_of(0, 50))
    on_page(tatum, 1, json=[])

    job = export_run(job_id=queued_job.pk)

    assert (job.status, job.pages_read, job.rows_written) == (ExportJob.Status.SUCCEEDED, 2, 50)


def test_a_failure_after_the_last_page_does_not_fail_the_export(tatum, queued_job, settings):
    settings.TATUM_EXPORT_CONCURRENCY = 4
    on_page(tatum, 0, json=page_of(0, 10))
    for page in (1, 2, 3):
        on_page(tatum, page, status=500, json={"statusCode": 500, "message": "Internal server error"})

    job = export_run(job_id=queued_job.pk)

    assert job.status == ExportJob.Status.SUCCEEDED
    assert job.rows_written == 10


# --- Retries and the cap on billed calls per page ---------------------------------------------------

GATEWAY_ERROR = {"status": 503, "json": {"statusCode": 503, "message": "Service unavailable"}}


@pytest.mark.parametrize("concurrency", [1, 4])
def test_a_page_that_keeps_failing_costs_at_most_four_calls_and_fails_the_export(
    tatum, queued_job, settings, concurrency
):
    """The cap that docs/exports.md states: at most 1 + TATUM_MAX_RETRIES calls (4 credits) a page."""
    settings.TATUM_EXPORT_CONCURRENCY = concurrency
    tatum.get(LIST, **GATEWAY_ERROR)

    job = export_run(job_id=queued_job.pk)

    per_page = calls_per_page(tatum)
    assert settings.TATUM_MAX_RETRIES == 3
    assert per_page[0] == 4, "the first page was tried exactly as often as the cap allows"
    assert max(per_page.values()) == 4, "no page read in flight went past the cap either"
    assert job.credits_spent == ApiCall.objects.count() == len(tatum.calls)
    assert job.status == ExportJob.Status.FAILED
    assert job.error_code == "http_503"
    assert job.error_message.startswith("Page 1 could not be read. Tatum had an internal error.")


def test_a_page_that_fails_once_is_read_again_by_the_client_and_the_file_is_complete(
    tatum, queued_job, settings
):
    settings.TATUM_EXPORT_CONCURRENCY = 1
    on_page(tatum, 0, json=page_of(0, 50))
    on_page(tatum, 1, **GATEWAY_ERROR)
    on_page(tatum, 1, json=page_of(50, 50))
    on_page(tatum, 2, json=page_of(100, 3))

    job = export_run(job_id=queued_job.pk)

    assert job.status == ExportJob.Status.SUCCEEDED
    assert written_ids(job) == [f"{n:024x}" for n in range(103)]
    assert calls_per_page(tatum) == {0: 1, 1: 2, 2: 1}
    assert (job.page_retries, job.credits_spent) == (1, 4)


@pytest.mark.parametrize(
    "answer,code",
    [
        ({"body": '{"externalId":"651234","enabled":tr'}, "TatumProtocolError"),
        ({"status": 500, "json": {"statusCode": 500, "message": "Internal server error"}}, "http_500"),
    ],
    ids=["garbled-200", "500"],
)
def test_answers_the_client_does_not_retry_fail_the_export_after_one_call(
    tatum, queued_job, settings, answer, code
):
    settings.TATUM_EXPORT_CONCURRENCY = 1
    on_page(tatum, 0, **answer)

    job = export_run(job_id=queued_job.pk)

    assert calls_per_page(tatum) == {0: 1}
    assert (job.status, job.error_code, job.page_retries) == (ExportJob.Status.FAILED, code, 0)
    assert job.error_message.startswith("Page 1 could not be read. Tatum ")


def test_an_upstream_that_ignores_the_offset_fails_the_export_instead_of_looping(tatum, queued_job, settings):
    settings.TATUM_EXPORT_CONCURRENCY = 2
    tatum.get(LIST, json=page_of(0, 50))

    job = export_run(job_id=queued_job.pk)

    assert job.status == ExportJob.Status.FAILED
    assert job.error_message == (
        "Page 2 came back the same as the page before it: check the TATUM_OFFSET_MODE setting."
    )
    assert job.error_code == "SamePageTwice"


def test_a_job_that_is_not_queued_is_left_alone(tatum, queued_job):
    ExportJob.objects.filter(pk=queued_job.pk).update(status=ExportJob.Status.SUCCEEDED)

    job = export_run(job_id=queued_job.pk)

    assert job.status == ExportJob.Status.SUCCEEDED
    assert len(tatum.calls) == 0


def test_progress_is_stored_while_reading_not_only_at_the_end(tatum, queued_job, monkeypatch, settings):
    settings.TATUM_EXPORT_CONCURRENCY = 1
    monkeypatch.setattr(engine, "PROGRESS_INTERVAL", 0)
    seen: list[int] = []
    flush = engine._ExportRun._flush

    def spy(run, **final):
        flush(run, **final)
        seen.append(ExportJob.objects.get(pk=queued_job.pk).rows_read)

    monkeypatch.setattr(engine._ExportRun, "_flush", spy)
    for page in range(3):
        on_page(tatum, page, json=page_of(page * 50, 50))
    on_page(tatum, 3, json=[])

    export_run(job_id=queued_job.pk)

    assert seen[0] < seen[-1] == 150
    assert seen == sorted(seen)


# --- Pieces ----------------------------------------------------------------------------------------


def test_filter_matches_each_condition_and_describes_itself():
    gap = Customer("a" * 24, "x", active=False, enabled=True, customer_country="DE", provider_country=None)
    complete = Customer(
        "b" * 24, "y", active=True, enabled=False, customer_country="DE", provider_country="MT"
    )

    assert ExportFilter().matches(gap) and ExportFilter().is_empty
    assert ExportFilter(active=False).matches(gap) and not ExportFilter(active=False).matches(complete)
    assert ExportFilter(enabled=False).matches(complete) and not ExportFilter(enabled=False).matches(gap)
    assert ExportFilter(compliance_gap=True).matches(gap) and not ExportFilter(compliance_gap=True).matches(
        complete
    )
    assert not ExportFilter(customer_country="FR").matches(gap)
    wanted = ExportFilter(active=True, enabled=False, customer_country="DE", compliance_gap=False)
    assert ExportFilter.from_json(wanted.to_json()) == wanted
    assert wanted.describe() == "active, disabled, customer country Germany (DE), both countries set"


def test_a_csv_row_names_the_countries_and_leaves_missing_values_empty():
    customer = Customer(
        "c" * 24, "-5", active=True, enabled=False, accounting_currency="EUR", customer_country="CZ"
    )

    assert csv_row(customer) == ["c" * 24, "'-5", "true", "false", "EUR", "CZ", "Czechia", "", ""]


@pytest.mark.parametrize(
    "seconds,text",
    [
        (0.4, "0 seconds"),
        (45, "45 seconds"),
        (185, "3 minutes 5 seconds"),
        (3720, "1 hour 2 minutes"),
        (None, ""),
    ],
)
def test_durations_read_as_people_say_them(seconds, text):
    assert duration_words(seconds) == text


def test_a_running_job_without_news_for_thirty_seconds_is_stalled(db):
    now = timezone.now()
    job = ExportJob(status=ExportJob.Status.RUNNING, heartbeat_at=now - timedelta(seconds=29))
    assert not job.is_stalled
    job.heartbeat_at = now - timedelta(seconds=31)
    assert job.is_stalled
