"""The export task, run through Django's Tasks API (`django-tasks`; the worker is `manage.py db_worker`).

Tasks take ids, not objects: the arguments are stored as JSON until a worker picks the task up, and the
job row is the state, so a task can run on any worker, after any restart.
"""

from __future__ import annotations

from typing import Any

from django_tasks import task

from customers.exports.engine import export_run


@task()
def export_customers(job_id: int) -> dict[str, Any]:
    """Run one customer export (an `ExportJob` row) to the end; the job row records the outcome."""
    job = export_run(job_id=job_id)
    return {"job": job.pk, "status": job.status, "rows_written": job.rows_written}
