"""The audit log as CSV: content row by row, formula neutralising, streaming and its own audit entry."""

from __future__ import annotations

import csv
import io
import re
from datetime import UTC, datetime
from unittest import mock

import pytest
from django.http import StreamingHttpResponse
from django.utils import timezone

from customers.audit.models import AuditEntry
from customers.audit.services import CSV_COLUMNS
from customers.audit.trail import Actor, audit_entry_record
from tests.customers.conftest import CUSTOMER_ID
from tests.users import make_user

Action = AuditEntry.Action
Outcome = AuditEntry.Outcome
FILE_NAME = re.compile(r'^attachment; filename="audit-log-\d{8}-\d{6}Z\.csv"$')


def record(user=None, *, at: datetime, action=Action.DISABLE, outcome=Outcome.SUCCEEDED, **fields):
    actor = Actor(user=user, request_id=fields.pop("request_id", "req-export-0001"), ip="10.0.0.7")
    with mock.patch("customers.audit.trail.timezone.now", return_value=at):
        return audit_entry_record(actor=actor, action=action, outcome=outcome, **fields)


def read_csv(response) -> list[list[str]]:
    body = b"".join(response.streaming_content).decode("utf-8")
    return list(csv.reader(io.StringIO(body, newline="")))


@pytest.fixture
def officer(db):
    return make_user("Compliance", "olivia")


@pytest.fixture
def officer_client(client, officer):
    client.force_login(officer)
    return client


@pytest.fixture
def sam(db):
    return make_user("Support", "sam")


def test_the_csv_has_a_header_and_one_row_per_entry_newest_first(officer_client, sam):
    disable = record(
        sam,
        at=datetime(2024, 5, 1, 9, 30, 5, tzinfo=UTC),
        customer_id=CUSTOMER_ID,
        customer_external_id="cust-001",
        changes={"enabled": [True, False]},
        reason="Ticket 42",
    )
    failed = record(
        sam,
        at=datetime(2024, 5, 2, 10, 0, 0, tzinfo=UTC),
        action=Action.UPDATE,
        outcome=Outcome.FAILED,
        customer_id=CUSTOMER_ID,
        customer_external_id="cust-001",
        changes={"customerCountry": [None, "DE"]},
        http_status=400,
        error_code="validation.failed",
        error_message="Request validation failed.",
        request_id="req-update-0002",
    )

    rows = read_csv(officer_client.get("/audit/export/"))

    assert rows[0] == [name for name, _ in CSV_COLUMNS]
    assert rows[0][:10] == [
        "Entry",
        "Started (UTC)",
        "Finished (UTC)",
        "Who",
        "Action",
        "Customer internal id",
        "Customer external id",
        "Change (before -> after)",
        "Reason",
        "Outcome",
    ]
    assert len(rows) == 3
    assert rows[1] == [
        str(failed.pk),
        "2024-05-02 10:00:00",
        "2024-05-02 10:00:00",
        "sam",
        "Edit",
        CUSTOMER_ID,
        "cust-001",
        "customerCountry: (not set) -> DE",
        "",
        "Failed",
        "400",
        "validation.failed",
        "Request validation failed.",
        "req-update-0002",
        "10.0.0.7",
        "",
        str(failed.sequence),
        disable.entry_hash,
        failed.entry_hash,
    ]
    assert rows[2][:10] == [
        str(disable.pk),
        "2024-05-01 09:30:05",
        "2024-05-01 09:30:05",
        "sam",
        "Disable",
        CUSTOMER_ID,
        "cust-001",
        "enabled: yes -> no",
        "Ticket 42",
        "Succeeded",
    ]
    assert rows[2][-3:] == [str(disable.sequence), "", disable.entry_hash]


def test_the_csv_holds_only_the_filtered_entries(officer_client, sam):
    day = datetime(2024, 5, 1, tzinfo=UTC)
    wanted = record(sam, at=day, outcome=Outcome.DENIED, customer_id=CUSTOMER_ID)
    record(sam, at=day, outcome=Outcome.SUCCEEDED, customer_id=CUSTOMER_ID)
    record(sam, at=day, outcome=Outcome.DENIED, customer_id="6f00000000000000000000aa")

    rows = read_csv(officer_client.get(f"/audit/export/?outcome=denied&customer={CUSTOMER_ID}"))

    assert [row[0] for row in rows[1:]] == [str(wanted.pk)]


def test_text_that_a_spreadsheet_would_run_is_neutralised_in_every_cell(officer_client):
    attacker = make_user("Support", "=cmd|' /C calc'!A0")
    record(
        attacker,
        at=datetime(2024, 5, 1, tzinfo=UTC),
        customer_id=CUSTOMER_ID,
        customer_external_id="+SUM(A1:A9)",
        reason='=HYPERLINK("http://evil.example/","click")',
        error_code="@import",
        error_message="-2+3",
        request_id="req-formula-0001",
    )

    row = read_csv(officer_client.get("/audit/export/"))[1]

    by_name = dict(zip([name for name, _ in CSV_COLUMNS], row, strict=True))
    assert by_name["Who"] == "'=cmd|' /C calc'!A0"
    assert by_name["Customer external id"] == "'+SUM(A1:A9)"
    assert by_name["Reason"] == '\'=HYPERLINK("http://evil.example/","click")'
    assert by_name["Tatum error code"] == "'@import"
    assert by_name["Tatum error message"] == "'-2+3"
    assert not any(cell[:1] in ("=", "+", "-", "@", "\t", "\r") for cell in row)


def test_the_export_streams_row_by_row_under_a_timestamped_file_name(officer_client, sam):
    record(sam, at=datetime(2024, 5, 1, tzinfo=UTC))

    response = officer_client.get("/audit/export/")

    assert response.status_code == 200
    assert isinstance(response, StreamingHttpResponse)
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert FILE_NAME.match(response["Content-Disposition"]), response["Content-Disposition"]
    chunks = iter(response.streaming_content)
    assert next(chunks).decode().startswith("Entry,Started (UTC),")
    assert next(chunks).decode().startswith(str(AuditEntry.objects.get(action=Action.DISABLE).pk))
    response.close()  # as the server does when the client goes away: the database cursor is released


def test_the_export_is_recorded_and_sealed_with_its_filters_and_count(officer_client, officer, sam):
    day = datetime(2024, 5, 1, tzinfo=UTC)
    record(sam, at=day, outcome=Outcome.FAILED)
    record(sam, at=day, outcome=Outcome.FAILED)
    record(sam, at=day, outcome=Outcome.SUCCEEDED)

    response = officer_client.get("/audit/export/?outcome=failed&date_from=2024-05-01&actor=sam")
    rows = read_csv(response)

    export = AuditEntry.objects.get(action=Action.EXPORT_AUDIT)
    assert export.actor == officer
    assert export.outcome == Outcome.SUCCEEDED
    assert export.is_final
    assert export.reason == (
        "Exported 2 entries as CSV. Filters: who = sam; outcome = Failed; from 2024-05-01 (UTC)."
    )
    assert export.request_id == response["X-Request-ID"]
    assert str(export.pk) not in [row[0] for row in rows[1:]]


def test_exporting_the_whole_log_says_so_and_excludes_its_own_record(officer_client, sam):
    record(sam, at=datetime(2024, 5, 1, tzinfo=UTC))

    rows = read_csv(officer_client.get("/audit/export/"))

    export = AuditEntry.objects.get(action=Action.EXPORT_AUDIT)
    assert export.reason == "Exported 1 entry as CSV. Filters: none (the whole log)."
    assert len(rows) == 2
    # The next export includes the first one's record.
    rows_again = read_csv(officer_client.get("/audit/export/"))
    assert str(export.pk) in [row[0] for row in rows_again[1:]]


def test_invalid_filters_export_nothing_and_lead_back_to_the_explained_form(officer_client, sam):
    record(sam, at=datetime(2024, 5, 1, tzinfo=UTC))

    response = officer_client.get("/audit/export/?date_from=2024-13-01", follow=True)

    assert response.redirect_chain[0][0] == "/audit/?date_from=2024-13-01"
    page = response.content.decode()
    assert "Nothing was exported: correct the filters first." in page
    assert "Enter the date as YYYY-MM-DD" in page
    assert not AuditEntry.objects.filter(action=Action.EXPORT_AUDIT).exists()


def test_the_log_page_offers_the_csv_of_the_current_filters(officer_client, sam):
    record(sam, at=timezone.now(), outcome=Outcome.FAILED)

    page = officer_client.get("/audit/?outcome=failed&actor=sam").content.decode()

    assert 'href="/audit/export/?actor=sam&amp;outcome=failed"' in page
    assert 'Download CSV<span class="visually-hidden"> of the 1 entry shown by these filters</span>' in page
