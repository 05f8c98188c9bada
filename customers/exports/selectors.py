"""Reads about exports: the jobs a user may see, their progress, the next export's cost, file paths."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from django.conf import settings
from django.db.models import QuerySet
from django.utils import timezone

from customers.exports.filters import ExportFilter
from customers.exports.models import ExportJob
from customers.index.models import CustomerRecord
from customers.index.reader import read_window
from customers.index.runs import ProgressBar
from customers.tatum import CREDIT_COSTS, MAX_PAGE_SIZE
from customers.templatetags.customer_tags import duration_words

Status = ExportJob.Status

PAGE_SIZE = MAX_PAGE_SIZE


# --- Jobs ------------------------------------------------------------------------------------------


def export_jobs_visible_to(user: Any) -> QuerySet[ExportJob]:
    """A manager sees their own exports; a superuser sees everyone's."""
    jobs = ExportJob.objects.all()
    return jobs if user.is_superuser else jobs.filter(user=user)


def export_can_see(user: Any, job: ExportJob) -> bool:
    return bool(user.is_superuser or (job.user_id is not None and job.user_id == user.pk))


def export_unfinished_for(user: Any) -> ExportJob | None:
    """The user's export that is waiting or running, if any; one that stopped reporting does not count."""
    for job in ExportJob.objects.filter(user=user, status__in=ExportJob.ACTIVE_STATUSES):
        if not job.is_stalled:
            return job
    return None


def export_stalled_for(user: Any) -> list[ExportJob]:
    """The user's running exports whose worker stopped reporting (newest first)."""
    return [job for job in ExportJob.objects.filter(user=user, status=Status.RUNNING) if job.is_stalled]


def export_scope_text(job: ExportJob) -> str:
    """What the job exports, in words."""
    if job.scope == ExportJob.Scope.ALL:
        return "All customers"
    return "Customers matching: " + ExportFilter.from_json(job.filters).describe()


def export_source_text(job: ExportJob) -> str:
    """Where the job's customers come from, in words."""
    if job.source != ExportJob.Source.INDEX:
        return "live from Tatum"
    if job.as_of is None:
        return "from the customer index"
    return f"from the customer index as of {export_as_of_text(job.as_of)}"


def export_as_of_text(as_of: datetime) -> str:
    """The time of the index, as pages and audit entries say it: "2026-12-07 01:00 UTC"."""
    return f"{as_of.astimezone(UTC):%Y-%m-%d %H:%M} UTC"


# --- The customer index as a source ----------------------------------------------------------------


def export_index_records(export_filter: ExportFilter) -> QuerySet[CustomerRecord]:
    """The rows an export from the index writes: those matching the filter, by internal id, leaving
    out the customers the last complete sync did not find in Tatum (missing from Tatum)."""
    lookups = {
        "active": export_filter.active,
        "enabled": export_filter.enabled,
        "customer_country": export_filter.customer_country,
        "compliance_gap": export_filter.compliance_gap,
    }
    chosen = {field: value for field, value in lookups.items() if value is not None}
    return CustomerRecord.objects.filter(missing_since__isnull=True, **chosen).order_by("tatum_id")


# --- Files -----------------------------------------------------------------------------------------


def export_file_path(job: ExportJob) -> Path | None:
    """Where the finished file lives: the job id keeps two exports started in one second apart."""
    if not job.file_name:
        return None
    return Path(settings.EXPORT_ROOT) / f"{job.pk}-{job.file_name}"


def export_partial_file_path(job: ExportJob) -> Path:
    """Where the current run writes the file until it is complete: one file per attempt, so a worker
    that comes back after another took its job over can never write into the new run's file."""
    return Path(settings.EXPORT_ROOT) / f".{job.pk}-try{job.attempts}-{job.file_name}.part"


def export_checkpoint_path(job: ExportJob) -> Path | None:
    """The partial file holding the job's checkpoint (the pages it has written), if it has one."""
    if not job.partial_name:
        return None
    return Path(settings.EXPORT_ROOT) / job.partial_name


def export_file_available(job: ExportJob) -> bool:
    if job.status != Status.SUCCEEDED or job.file_removed_at is not None:
        return False
    path = export_file_path(job)
    return path is not None and path.is_file()


# --- Estimates -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ExportEstimate:
    """What an export will cost, from the last complete export (None when there was none)."""

    customers: int | None
    pages: int | None
    credits: int | None
    seconds: float | None
    credits_per_page: int = CREDIT_COSTS["GET"]
    page_size: int = PAGE_SIZE

    @property
    def duration(self) -> str:
        return duration_words(self.seconds)


def export_estimate() -> ExportEstimate:
    """Cost and duration of reading the whole ledger, judged by the last export that read all of it."""
    live = ExportJob.objects.filter(status=Status.SUCCEEDED, source=ExportJob.Source.LIVE)
    last = live.order_by("-finished_at", "-id").first()
    if last is None:
        return ExportEstimate(customers=None, pages=None, credits=None, seconds=None)
    # The last page is the first one that comes back short (empty when the count divides evenly), and
    # the pages read ahead of it are charged too: at most a window less one (`read_window`).
    pages = last.rows_read // PAGE_SIZE + 1
    credits = (pages + read_window(settings.TATUM_EXPORT_CONCURRENCY) - 1) * CREDIT_COSTS["GET"]
    seconds = pages / settings.TATUM_MAX_RPS
    if last.started_at and last.finished_at:
        seconds = max(seconds, (last.finished_at - last.started_at).total_seconds())
    return ExportEstimate(customers=last.rows_read, pages=pages, credits=credits, seconds=seconds)


# --- Progress --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ExportProgress(ProgressBar):
    """What the progress page shows, worked out from the job row."""

    job: ExportJob
    elapsed: timedelta | None
    rows_per_second: float | None
    bar_value: int | None
    bar_max: int | None
    seconds_left: float | None

    @property
    def determinate(self) -> bool:
        return self.bar_value is not None

    @property
    def time_left_text(self) -> str:
        return duration_words(self.seconds_left)

    @property
    def waiting_seconds(self) -> float:
        """How long a queued job has waited for a worker."""
        return (timezone.now() - self.job.created_at).total_seconds()


def export_progress(job: ExportJob) -> ExportProgress:
    now = timezone.now()
    elapsed = rate = None
    if job.started_at is not None:
        elapsed = (job.finished_at or now) - job.started_at
        measured = ((job.finished_at or job.heartbeat_at or now) - job.started_at).total_seconds()
        rate = job.rows_read / measured if measured > 0 and job.rows_read else None
    value, maximum = _bar(job)
    seconds_left = None
    if job.is_active and rate and maximum and value is not None:
        seconds_left = max(maximum - value, 0) / rate
    return ExportProgress(job, elapsed, rate, value, maximum, seconds_left)


def _bar(job: ExportJob) -> tuple[int | None, int | None]:
    if job.status == Status.SUCCEEDED:
        total = max(job.rows_read, 1)
        return total, total
    if job.estimated_rows:
        # The ledger may have grown since the estimate: never show more than a full bar.
        maximum = max(job.estimated_rows, job.rows_read)
        return job.rows_read, maximum
    return None, None
