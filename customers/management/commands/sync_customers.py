"""`manage.py sync_customers [--enqueue] [--if-empty]`: read the whole ledger from Tatum into the
customer index, the same job managers start from the sync page. What a nightly timer runs.

By default the sync runs here, in the foreground, printing its progress and the credits spent; the exit
code is non-zero when it did not finish. `--enqueue` queues it for the task worker instead and returns at
once. `--if-empty` does nothing when the index already holds customers (first start of `make run`).
"""

from __future__ import annotations

import time
from argparse import ArgumentParser
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from customers.audit.trail import Actor
from customers.background import RunNotQueued
from customers.index.engine import sync_run
from customers.index.models import SyncRun
from customers.index.runs import index_size
from customers.index.services import SyncAlreadyRunning, sync_start

# At most one progress line this often.
PROGRESS_EVERY_SECONDS = 2.0


class Command(BaseCommand):
    help = "Read every customer from Tatum into the customer index (1 credit per page of 50 customers)."

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument(
            "--enqueue", action="store_true", help="Queue the sync for the task worker and return at once."
        )
        parser.add_argument(
            "--if-empty", action="store_true", help="Do nothing when the index already holds customers."
        )

    def handle(self, *args: Any, **options: Any) -> None:
        if options["if_empty"] and (size := index_size()):
            self.stdout.write(f"The index already holds {size} customers: no sync started.")
            return
        try:
            run = sync_start(actor=Actor(user=None), enqueue=options["enqueue"])
        except SyncAlreadyRunning as running:
            raise CommandError(
                f"Sync {running.run.pk} is already running; wait for it or cancel it."
            ) from None
        except RunNotQueued as failed:
            raise CommandError(f"Sync {failed.run.pk}: {failed.run.error_message}") from failed
        if options["enqueue"]:
            self.stdout.write(f"Sync {run.pk} queued: the task worker (manage.py db_worker) runs it.")
            return
        self.stdout.write(f"Sync {run.pk} started.")
        self.last_line = 0.0
        run = sync_run(run_id=run.pk, on_progress=self._progress)
        self._report(run)

    def _progress(self, run: SyncRun) -> None:
        if (
            time.monotonic() - self.last_line >= PROGRESS_EVERY_SECONDS
            and run.status == SyncRun.Status.RUNNING
        ):
            self.last_line = time.monotonic()
            self.stdout.write(
                f"  {run.pages_read} pages, {run.customers_read} customers read, {run.credits_spent} credits"
            )

    def _report(self, run: SyncRun) -> None:
        summary = f"{run.customers_read} customers read in {run.pages_read} pages"
        summary += f", {run.credits_spent} credits spent"
        if run.status == SyncRun.Status.SUCCEEDED:
            self.stdout.write(
                self.style.SUCCESS(f"Sync {run.pk} finished: {summary}, {run.marked_missing} marked missing.")
            )
            return
        raise CommandError(
            f"Sync {run.pk} {run.get_status_display().lower()}: {summary}. {run.error_message}"
        )
