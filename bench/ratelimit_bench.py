"""Does `TATUM_MAX_RPS` bound the whole deployment? Many signed-in users on several dashboard processes,
and the upstream calls the sandbox saw, second by second.

Starts on loopback, with bench/run.py's helpers:
- the sandbox standing in for Tatum: one gunicorn process, no rate limit of its own (`SANDBOX_MAX_RPS`
  unset, so it would accept any rate), on its own SQLite file, logging each call with the time it
  arrived (the access log's line time less the call's duration, to the microsecond);
- the dashboard: `--processes` gunicorn processes (`WEB_CONCURRENCY`) with `TATUM_MAX_RPS=--rps`, all on
  one SQLite file (WAL), which holds the shared rate limit.
Then `--users-per-process` x `--processes` users sign in over HTTP and read the customer list and
detail pages in turns (each user a thread with its own session) for `--seconds`, and the report gives
the most calls the sandbox saw in any one second (a sliding window), their mean rate, and the users'
page errors and page times. Goal: at most `--rps` calls in any second (one more for jitter), no error.

`--cost` instead measures what the shared limit costs a call (one INSERT ... ON CONFLICT ... RETURNING
on the limiter's own connection) on a SQLite file, or on the database `--database-url` names.

Traffic goes to 127.0.0.1 only; every loop is bounded.
"""

from __future__ import annotations

import argparse
import bisect
import contextlib
import json
import os
import tempfile
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import requests
from run import (
    RESULTS,
    Server,
    base_env,
    gunicorn,
    manage,
    prepare_sandbox_and_dashboard,
    sandbox_customers,
    sandbox_server,
    signed_in_session,
    sqlite_url,
)

LIST_PATH = "/customers/live/?size=50&page=1"
PAGE_TIMEOUT = 120
SIGN_IN_TIMEOUT = 120
# A page whose upstream read failed still answers 200, with the error in an alert.
ERROR_MARK = 'role="alert"'


# --- The sandbox's record of calls -------------------------------------------------------------------


def call_log_args(tmp: Path) -> tuple[str, Path]:
    """gunicorn arguments that log each call as `<line time> <duration us> <method> <path> <status>`."""
    log_path = tmp / "sandbox-calls.log"
    config = {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"stamped": {"format": "%(created).6f %(message)s"}},
        "handlers": {
            "calls": {"class": "logging.FileHandler", "filename": str(log_path), "formatter": "stamped"}
        },
        "loggers": {"gunicorn.access": {"handlers": ["calls"], "level": "INFO", "propagate": False}},
        "root": {"level": "WARNING", "handlers": []},
    }
    config_path = tmp / "sandbox-logging.json"
    config_path.write_text(json.dumps(config))
    args = f"--access-logformat '%(D)s %(m)s %(U)s %(s)s' --log-config-json {config_path}"
    return args, log_path


def upstream_arrivals(log_path: Path, since: float) -> list[float]:
    """When each Tatum call reached the sandbox, sorted."""
    arrivals = []
    for line in log_path.read_text().splitlines():
        logged, duration_us, _method, path, _status = line.split(" ", 4)
        arrived = float(logged) - int(duration_us) / 1e6
        if path.startswith("/sandbox/v3/") and arrived >= since:
            arrivals.append(arrived)
    return sorted(arrivals)


def busiest_second(times: list[float]) -> tuple[int, float]:
    """The most calls in any window of one second, and when that window opened."""
    best, opened = 0, times[0] if times else 0.0
    for index, start in enumerate(times):
        count = bisect.bisect_left(times, start + 1.0) - index
        if count > best:
            best, opened = count, start
    return best, opened


# --- The users ------------------------------------------------------------------------------------------


@dataclass
class Pages:
    times_ms: list[float] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, elapsed_ms: float, error: str) -> None:
        with self.lock:
            self.times_ms.append(elapsed_ms)
            if error:
                self.errors.append(error)


def read_pages(
    session: requests.Session, url: str, detail_paths: list[str], first: int, until: float, pages: Pages
):
    """List and detail pages in turns until `until` (a page started before it is waited for)."""
    turn = first
    while time.monotonic() < until:
        path = LIST_PATH if turn % 2 else detail_paths[turn % len(detail_paths)]
        turn += 1
        started = time.monotonic()
        error = ""
        try:
            response = session.get(url + path, timeout=PAGE_TIMEOUT)
            if response.status_code != 200:
                error = f"HTTP {response.status_code} on {path}"
            elif ERROR_MARK in response.text:
                error = f"an error shown on {path}"
        except requests.RequestException as exc:
            error = f"{type(exc).__name__} on {path}"
        pages.add((time.monotonic() - started) * 1000, error)


def sign_in_all(url: str, users: int) -> list[requests.Session]:
    sessions: list[requests.Session | None] = [None] * users

    def sign_in(index: int) -> None:
        sessions[index] = signed_in_session(url)

    threads = [threading.Thread(target=sign_in, args=(index,)) for index in range(users)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=SIGN_IN_TIMEOUT)
    if any(session is None for session in sessions):
        raise SystemExit("not every user could sign in")
    return [session for session in sessions if session is not None]


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))] if ordered else float("nan")


# --- Runs ---------------------------------------------------------------------------------------------


def load_run(args: argparse.Namespace) -> list[str]:
    problems: list[str] = []
    users = args.users_per_process * args.processes
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        sandbox_db, dashboard_db = sqlite_url(tmp / "sandbox.sqlite3"), sqlite_url(tmp / "dashboard.sqlite3")
        prepare_sandbox_and_dashboard(sandbox_db, dashboard_db, tmp, args.customers)
        cmd_args, log_path = call_log_args(tmp)
        sandbox = sandbox_server(sandbox_db, tmp, args.latency_ms)
        sandbox.env.update({"GUNICORN_CMD_ARGS": cmd_args, "SANDBOX_MAX_RPS": ""})
        with gunicorn(sandbox, tmp, problems) as sandbox_url:
            api_url = f"{sandbox_url}/sandbox"
            customer_ids = [customer["id"] for customer in sandbox_customers(api_url)]
            detail_paths = [f"/customers/{cid}/" for cid in customer_ids]
            dashboard_env = {
                **base_env(dashboard_db, tmp, args.latency_ms),
                "TATUM_API_URL": api_url,
                "TATUM_MAX_RPS": str(args.rps),
                "GUNICORN_MAX_REQUESTS": "0",
            }
            threads = 2 * args.users_per_process
            dashboard = Server("ratelimit-dashboard", dashboard_env, args.processes, threads)
            with gunicorn(dashboard, tmp, problems) as url:
                since = time.time()
                sessions = sign_in_all(url, users)
                pages = Pages()
                load_started = time.time()
                until = time.monotonic() + args.seconds
                readers = [
                    threading.Thread(
                        target=read_pages, args=(session, url, detail_paths, index, until, pages)
                    )
                    for index, session in enumerate(sessions)
                ]
                for reader in readers:
                    reader.start()
                for reader in readers:
                    reader.join(timeout=args.seconds + PAGE_TIMEOUT + 10)
                load_ended = time.time()
                time.sleep(0.5)  # the last access log lines
                arrivals = upstream_arrivals(log_path, since)
    return report(args, users, arrivals, load_started, load_ended, pages, problems)


def report(
    args: argparse.Namespace,
    users: int,
    arrivals: list[float],
    load_started: float,
    load_ended: float,
    pages: Pages,
    problems: list[str],
) -> list[str]:
    busiest, opened = busiest_second(arrivals)
    during_load = [at for at in arrivals if load_started <= at <= load_ended]
    mean_rate = len(during_load) / (load_ended - load_started)
    met = busiest <= args.rps + 1 and not pages.errors
    lines = [
        f"Rate limit benchmark {datetime.now(UTC):%Y-%m-%d %H:%M UTC}, {os.cpu_count()} cores: dashboard on "
        f"{args.processes} gunicorn processes x {2 * args.users_per_process} threads, "
        f"TATUM_MAX_RPS={args.rps:g}, one SQLite file (WAL); sandbox on 1 process, no rate limit, "
        f"SANDBOX_LATENCY_MS={args.latency_ms}",
        f"{users} signed-in users ({args.users_per_process} per process), list and detail pages in turns "
        f"for {args.seconds} s ({load_ended - load_started:.1f} s until the last page started in them was "
        "answered)",
        "",
        f"upstream calls seen by the sandbox: {len(arrivals)} (sign-ins included), {len(during_load)} while "
        f"the users read pages",
        f"most calls in any one second (sliding): {busiest} (window opening "
        f"{opened - arrivals[0] if arrivals else 0:.2f} s after the first call)",
        f"mean rate while the users read pages: {mean_rate:.2f} calls/s",
        f"pages: {len(pages.times_ms)}, errors: {len(pages.errors)}, "
        f"p50 {percentile(pages.times_ms, 0.5):.0f} ms, p95 {percentile(pages.times_ms, 0.95):.0f} ms, "
        f"max {max(pages.times_ms, default=0):.0f} ms",
        f"goal: at most {args.rps:g} (+1) calls in any second and 0 errors: {'met' if met else 'NOT met'}",
    ]
    lines += [f"  page error: {error}" for error in pages.errors[:10]]
    lines += ["Server logs: " + ("no errors" if not problems else f"{len(problems)} error line(s)")]
    lines += [f"  {problem}" for problem in problems[:20]]
    return lines


_COST_SCRIPT = """
import statistics, time
from customers.credits.ratelimit import SharedRateLimiter
limiter = SharedRateLimiter("cost-benchmark", sleep=lambda seconds: None)
limiter.wait(1e9)  # opens the connection
samples = []
for _ in range({calls}):
    started = time.perf_counter()
    limiter.wait(1e9)
    samples.append((time.perf_counter() - started) * 1e6)
samples.sort()
p50, p95 = samples[len(samples) // 2], samples[int(len(samples) * 0.95)]
print(f"{{statistics.mean(samples):.0f}} {{p50:.0f}} {{p95:.0f}}")
"""


def cost_run(args: argparse.Namespace) -> list[str]:
    """Microseconds per `wait()` that never has to sleep: the reservation's round trip alone."""
    with tempfile.TemporaryDirectory() as tmp_name:
        database_url = args.database_url or sqlite_url(Path(tmp_name) / "cost.sqlite3")
        env = base_env(database_url, Path(tmp_name), 0)
        manage(env, "migrate", "--noinput", "-v", "0")
        mean, p50, p95 = manage(env, "shell", "-c", _COST_SCRIPT.format(calls=args.calls)).split()[-3:]
    engine = database_url.split(":", 1)[0]
    figures = f"mean {mean} us, p50 {p50} us, p95 {p95} us"
    return [f"shared rate limit, one reservation on {engine} ({args.calls} calls): {figures}"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--processes", type=int, default=4)
    parser.add_argument("--users-per-process", type=int, default=10)
    parser.add_argument("--rps", type=float, default=5.0)
    parser.add_argument("--seconds", type=int, default=20)
    parser.add_argument("--latency-ms", type=int, default=50)
    parser.add_argument("--customers", type=int, default=300)
    parser.add_argument("--cost", action="store_true", help="measure the cost of one reservation instead")
    parser.add_argument("--calls", type=int, default=5000, help="with --cost")
    parser.add_argument(
        "--database-url", default="", help="with --cost: the database (default: a SQLite file)"
    )
    args = parser.parse_args()
    lines = cost_run(args) if args.cost else load_run(args)
    text = "\n".join(lines)
    print(text)
    if not args.cost:
        RESULTS.mkdir(parents=True, exist_ok=True)
        (RESULTS / "ratelimit.txt").write_text(text + "\n")


if __name__ == "__main__":
    with contextlib.suppress(KeyboardInterrupt):
        main()
