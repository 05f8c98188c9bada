"""The sync task, run through Django's Tasks API (`django-tasks`; the worker is `manage.py db_worker`).

It takes the run's id, not the run: the arguments are stored as JSON until a worker picks the task up,
and the `SyncRun` row is the state.
"""

from __future__ import annotations

from typing import Any

from django_tasks import task

from customers.index.engine import sync_run


@task()
def sync_customers(run_id: int) -> dict[str, Any]:
    """Read the whole ledger into the customer index (a `SyncRun` row records the outcome)."""
    run = sync_run(run_id=run_id)
    return {"run": run.pk, "status": run.status, "customers_read": run.customers_read}
