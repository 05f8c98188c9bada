"""Exports from the customer index: the source choice, filters over the index, "as of" in the job and
the file name, no Tatum call, formula-safe cells, an index never synced, permissions.

Every test runs under `mocked_responses` with nothing registered, so any call to Tatum fails it.
"""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, timedelta
from html.parser import HTMLParser

import pytest
from django.utils import timezone

from customers.audit.models import AuditEntry
from customers.audit.trail import Actor
from customers.credits.models import ApiCall
from customers.exports import from_index
from customers.exports.csv_file import CSV_COLUMNS
from customers.exports.engine import export_run
from customers.exports.filters import ExportFilter
from customers.exports.models import ExportJob
from customers.exports.selectors import export_estimate, export_file_path
from customers.exports.services import IndexNotSynced, export_retry, export_start
from customers.index.models import CustomerRecord, SyncRun
from tests.customers.conftest import index_row
from tests.users import make_user

Status = ExportJob.Status
Source = ExportJob.Source
Action = AuditEntry.Action
Outcome = AuditEntry.Outcome

IMMEDIATE = {"default": {"BACKEND": "django_tasks.backends.immediate.ImmediateBackend"}}
SYNCED_AT = datetime(2026, 12, 7, 1, 0, tzinfo=UTC)


@pytest.fixture(autouse=True)
def no_tatum(mocked_responses):
    """Nothing registered: a call to Tatum from any test here fails it."""
    return mocked_responses


@pytest.fixture(autouse=True)
def export_root(settings, tmp_path):
    settings.EXPORT_ROOT = tmp_path / "exports"
    return settings.EXPORT_ROOT


@pytest.fixture
def manager(db):
    return make_user("Manager", "morgan")


def sync_run(status: str = SyncRun.Status.SUCCEEDED, finished_at: datetime = SYNCED_AT) -> SyncRun:
    return SyncRun.objects.create(
        status=status, created_at=finished_at - timedelta(minutes=5), finished_at=finished_at
    )


@pytest.fixture
def synced(db) -> SyncRun:
    return sync_run()


def record(number: int, **fields) -> CustomerRecord:
    fields.setdefault("external_id", f"cust-{number}")
    fields.setdefault("provider_country", "DE")
    return index_row(f"{number:024x}", seen_at=SYNCED_AT, **fields)


def start(user, export_filter: ExportFilter | None = None, source: str = Source.INDEX) -> ExportJob:
    return export_start(
        actor=Actor(user=user, request_id="req-index-export"),
        export_filter=export_filter or ExportFilter(),
        source=source,
    )


def run(user, export_filter: ExportFilter | None = None) -> ExportJob:
    return export_run(job_id=start(user, export_filter).pk)


def read_csv(job: ExportJob) -> list[dict[str, str]]:
    raw = export_file_path(job).read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf"), "the file starts with a UTF-8 byte order mark for Excel"
    header, *rows = list(csv.reader(io.StringIO(raw.decode("utf-8-sig"), newline="")))
    assert tuple(header) == CSV_COLUMNS
    return [dict(zip(header, row, strict=True)) for row in rows]


class _Inputs(HTMLParser):
    """The page's <input> elements, as attribute dicts."""

    def __init__(self) -> None:
        super().__init__()
        self.inputs: list[dict[str, str | None]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "input":
            self.inputs.append(dict(attrs))


def source_radio(html: str, value: str) -> dict[str, str | None]:
    parser = _Inputs()
    parser.feed(html)
    [radio] = [attrs for attrs in parser.inputs if attrs.get("name") == "source" and attrs["value"] == value]
    return radio


# --- The file --------------------------------------------------------------------------------------


def test_an_index_export_writes_every_record_with_no_tatum_call_and_no_credits(manager, synced):
    record(1, external_id="alice", customer_country="CI", provider_country="FR", accounting_currency="XOF")
    record(2, external_id="bob", active=False, enabled=False, provider_country="", accounting_currency="")

    job = run(manager)

    assert job.status == Status.SUCCEEDED
    assert (job.rows_written, job.rows_read, job.credits_spent, job.pages_read) == (2, 2, 0, 0)
    assert ApiCall.objects.count() == 0
    assert read_csv(job) == [
        {
            "id": f"{1:024x}",
            "externalId": "alice",
            "active": "true",
            "enabled": "true",
            "accountingCurrency": "XOF",
            "customerCountry": "CI",
            "customerCountryName": "Côte d'Ivoire",
            "providerCountry": "FR",
            "providerCountryName": "France",
        },
        {
            "id": f"{2:024x}",
            "externalId": "bob",
            "active": "false",
            "enabled": "false",
            "accountingCurrency": "",
            "customerCountry": "DE",
            "customerCountryName": "Germany",
            "providerCountry": "",
            "providerCountryName": "",
        },
    ]


def test_customers_missing_from_tatum_are_left_out(manager, synced):
    record(1, external_id="still-there")
    record(2, external_id="gone", missing_since=SYNCED_AT)

    job = run(manager)

    assert [row["externalId"] for row in read_csv(job)] == ["still-there"]


@pytest.mark.parametrize(
    "export_filter,expected",
    [
        (ExportFilter(active=False), {"inactive"}),
        (ExportFilter(enabled=False), {"disabled"}),
        (ExportFilter(customer_country="FR"), {"french"}),
        (ExportFilter(compliance_gap=True), {"gap"}),
        (ExportFilter(compliance_gap=False), {"plain", "inactive", "disabled", "french"}),
        (ExportFilter(active=True, enabled=True, customer_country="DE"), {"plain", "gap"}),
    ],
    ids=["inactive", "disabled", "country", "gap", "no-gap", "combined"],
)
def test_the_export_filters_apply_to_the_index(manager, synced, export_filter, expected):
    record(1, external_id="plain")
    record(2, external_id="inactive", active=False)
    record(3, external_id="disabled", enabled=False)
    record(4, external_id="french", customer_country="FR", provider_country="FR")
    record(5, external_id="gap", provider_country="")

    job = run(manager, export_filter)

    assert {row["externalId"] for row in read_csv(job)} == expected
    assert job.scope == ExportJob.Scope.FILTERED


def test_cells_a_spreadsheet_would_run_are_made_safe(manager, synced):
    record(1, external_id='=HYPERLINK("http://evil.example","x")')
    record(2, external_id="+1-555")
    record(3, external_id="@SUM(A1)")

    rows = read_csv(run(manager))

    assert [row["externalId"] for row in rows] == [
        '\'=HYPERLINK("http://evil.example","x")',
        "'+1-555",
        "'@SUM(A1)",
    ]


def test_a_large_index_is_written_in_chunks_with_progress_on_the_job(manager, synced, monkeypatch):
    monkeypatch.setattr(from_index, "CHUNK", 7)
    for number in range(30):
        record(number)

    job = run(manager)

    assert job.estimated_rows == 30
    assert job.rows_written == 30
    assert [row["id"] for row in read_csv(job)] == [f"{number:024x}" for number in range(30)]


# --- As of -----------------------------------------------------------------------------------------


def test_as_of_is_the_last_complete_sync_in_the_job_and_the_file_name(manager, synced):
    sync_run(status=SyncRun.Status.FAILED, finished_at=SYNCED_AT + timedelta(hours=3))
    record(1)

    job = run(manager)

    assert job.as_of == SYNCED_AT
    assert job.file_name == "customers-index-as-of-20261207T010000Z-all.csv"
    assert export_file_path(job).is_file()


def test_as_of_is_taken_when_the_export_runs(manager, synced):
    record(1)
    queued = start(manager, ExportFilter(enabled=True))
    assert queued.as_of == SYNCED_AT
    sync_run(finished_at=SYNCED_AT + timedelta(hours=1))

    job = export_run(job_id=queued.pk)

    assert job.as_of == SYNCED_AT + timedelta(hours=1)
    assert job.file_name == "customers-index-as-of-20261207T020000Z-filtered.csv"


# --- The request: service, audit, retry, estimate --------------------------------------------------


def test_an_index_that_was_never_synced_cannot_be_exported(manager):
    record(1)
    sync_run(status=SyncRun.Status.FAILED)

    with pytest.raises(IndexNotSynced):
        start(manager)

    assert ExportJob.objects.count() == 0
    assert not AuditEntry.objects.filter(action=Action.EXPORT_CUSTOMERS).exists()


def test_the_audit_trail_names_the_source_of_the_request_and_the_outcome(manager, synced):
    record(1)

    job = run(manager)

    requested = AuditEntry.objects.get(action=Action.EXPORT_CUSTOMERS)
    finished = AuditEntry.objects.get(action=Action.EXPORT_FINISHED)
    assert (
        requested.reason
        == f"Export {job.pk}: All customers, from the customer index as of 2026-12-07 01:00 UTC"
    )
    assert finished.outcome == Outcome.SUCCEEDED
    assert finished.reason == (
        f"Export {job.pk} (from the customer index as of 2026-12-07 01:00 UTC): "
        "1 rows written from 1 customers read, 0 credits"
    )
    assert requested.actor_username == finished.actor_username == "morgan"


def test_a_cancel_before_the_first_row_keeps_no_file(manager, synced, export_root):
    record(1)
    queued = start(manager)
    # The user pressed Cancel as the worker picked the job up.
    ExportJob.objects.filter(pk=queued.pk).update(cancel_requested=True)

    job = export_run(job_id=queued.pk)

    assert job.status == Status.CANCELLED
    assert not export_root.exists() or not any(export_root.iterdir())
    assert AuditEntry.objects.get(action=Action.EXPORT_FINISHED).error_code == "cancelled"


def test_the_retry_of_an_index_export_exports_from_the_index_again(manager, synced):
    record(1)
    first = start(manager)
    ExportJob.objects.filter(pk=first.pk).update(status=Status.FAILED, finished_at=timezone.now())
    first.refresh_from_db()

    retry = export_run(job_id=export_retry(actor=Actor(user=manager), job=first).pk)

    assert (retry.source, retry.retry_of_id, retry.status) == (Source.INDEX, first.pk, Status.SUCCEEDED)
    assert ApiCall.objects.count() == 0


def test_the_live_estimate_ignores_exports_from_the_index(manager, synced):
    for number in range(3):
        record(number)
    run(manager)

    assert export_estimate().customers is None


# --- The page --------------------------------------------------------------------------------------


def test_the_form_offers_the_index_first_with_its_as_of_time_when_synced(client, manager, synced):
    client.force_login(manager)

    page = client.get("/exports/").content.decode()

    index = source_radio(page, "index")
    assert "checked" in index and "disabled" not in index
    assert "The customer index (free, instant, as of 2026-12-07 01:00 UTC)" in page
    assert "Live from Tatum (1 credit per 50 customers" in page
    assert "Customers missing from Tatum (not found by that sync) are left out." in page


def test_the_form_disables_the_index_with_the_reason_when_it_was_never_synced(client, manager):
    client.force_login(manager)

    page = client.get("/exports/").content.decode()

    assert "disabled" in source_radio(page, "index")
    assert "checked" in source_radio(page, "live")
    assert "The customer index (not available: it has never been synced)" in page


def test_posting_the_index_before_any_sync_is_refused_with_a_message(client, manager):
    client.force_login(manager)

    response = client.post("/exports/new/", {"source": "index", "scope": "all"})

    assert response.status_code == 400
    assert (
        "The customer index has never been synced, so it cannot be exported yet." in response.content.decode()
    )
    assert ExportJob.objects.count() == 0


def test_a_manager_exports_from_the_index_and_downloads_the_file(client, manager, synced, settings):
    settings.TASKS = IMMEDIATE
    record(1, external_id="alice")
    record(2, external_id="bob", enabled=False)
    client.force_login(manager)

    response = client.post("/exports/new/", {"source": "index", "scope": "filtered", "enabled": "no"})

    job = ExportJob.objects.get()
    assert response.status_code == 302
    assert response["Location"] == f"/exports/{job.pk}/"
    assert (job.source, job.status, job.as_of) == (Source.INDEX, Status.SUCCEEDED, SYNCED_AT)
    detail = client.get(response["Location"]).content.decode()
    assert "From the customer index as of 2026-12-07 01:00 UTC" in detail
    assert "written from the customer index as of 2026-12-07 01:00 UTC, with no call to Tatum" in detail
    download = client.get(f"/exports/{job.pk}/download/")
    assert download["Content-Disposition"] == (
        'attachment; filename="customers-index-as-of-20261207T010000Z-filtered.csv"'
    )
    text = b"".join(download.streaming_content).decode("utf-8-sig")
    assert [row["externalId"] for row in csv.DictReader(io.StringIO(text))] == ["bob"]


def test_a_form_posted_without_a_source_exports_live(client, manager, synced):
    client.force_login(manager)

    client.post("/exports/new/", {"scope": "all"})

    assert ExportJob.objects.get().source == Source.LIVE


@pytest.mark.parametrize("role", ["Support", "Compliance", None], ids=["Support", "Compliance", "no-role"])
def test_roles_without_the_export_permission_cannot_export_the_index(client, synced, role):
    client.force_login(make_user(role, "someone"))

    response = client.post("/exports/new/", {"source": "index", "scope": "all"})

    assert response.status_code == 403
    assert ExportJob.objects.count() == 0
