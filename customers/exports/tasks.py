"""The export tasks, run through Django's Tasks API (`django-tasks`; the worker is `manage.py db_worker`).

Tasks take ids, not objects: the arguments are stored as JSON until a worker picks the task up, and the
job row is the state, so a task can run on any worker, after any restart.

Two tasks per export: `export_customers` runs it, and `export_watch` checks on it. One watch per
export waits in the queue, deferred until just after the export's heartbeat would be
`EXPORT_STALLED_AFTER_SECONDS` old. Every worker polls the queue, so whichever one is free when the
watch falls due runs it, whether it was started before or after the export's worker died; the
watch queues the next one, and when the heartbeat has stopped it takes the export over and
continues it from its checkpoint (see `customers.exports.engine`).
"""

from __future__ import annotations

import logging
import uuid
from datetime import timedelta
from typing import Any

from django.utils import timezone
from django_tasks import TaskContext, TaskResultStatus, task
from django_tasks_db import DatabaseBackend
from django_tasks_db.models import DBTaskResult

from customers.exports.engine import export_continue, export_run, export_take_over
from customers.exports.models import ExportJob

logger = logging.getLogger(__name__)

# How long after the heartbeat would go stale a watch runs: a margin for clocks and polling.
WATCH_MARGIN = timedelta(seconds=1)


@task()
def export_customers(job_id: int) -> dict[str, Any]:
    """Run one customer export (an `ExportJob` row) to the end; the job row records the outcome."""
    return _summary(export_run(job_id=job_id))


@task(takes_context=True)
def export_watch(context: TaskContext, job_id: int) -> dict[str, Any]:
    """Check on an export; when its worker has stopped reporting, take it over and continue it here.

    The next watch is queued first, so a worker that dies while it continues the export is noticed
    in its turn. A watch that finds the export ended queues nothing: the chain ends with the export.
    """
    job = ExportJob.objects.filter(pk=job_id).first()
    if job is None or not job.is_active:
        return {"job": job_id, "watch": "ended"}
    export_watch_schedule(job)
    dead_task_id = job.task_id
    taken = export_take_over(job=job, task_id=str(context.task_result.id))
    if taken is None:
        return {"job": job_id, "watch": "alive"}
    export_task_abandon(task_id=dead_task_id, job=taken)
    return _summary(export_continue(taken))


def export_watch_schedule(job: ExportJob) -> None:
    """Queue the next check on the job, due just after its heartbeat would be stale.

    A backend that cannot defer tasks (the immediate one, in tests) has run the export already.
    """
    if not export_watch.get_backend().supports_defer:
        return
    now = timezone.now()
    # A queued job has no heartbeat yet, and a stalled one is about to get a new one (its takeover).
    last_heard = job.heartbeat_at if job.heartbeat_at and not job.is_stalled else now
    stale_at = last_heard + timedelta(seconds=ExportJob.stalled_after_seconds()) + WATCH_MARGIN
    export_watch.using(run_after=max(stale_at, now)).enqueue(job.pk)


def export_task_abandon(*, task_id: str, job: ExportJob) -> None:
    """Mark the queue row of a run whose worker is gone as failed, so it does not stay RUNNING.

    django-tasks has no call for this (a backend learns a task's outcome only from the worker that
    ran it), so for the database backend this fails its `DBTaskResult` row the way the worker's own
    `set_failed` would, and only while it is still RUNNING. Other backends keep no such row.
    """
    if not isinstance(export_customers.get_backend(), DatabaseBackend):
        return
    try:
        row_id = uuid.UUID(task_id)
    except ValueError:
        return
    reason = f"WorkerLost: the worker running export {job.pk} stopped reporting; another worker took it over."
    DBTaskResult.objects.filter(pk=row_id, status=TaskResultStatus.RUNNING).update(
        status=TaskResultStatus.FAILED,
        finished_at=timezone.now(),
        exception_class_path=f"{__name__}.WorkerLost",
        traceback=reason,
    )


class WorkerLost(Exception):
    """Names, in a task's queue row, why it failed: its worker stopped and another took the job over."""


def _summary(job: ExportJob) -> dict[str, Any]:
    return {"job": job.pk, "status": job.status, "rows_written": job.rows_written}
