"""Export pages: who may do what, the form, the progress partial, cancel, retry and downloads.

Jobs here are queued with the default database backend (nothing runs them) or made as a worker would
leave them, so no test in this module talks to Tatum.
"""

from __future__ import annotations

from datetime import timedelta
from types import SimpleNamespace

import pytest
from django.db import DatabaseError
from django.utils import timezone
from django_tasks_db.models import DBTaskResult

from customers.audit.models import AuditEntry
from customers.credits.calls import api_calls_store
from customers.credits.models import ApiCall
from customers.exports import services
from customers.exports.engine import CSV_ENCODING
from customers.exports.models import ExportJob
from tests.users import make_user

Status = ExportJob.Status
Action = AuditEntry.Action
Outcome = AuditEntry.Outcome


@pytest.fixture(autouse=True)
def export_root(settings, tmp_path):
    settings.EXPORT_ROOT = tmp_path / "exports"
    settings.EXPORT_ROOT.mkdir()
    return settings.EXPORT_ROOT


@pytest.fixture
def manager(db):
    return make_user("Manager", "morgan")


@pytest.fixture
def other_manager(db):
    return make_user("Manager", "mika")


@pytest.fixture
def root(db):
    return make_user("superuser", "root")


def finished_job(user, export_root, *, rows: int = 3, **fields) -> ExportJob:
    """A job as the worker leaves it after a complete export, with its file on disk."""
    now = timezone.now()
    values = {
        "user": user,
        "username": user.get_username(),
        "scope": ExportJob.Scope.ALL,
        "status": Status.SUCCEEDED,
        "created_at": now - timedelta(seconds=20),
        "started_at": now - timedelta(seconds=19),
        "heartbeat_at": now - timedelta(seconds=1),
        "finished_at": now - timedelta(seconds=1),
        "pages_read": 1,
        "rows_read": rows,
        "rows_written": rows,
        "credits_spent": 1,
        "file_name": "customers-all-20261125T120000Z.csv",
        **fields,
    }
    job = ExportJob.objects.create(**values)
    content = "id,externalId\r\n" + "".join(f"{n:024x},cust-{n}\r\n" for n in range(rows))
    path = export_root / f"{job.pk}-{job.file_name}"
    path.write_text(content, encoding=CSV_ENCODING)
    ExportJob.objects.filter(pk=job.pk).update(file_size=path.stat().st_size)
    job.refresh_from_db()
    return job


def running_job(user, **fields) -> ExportJob:
    now = timezone.now()
    values = {
        "user": user,
        "username": user.get_username(),
        "scope": ExportJob.Scope.ALL,
        "status": Status.RUNNING,
        "created_at": now - timedelta(seconds=5),
        "started_at": now - timedelta(seconds=4),
        "heartbeat_at": now,
        "pages_read": 4,
        "rows_read": 200,
        "rows_written": 200,
        "credits_spent": 4,
        "file_name": "customers-all-20261125T120000Z.csv",
        **fields,
    }
    return ExportJob.objects.create(**values)


# --- Access ----------------------------------------------------------------------------------------

PAGES = [
    ("list", "get", "/exports/"),
    ("start", "post", "/exports/new/"),
    ("progress", "get", "/exports/{pk}/"),
    ("cancel", "post", "/exports/{pk}/cancel/"),
    ("retry", "post", "/exports/{pk}/retry/"),
    ("download", "get", "/exports/{pk}/download/"),
]


@pytest.mark.parametrize("name,method,path", PAGES, ids=[page[0] for page in PAGES])
def test_anonymous_users_are_sent_to_sign_in(client, manager, export_root, name, method, path):
    job = finished_job(manager, export_root)

    response = getattr(client, method)(path.format(pk=job.pk), {"scope": "all"})

    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/?next=")


@pytest.mark.parametrize("role", ["Support", "Compliance", None], ids=["Support", "Compliance", "no-role"])
@pytest.mark.parametrize("name,method,path", PAGES, ids=[page[0] for page in PAGES])
def test_roles_without_the_export_permission_are_refused(
    client, manager, export_root, role, name, method, path
):
    job = finished_job(manager, export_root)
    client.force_login(make_user(role, "someone"))

    response = getattr(client, method)(path.format(pk=job.pk), {"scope": "all"})

    assert response.status_code == 403
    assert ExportJob.objects.count() == 1
    if method == "post":
        denied = AuditEntry.objects.get(outcome=Outcome.DENIED)
        assert denied.action == Action.EXPORT_CUSTOMERS


def test_a_manager_sees_only_their_own_exports(client, manager, other_manager, export_root):
    mine = finished_job(manager, export_root)
    theirs = finished_job(other_manager, export_root)
    client.force_login(manager)

    page = client.get("/exports/").content.decode()

    assert f"/exports/{mine.pk}/" in page
    assert f"/exports/{theirs.pk}/" not in page
    assert client.get(f"/exports/{theirs.pk}/").status_code == 404
    assert client.post(f"/exports/{theirs.pk}/retry/").status_code == 404
    assert client.post(f"/exports/{theirs.pk}/cancel/").status_code == 404


def test_a_superuser_sees_everyones_exports_with_their_owner(
    client, manager, other_manager, root, export_root
):
    first = finished_job(manager, export_root)
    second = finished_job(other_manager, export_root)
    client.force_login(root)

    page = client.get("/exports/").content.decode()

    assert f"/exports/{first.pk}/" in page and f"/exports/{second.pk}/" in page
    assert "morgan" in page and "mika" in page
    assert client.get(f"/exports/{second.pk}/").status_code == 200


# --- Downloads -------------------------------------------------------------------------------------


def test_the_owner_downloads_the_file_as_an_attachment_and_it_is_audited(client, manager, export_root):
    job = finished_job(manager, export_root, rows=3)
    client.force_login(manager)

    response = client.get(f"/exports/{job.pk}/download/")

    assert response.status_code == 200
    assert response["Content-Disposition"] == 'attachment; filename="customers-all-20261125T120000Z.csv"'
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    body = b"".join(response.streaming_content)
    assert body.startswith(b"\xef\xbb\xbfid,externalId\r\n")
    assert body.count(b"\r\n") == 4
    entry = AuditEntry.objects.get(action=Action.DOWNLOAD_EXPORT)
    assert (entry.outcome, entry.actor) == (Outcome.SUCCEEDED, manager)
    assert job.file_name in entry.reason


def test_a_superuser_may_download_another_users_export(client, manager, root, export_root):
    job = finished_job(manager, export_root)
    client.force_login(root)

    assert client.get(f"/exports/{job.pk}/download/").status_code == 200


def test_another_managers_download_is_refused_as_missing_and_audited(
    client, manager, other_manager, export_root
):
    job = finished_job(manager, export_root)
    client.force_login(other_manager)

    response = client.get(f"/exports/{job.pk}/download/")

    assert response.status_code == 404
    entry = AuditEntry.objects.get(action=Action.DOWNLOAD_EXPORT)
    assert (entry.outcome, entry.actor) == (Outcome.DENIED, other_manager)


def test_a_missing_file_is_a_404_recorded_as_a_failed_download(client, manager, export_root):
    job = finished_job(manager, export_root)
    (export_root / f"{job.pk}-{job.file_name}").unlink()
    client.force_login(manager)

    assert client.get(f"/exports/{job.pk}/download/").status_code == 404
    assert "File missing" in client.get("/exports/").content.decode()
    entry = AuditEntry.objects.get(action=Action.DOWNLOAD_EXPORT)
    assert (entry.outcome, entry.error_message) == (Outcome.FAILED, "File missing")


def test_unfinished_and_unknown_exports_have_nothing_to_download(client, manager):
    job = running_job(manager)
    client.force_login(manager)

    assert client.get(f"/exports/{job.pk}/download/").status_code == 404
    assert client.get("/exports/99999/download/").status_code == 404


# --- Starting ---------------------------------------------------------------------------------------


def test_starting_an_export_queues_a_task_and_shows_its_progress_page(client, manager):
    client.force_login(manager)

    response = client.post("/exports/new/", {"scope": "all"})

    job = ExportJob.objects.get()
    assert response.status_code == 302 and response["Location"] == f"/exports/{job.pk}/"
    assert (job.status, job.user, job.scope, job.filters) == (Status.QUEUED, manager, "all", {})
    task = DBTaskResult.objects.get(pk=job.task_id)
    assert task.task_path == "customers.exports.tasks.export_customers"
    assert task.args_kwargs == {"args": [job.pk], "kwargs": {}}
    entry = AuditEntry.objects.get(action=Action.EXPORT_CUSTOMERS)
    assert entry.outcome == Outcome.SUCCEEDED and f"Export {job.pk}" in entry.reason


def queue_down(*args, **kwargs):
    raise DatabaseError("the task queue's table is locked")


def test_an_export_that_cannot_be_queued_fails_at_once_and_its_page_says_so(client, manager, monkeypatch):
    monkeypatch.setattr(services, "export_customers", SimpleNamespace(enqueue=queue_down))
    client.force_login(manager)

    response = client.post("/exports/new/", {"scope": "all"}, follow=True)

    job = ExportJob.objects.get()
    assert (job.status, job.error_code) == (Status.FAILED, "queue") and job.finished_at is not None
    assert response.redirect_chain == [(f"/exports/{job.pk}/", 302)]
    assert (
        f"Export {job.pk}: The export could not be queued. Try again in a minute."
        in response.content.decode()
    )
    finished = AuditEntry.objects.get(action=Action.EXPORT_FINISHED)
    assert finished.outcome == Outcome.FAILED


def test_a_filtered_export_stores_its_filters(client, manager):
    client.force_login(manager)

    client.post(
        "/exports/new/",
        {
            "scope": "filtered",
            "active": "no",
            "enabled": "yes",
            "customer_country": "DE",
            "compliance_gap": "yes",
        },
    )

    job = ExportJob.objects.get()
    assert job.scope == "filtered"
    assert job.filters == {"active": False, "enabled": True, "customer_country": "DE", "compliance_gap": True}
    page = client.get(f"/exports/{job.pk}/").content.decode()
    assert "Customers matching: inactive, enabled, customer country Germany (DE), missing a country" in page


@pytest.mark.parametrize(
    "data,message",
    [
        ({"scope": "filtered"}, "Choose at least one filter, or export all customers."),
        ({"scope": "all", "active": "yes"}, "You chose filters but asked for all customers"),
        ({"scope": "filtered", "customer_country": "XX"}, "Select a valid choice."),
    ],
    ids=["filtered-without-filters", "all-with-filters", "unknown-country"],
)
def test_an_incomplete_form_is_shown_again_with_the_reason(client, manager, data, message):
    client.force_login(manager)

    response = client.post("/exports/new/", data)

    assert response.status_code == 400
    assert message in response.content.decode()
    assert not ExportJob.objects.exists()


def test_a_second_export_while_one_runs_leads_to_the_running_one(client, manager):
    running = running_job(manager)
    client.force_login(manager)

    response = client.post("/exports/new/", {"scope": "all"})

    assert response["Location"] == f"/exports/{running.pk}/"
    assert ExportJob.objects.count() == 1


def test_the_form_states_the_cost_and_estimates_it_from_the_last_complete_export(
    client, manager, export_root
):
    client.force_login(manager)
    assert "No export has finished yet" in client.get("/exports/").content.decode()

    finished_job(manager, export_root, rows=10_000)
    page = client.get("/exports/").content.decode()

    assert "1 Tatum credit per page of 50 customers read" in page
    assert "The last complete export read 10,000 customers" in page
    assert "208 credits" in page, "201 pages, and up to 7 read ahead of the last one (concurrency 4)"


# --- Progress ---------------------------------------------------------------------------------------


def test_progress_partial_polls_while_running_with_a_bar_against_the_estimate(client, manager):
    job = running_job(manager, estimated_rows=1000)
    client.force_login(manager)

    partial = client.get(f"/exports/{job.pk}/", headers={"HX-Request": "true"}).content.decode()

    assert partial.lstrip().startswith('<section id="export-progress"')
    assert 'hx-trigger="every 1s"' in partial
    assert '<progress id="export-bar" value="200" max="1000">' in partial
    assert "20% of about 1,000 customers" in partial
    assert "Cancel export" in partial
    for label in ("Pages read", "Customers read", "Rows written", "Rate", "Elapsed", "Credits spent"):
        assert label in partial


def test_progress_says_how_many_calls_failed_and_were_made_again(client, manager):
    job = running_job(manager, page_retries=2, duplicates_skipped=1)
    client.force_login(manager)

    partial = client.get(f"/exports/{job.pk}/", headers={"HX-Request": "true"}).content.decode()

    assert "2 calls to Tatum failed and were made again." in partial
    assert "1 customer appeared twice while the ledger changed and was written once." in partial


def test_each_poll_of_the_progress_brings_the_header_credits_up_to_date(client, manager):
    job = running_job(manager)
    client.force_login(manager)
    page = client.get(f"/exports/{job.pk}/").content.decode()
    assert "0 credits today" in page

    # The export's worker reads a page of customers as the manager, between two polls.
    api_calls_store(
        [
            ApiCall(
                at=timezone.now(),
                user=manager,
                method="GET",
                route="/v3/ledger/customer",
                duration_ms=5,
                credits=1,
            )
        ]
    )
    partial = client.get(f"/exports/{job.pk}/", headers={"HX-Request": "true"}).content.decode()

    assert '<span id="credits-today" hx-swap-oob="innerHTML">1 credit today</span>' in partial


def test_without_an_earlier_export_the_bar_is_indeterminate(client, manager):
    job = running_job(manager)
    client.force_login(manager)

    partial = client.get(f"/exports/{job.pk}/", headers={"HX-Request": "true"}).content.decode()

    assert '<progress id="export-bar">' in partial


def test_a_finished_export_stops_polling_and_offers_the_file(client, manager, export_root):
    job = finished_job(manager, export_root)
    client.force_login(manager)

    partial = client.get(f"/exports/{job.pk}/", headers={"HX-Request": "true"}).content.decode()

    assert "hx-trigger" not in partial
    assert "Finished in" in partial
    assert f'href="/exports/{job.pk}/download/"' in partial


def test_a_failed_export_says_why_and_offers_a_retry(client, manager):
    job = running_job(
        manager,
        status=Status.FAILED,
        finished_at=timezone.now(),
        error_code="http_500",
        error_message="Page 3 could not be read. Tatum had an internal error.",
    )
    client.force_login(manager)

    page = client.get(f"/exports/{job.pk}/").content.decode()

    assert "Page 3 could not be read. Tatum had an internal error." in page
    assert f'action="/exports/{job.pk}/retry/"' in page
    assert "hx-trigger" not in page


def test_the_page_is_whole_without_htmx_and_the_list_polls_only_while_work_is_going_on(
    client, manager, export_root
):
    job = running_job(manager)
    client.force_login(manager)

    page = client.get(f"/exports/{job.pk}/").content.decode()
    assert "<html" in page and 'id="export-progress"' in page
    assert 'hx-trigger="every 2s"' in client.get("/exports/").content.decode()

    ExportJob.objects.filter(pk=job.pk).update(status=Status.SUCCEEDED, finished_at=timezone.now())
    assert "hx-trigger" not in client.get("/exports/", headers={"HX-Request": "true"}).content.decode()


def test_a_job_whose_worker_went_silent_is_shown_as_not_responding(client, manager):
    job = running_job(manager, heartbeat_at=timezone.now() - timedelta(minutes=10))
    client.force_login(manager)

    page = client.get(f"/exports/{job.pk}/").content.decode()

    assert "Not responding" in page
    assert f'action="/exports/{job.pk}/retry/"' in page


# --- Cancel and retry -------------------------------------------------------------------------------


def test_cancelling_a_queued_export_ends_it_at_once(client, manager):
    client.force_login(manager)
    client.post("/exports/new/", {"scope": "all"})
    job = ExportJob.objects.get()

    response = client.post(f"/exports/{job.pk}/cancel/", follow=True)

    job.refresh_from_db()
    assert job.status == Status.CANCELLED
    assert "is cancelled" in response.content.decode()
    finished = AuditEntry.objects.get(action=Action.EXPORT_FINISHED)
    assert finished.error_code == "cancelled"


def test_cancelling_a_running_export_raises_the_flag_for_the_worker(client, manager):
    job = running_job(manager)
    client.force_login(manager)

    response = client.post(f"/exports/{job.pk}/cancel/", follow=True)

    job.refresh_from_db()
    assert (job.status, job.cancel_requested) == (Status.RUNNING, True)
    assert "Stopping" in response.content.decode()


def test_retrying_a_failed_export_queues_a_new_job_with_the_same_scope(client, manager):
    failed = running_job(
        manager,
        status=Status.FAILED,
        scope=ExportJob.Scope.FILTERED,
        filters={"active": False},
        finished_at=timezone.now(),
        error_message="Tatum had an internal error.",
    )
    client.force_login(manager)

    response = client.post(f"/exports/{failed.pk}/retry/")

    retry = ExportJob.objects.exclude(pk=failed.pk).get()
    assert response["Location"] == f"/exports/{retry.pk}/"
    assert (retry.status, retry.retry_of, retry.filters) == (Status.QUEUED, failed, {"active": False})
    assert DBTaskResult.objects.filter(pk=retry.task_id).exists()


def test_a_retry_that_cannot_be_queued_fails_at_once_and_its_page_says_so(client, manager, monkeypatch):
    failed = running_job(manager, status=Status.FAILED, finished_at=timezone.now())
    monkeypatch.setattr(services, "export_customers", SimpleNamespace(enqueue=queue_down))
    client.force_login(manager)

    response = client.post(f"/exports/{failed.pk}/retry/", follow=True)

    retry = ExportJob.objects.exclude(pk=failed.pk).get()
    assert (retry.status, retry.error_code, retry.retry_of) == (Status.FAILED, "queue", failed)
    assert response.redirect_chain == [(f"/exports/{retry.pk}/", 302)]
    page = response.content.decode()
    assert f"Export {retry.pk}: The export could not be queued. Try again in a minute." in page


def test_retrying_a_silent_job_stops_it_as_failed_and_queues_one_that_goes_on_from_it(client, manager):
    stalled = running_job(manager, heartbeat_at=timezone.now() - timedelta(minutes=10))
    client.force_login(manager)

    client.post(f"/exports/{stalled.pk}/retry/")

    stalled.refresh_from_db()
    assert (stalled.status, stalled.error_code) == (Status.FAILED, "worker_lost")
    assert ExportJob.objects.filter(retry_of=stalled, status=Status.QUEUED).exists()


def test_a_stalled_export_does_not_block_a_new_one_and_the_new_one_goes_on_from_it(client, manager):
    stalled = running_job(manager, heartbeat_at=timezone.now() - timedelta(seconds=31))
    client.force_login(manager)

    response = client.post("/exports/new/", {"scope": "all"})

    new = ExportJob.objects.exclude(pk=stalled.pk).get()
    assert response["Location"] == f"/exports/{new.pk}/"
    stalled.refresh_from_db()
    assert (stalled.status, stalled.error_code) == (Status.FAILED, "worker_lost")
    assert (new.status, new.retry_of) == (Status.QUEUED, stalled)
    finished = AuditEntry.objects.get(action=Action.EXPORT_FINISHED)
    assert (finished.outcome, finished.error_code) == (AuditEntry.Outcome.FAILED, "worker_lost")


def test_a_new_export_with_another_scope_replaces_a_stalled_one_without_going_on_from_it(client, manager):
    stalled = running_job(manager, heartbeat_at=timezone.now() - timedelta(seconds=31))
    client.force_login(manager)

    client.post("/exports/new/", {"scope": "filtered", "active": "no"})

    new = ExportJob.objects.exclude(pk=stalled.pk).get()
    assert (new.status, new.retry_of) == (Status.QUEUED, None)
    assert ExportJob.objects.get(pk=stalled.pk).status == Status.FAILED


def test_an_export_silent_for_less_than_thirty_seconds_still_blocks_a_second_one(client, manager):
    running = running_job(manager, heartbeat_at=timezone.now() - timedelta(seconds=20))
    client.force_login(manager)

    response = client.post("/exports/new/", {"scope": "all"})

    assert response["Location"] == f"/exports/{running.pk}/"
    assert ExportJob.objects.get() == running


def test_cancelling_a_stalled_export_ends_it_and_deletes_its_partial_file(client, manager, export_root):
    stalled = running_job(manager, heartbeat_at=timezone.now() - timedelta(minutes=1), attempts=1)
    partial = export_root / f".{stalled.pk}-try1-{stalled.file_name}.part"
    partial.parent.mkdir(parents=True, exist_ok=True)
    partial.write_text("id\r\n")
    ExportJob.objects.filter(pk=stalled.pk).update(partial_name=partial.name, partial_bytes=4)
    client.force_login(manager)

    client.post(f"/exports/{stalled.pk}/cancel/")

    stalled.refresh_from_db()
    assert (stalled.status, stalled.partial_name) == (Status.CANCELLED, "")
    assert not partial.exists()
