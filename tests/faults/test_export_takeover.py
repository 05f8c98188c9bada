"""An export worker killed with SIGKILL halfway through: another worker takes the export over.

The dashboard runs as real processes (tests/faults/deployment.py): its own database (a SQLite file,
or a fresh PostgreSQL database when the tests run on PostgreSQL), a gunicorn sandbox that answers
after some latency and logs every request, and `manage.py db_worker` processes. The processes use
EXPORT_STALLED_AFTER_SECONDS=3, so that an export is judged stalled after 3 seconds instead of 30.

What must hold: the file is complete, with each customer exactly once; the pages written before the
kill are never read again (only those in flight at the kill may be); and the dead worker's task row
does not stay RUNNING.
"""

from __future__ import annotations

import contextlib
import csv
import os
import re
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from customers.exports.selectors import read_window
from tests.faults.deployment import ROOT, Deployment

CUSTOMERS = 2000  # 40 full pages and an empty one
PAGES = CUSTOMERS // 50 + 1
CONCURRENCY = 2
KILL_AFTER_PAGES = 15
LIST_CALL = re.compile(r'"GET /sandbox/v3/ledger/customer\?[^"]*\boffset=(\d+)')
START_EXPORT = """
from django.contrib.auth import get_user_model
from customers.audit.trail import Actor
from customers.exports.filters import ExportFilter
from customers.exports.services import export_start
manager = get_user_model().objects.get(username="manager")
print(export_start(actor=Actor(user=manager, request_id="takeover-drill"), export_filter=ExportFilter()).pk)
"""


@pytest.fixture(scope="module")
def deployed(tmp_path_factory) -> Iterator[Deployment]:
    workdir = tmp_path_factory.mktemp("takeover")
    deployment = Deployment(workdir, latency_ms=40, timeout="2,5")
    deployment.env.update(
        {
            # Taken over after 3 seconds without a heartbeat instead of 30: the drill stays short.
            "EXPORT_STALLED_AFTER_SECONDS": "3",
            "GUNICORN_ACCESS_LOG": str(workdir / "access.log"),
            "TATUM_MAX_RPS": "20",
            "TATUM_EXPORT_CONCURRENCY": str(CONCURRENCY),
        }
    )
    try:
        deployment.start(customers=CUSTOMERS)
        yield deployment
    finally:
        deployment.stop()


class Workers:
    """`manage.py db_worker` processes, each killed (SIGKILL) when the test ends if still running."""

    def __init__(self, deployed: Deployment) -> None:
        self.deployed = deployed
        self.processes: list[subprocess.Popen] = []

    def start(self, name: str) -> subprocess.Popen:
        log = (self.deployed.workdir / f"worker-{name}.log").open("w")
        process = subprocess.Popen(
            [sys.executable, "manage.py", "db_worker", "--no-reload", "--no-startup-delay"]
            + ["--interval", "0.2", "--worker-id", name],
            cwd=ROOT,
            env=self.deployed.env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        self.processes.append(process)
        return process

    def stop_all(self) -> None:
        for process in self.processes:
            with contextlib.suppress(ProcessLookupError):
                process.kill()
            process.wait(timeout=10)


@pytest.fixture
def workers(deployed) -> Iterator[Workers]:
    started = Workers(deployed)
    try:
        yield started
    finally:
        started.stop_all()


def wait_for(what: str, condition: Callable[[], object], *, limit: float) -> object:
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.02)
    raise AssertionError(f"{what}: not within {limit} s")


def job_row(deployed: Deployment, job_id: int) -> dict[str, object]:
    columns = ("status", "pages_read", "rows_read", "attempts", "file_name", "error_message")
    row = deployed.rows(f"SELECT {', '.join(columns)} FROM customers_exportjob WHERE id = %s", (job_id,))[0]
    return dict(zip(columns, row, strict=True))


def task_rows(deployed: Deployment, status: str) -> int:
    sql = "SELECT COUNT(*) FROM django_tasks_database_dbtaskresult WHERE status = %s"
    return deployed.rows(sql, (status,))[0][0]


def abandoned_task_rows(deployed: Deployment) -> int:
    sql = "SELECT COUNT(*) FROM django_tasks_database_dbtaskresult WHERE exception_class_path LIKE %s"
    return deployed.rows(sql, ("%WorkerLost",))[0][0]


def pages_requested(access_log: Path, since_line: int) -> Counter[int]:
    lines = access_log.read_text().splitlines()[since_line:]
    return Counter(int(match.group(1)) // 50 for line in lines if (match := LIST_CALL.search(line)))


def log_length(access_log: Path) -> int:
    return len(access_log.read_text().splitlines()) if access_log.exists() else 0


@pytest.mark.parametrize("second_worker", ["started after the kill", "already running and idle"])
def test_an_export_whose_worker_is_killed_is_finished_by_another_without_reading_pages_twice(
    deployed, workers, second_worker
):
    access_log = deployed.workdir / "access.log"
    log_start = log_length(access_log)
    abandoned_before = abandoned_task_rows(deployed)
    job_id = int(deployed.manage("shell", "-c", START_EXPORT).strip().splitlines()[-1])

    first = workers.start("first")
    wait_for(
        "the first worker starts the export",
        lambda: job_row(deployed, job_id)["status"] == "running",
        limit=30,
    )
    if second_worker == "already running and idle":
        workers.start("second")
    wait_for("halfway", lambda: job_row(deployed, job_id)["pages_read"] >= KILL_AFTER_PAGES, limit=30)
    os.kill(first.pid, signal.SIGKILL)
    first.wait(timeout=10)
    at_kill = job_row(deployed, job_id)
    assert at_kill["status"] == "running" and at_kill["pages_read"] < PAGES - 1, "killed halfway"
    if second_worker == "started after the kill":
        workers.start("second")

    wait_for(
        "another worker finishes the export",
        lambda: job_row(deployed, job_id)["status"] != "running",
        limit=40,
    )

    job = job_row(deployed, job_id)
    assert job["status"] == "succeeded", job["error_message"]
    assert job["attempts"] == 2, "taken over once"
    with (deployed.workdir / "exports" / f"{job_id}-{job['file_name']}").open(encoding="utf-8-sig") as file:
        ids = [row[0] for row in list(csv.reader(file))[1:]]
    ledger = [row[0] for row in deployed.rows("SELECT ledger_id FROM sandbox_customer ORDER BY id")]
    assert ids == ledger, "every customer exactly once, in the ledger's order"
    assert job["rows_read"] == CUSTOMERS

    requested = pages_requested(access_log, log_start)
    written_before_kill = range(at_kill["pages_read"])
    assert all(requested[page] == 1 for page in written_before_kill), (
        "pages written before the kill read once"
    )
    read_twice = [page for page, count in requested.items() if count > 1]
    window = read_window(CONCURRENCY)
    assert len(read_twice) <= window, f"only pages in flight at the kill are read again: {read_twice}"
    assert sum(requested.values()) <= PAGES + window + (window - 1), "plus the read-ahead past the end"

    assert abandoned_task_rows(deployed) == abandoned_before + 1, "the dead worker's task row is failed"
    wait_for("no task row left RUNNING", lambda: task_rows(deployed, "RUNNING") == 0, limit=10)
