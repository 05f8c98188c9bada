"""`manage.py prune_exports`: files past the retention period go; the export rows stay."""

from __future__ import annotations

import io
import os
from datetime import timedelta

import pytest
from django.core.management import call_command
from django.utils import timezone

from customers.exports.models import ExportJob
from tests.users import make_user

pytestmark = pytest.mark.django_db


@pytest.fixture
def export_root(settings, tmp_path):
    settings.EXPORT_ROOT = tmp_path / "exports"
    settings.EXPORT_ROOT.mkdir()
    settings.EXPORT_RETENTION_DAYS = 30
    return settings.EXPORT_ROOT


def job_with_file(export_root, *, days_ago: float) -> ExportJob:
    finished = timezone.now() - timedelta(days=days_ago)
    user = make_user("Manager", f"manager-{ExportJob.objects.count()}")
    job = ExportJob.objects.create(
        user=user,
        username=user.username,
        scope=ExportJob.Scope.ALL,
        status=ExportJob.Status.SUCCEEDED,
        created_at=finished,
        started_at=finished,
        finished_at=finished,
        file_name="customers-all-20261025T120000Z.csv",
    )
    (export_root / f"{job.pk}-{job.file_name}").write_text("id\r\n" * 100)
    return job


def prune(*args: str) -> str:
    out = io.StringIO()
    call_command("prune_exports", *args, stdout=out)
    return out.getvalue()


def test_files_older_than_the_retention_period_are_removed_and_marked(export_root):
    old = job_with_file(export_root, days_ago=31)
    recent = job_with_file(export_root, days_ago=29)

    output = prune()

    assert output.strip() == "Removed 1 export file (400\xa0bytes) older than 30 days."
    assert sorted(path.name for path in export_root.iterdir()) == [f"{recent.pk}-{recent.file_name}"]
    old.refresh_from_db()
    recent.refresh_from_db()
    assert old.file_removed_at is not None and recent.file_removed_at is None
    assert ExportJob.objects.count() == 2, "the history of exports stays"


def test_a_dry_run_removes_nothing(export_root):
    old = job_with_file(export_root, days_ago=40)

    assert prune("--dry-run").startswith("Would remove 1 export file")

    old.refresh_from_db()
    assert old.file_removed_at is None
    assert len(list(export_root.iterdir())) == 1


def test_days_can_be_given_on_the_command_line(export_root):
    job_with_file(export_root, days_ago=3)

    assert prune("--days", "2").startswith("Removed 1 export file")


def test_partial_files_left_by_a_stopped_worker_are_removed_when_old(export_root):
    stale = export_root / ".7-customers-all-20261001T120000Z.csv.part"
    fresh = export_root / ".8-customers-all-20261125T120000Z.csv.part"
    unrelated = export_root / "notes.txt"
    for path in (stale, fresh, unrelated):
        path.write_text("x")
    month_ago = (timezone.now() - timedelta(days=31)).timestamp()
    os.utime(stale, (month_ago, month_ago))
    os.utime(unrelated, (month_ago, month_ago))

    prune()

    assert sorted(path.name for path in export_root.iterdir()) == [fresh.name, unrelated.name]


def test_a_missing_export_folder_is_not_an_error(settings, tmp_path):
    settings.EXPORT_ROOT = tmp_path / "never-created"

    assert prune().startswith("Removed 0 export files")
