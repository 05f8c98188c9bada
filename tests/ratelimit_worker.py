"""Processes that take their Tatum call slots from the shared rate limit, for the tests that need several
real processes on one database (`run_workers`). Each one is `python -m tests.ratelimit_worker`: it
waits for a common start time, runs threads that each make some calls (bare `wait()`s on the limiter,
or real client calls to `--api-url`), and prints when each call was let go, as JSON.
"""

from __future__ import annotations

import argparse
import bisect
import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
# A worker process starts Django in well under this; all of them then begin together.
STARTUP_SECONDS = 2.0


def run_workers(
    *,
    database_url: str,
    processes: int,
    threads: int,
    calls: int,
    max_rps: float,
    limit: str = "tatum",
    api_url: str = "",
) -> list[float]:
    """Start `processes` workers at once and return every call's release time (`time.time()`), sorted."""
    start_at = time.time() + STARTUP_SECONDS
    command = [sys.executable, "-m", "tests.ratelimit_worker", "--start-at", str(start_at)]
    command += ["--threads", str(threads), "--calls", str(calls), "--max-rps", str(max_rps)]
    command += ["--limit", limit, "--api-url", api_url]
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "tests.settings", "DATABASE_URL": database_url}
    workers = [
        subprocess.Popen(
            command, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        for _ in range(processes)
    ]
    deadline = STARTUP_SECONDS + 30 + processes * threads * calls / max_rps
    released: list[float] = []
    try:
        for worker in workers:
            out, err = worker.communicate(timeout=deadline)
            assert worker.returncode == 0, f"worker failed:\n{err}"
            released += json.loads(out)
    finally:
        for worker in workers:
            if worker.poll() is None:
                worker.kill()
                worker.wait(timeout=10)
    return sorted(released)


def busiest_second(times: list[float]) -> int:
    """The most calls in any window of one second (half-open, sliding over the sorted times)."""
    return max(
        (bisect.bisect_left(times, start + 1.0) - index for index, start in enumerate(times)), default=0
    )


def sqlite_file_database(path: Path) -> dict[str, Any]:
    """The settings of a SQLite file, as the production settings open one, with the limit's table in it."""
    from django.db import connections
    from django.db.utils import load_backend

    from customers.credits.models import SharedRateLimit

    database = {
        **connections["default"].settings_dict,
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": str(path),
        "OPTIONS": {"timeout": 20, "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;"},
    }
    wrapper = load_backend(database["ENGINE"]).DatabaseWrapper(database, "setup")
    try:
        # Not in a transaction: Django's atomic() only knows the connections it holds itself.
        with wrapper.schema_editor(atomic=False) as editor:
            editor.create_model(SharedRateLimit)
    finally:
        wrapper.close()
    return database


def postgresql_url(database: dict[str, Any]) -> str:
    """A URL of the PostgreSQL database these settings name (the tests' own, under pytest)."""
    user = database["USER"] + (f":{database['PASSWORD']}" if database["PASSWORD"] else "")
    host = f"{database['HOST'] or 'localhost'}:{database['PORT'] or 5432}"
    return f"postgres://{user + '@' if user else ''}{host}/{database['NAME']}"


def _main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--start-at", type=float, required=True)
    parser.add_argument("--threads", type=int, required=True)
    parser.add_argument("--calls", type=int, required=True)
    parser.add_argument("--max-rps", type=float, required=True)
    parser.add_argument("--limit", default="tatum")
    parser.add_argument("--api-url", default="")
    args = parser.parse_args()

    import django

    django.setup()
    from django.conf import settings

    from customers.credits.client import tatum_client
    from customers.credits.ratelimit import SharedRateLimiter

    if args.api_url:
        settings.TATUM_API_URL = args.api_url
        settings.TATUM_MAX_RPS = args.max_rps
        client = tatum_client(on_call=lambda record: None)

        def call() -> None:
            client.get_usage()
    else:
        limiter = SharedRateLimiter(args.limit)

        def call() -> None:
            limiter.wait(args.max_rps)

    released: list[float] = []

    def run() -> None:
        for _ in range(args.calls):
            call()
            released.append(time.time())

    time.sleep(max(0.0, args.start_at - time.time()))
    workers = [threading.Thread(target=run) for _ in range(args.threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    print(json.dumps(released))


if __name__ == "__main__":
    _main()
