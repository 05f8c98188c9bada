"""Customer export benchmark: how close the export comes to the speed the Tatum plan allows, and
whether the worker's memory stays flat as the ledger grows.

    .venv/bin/python bench/export_bench.py [--customers 10000] [--latency-ms 50] [--rps 40]
                                           [--concurrency 4] [--memory-customers 50000]

It builds a throwaway dashboard in a temporary directory (its own SQLite database and export folder),
serves it with gunicorn on a free loopback port with the sandbox answering after `--latency-ms`,
seeds the sandbox, and then runs each export in a fresh `db_worker --batch` process: the real worker,
reading the sandbox over HTTP. Each worker process reports its own peak RSS.

Speed: the export cannot beat `max(pages / rps, pages x latency / concurrency)`, the time the rate
limit and the round trips allow; the ratio of the wall time to that floor is the figure of merit.
Memory: the worker's peak RSS exporting `--memory-customers` against `--customers`.
The table is printed and saved to bench/results/export.txt.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PYTHON = sys.executable
RESULTS = ROOT / "bench" / "results" / "export.txt"
PAGE_SIZE = 50
GUNICORN_THREADS = 8


def main() -> None:
    args = _parse_args()
    if args.worker:
        _worker_run()
        return
    with tempfile.TemporaryDirectory(prefix="export-bench-") as tmp:
        report = _bench(args, Path(tmp))
    print(report)
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(report + "\n", encoding="utf-8")
    print(f"\nSaved to {RESULTS.relative_to(ROOT)}")


def _parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--customers", type=int, default=10_000, help="ledger size for the speed run")
    parser.add_argument("--latency-ms", type=int, default=50, help="delay the sandbox adds to each answer")
    parser.add_argument("--rps", type=float, default=40.0, help="TATUM_MAX_RPS")
    parser.add_argument("--concurrency", type=int, default=4, help="TATUM_EXPORT_CONCURRENCY")
    parser.add_argument(
        "--memory-customers", type=int, default=50_000, help="larger ledger for the memory run (0: skip it)"
    )
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    return parser.parse_args()


# --- The parent: server, seeding, runs, report -----------------------------------------------------


def _bench(args: argparse.Namespace, tmp: Path) -> str:
    port = _free_port()
    env = _environment(args, tmp, port)
    _manage(env, "migrate", "--noinput", "-v", "0")
    _manage(env, "seed_sandbox", "--customers", str(args.customers), "--seed", "1")
    server = _start_server(env, port, tmp)
    try:
        speed = _export(env)
        large = None
        if args.memory_customers > args.customers:
            more = args.memory_customers - args.customers
            _manage(env, "seed_sandbox", "--customers", str(more), "--seed", "2")
            large = _export(env)
    finally:
        server.terminate()
        server.wait(timeout=20)
    return _report(args, speed, large)


def _environment(args: argparse.Namespace, tmp: Path, port: int) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if not key.startswith(("TATUM_", "SANDBOX_"))}
    env.update(
        {
            "DEBUG": "false",
            "SECRET_KEY": "export-benchmark-secret-key-not-for-production-0123456789",
            "DATABASE_URL": f"sqlite:///{tmp / 'bench.sqlite3'}",
            "EXPORT_ROOT": str(tmp / "exports"),
            "PORT": str(port),
            "TATUM_API_URL": f"http://127.0.0.1:{port}/sandbox",
            "TATUM_MAX_RPS": str(args.rps),
            "TATUM_EXPORT_CONCURRENCY": str(args.concurrency),
            "SANDBOX_LATENCY_MS": str(args.latency_ms),
            "SECURE_SSL_REDIRECT": "false",
            "LOG_LEVEL": "WARNING",
            "PYTHONUNBUFFERED": "1",
        }
    )
    return env


def _manage(env: dict[str, str], *command: str) -> str:
    result = subprocess.run(
        [PYTHON, "manage.py", *command], cwd=ROOT, env=env, capture_output=True, text=True, check=False
    )
    if result.returncode != 0:
        sys.exit(f"manage.py {' '.join(command)} failed:\n{result.stdout}\n{result.stderr}")
    return result.stdout


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _start_server(env: dict[str, str], port: int, tmp: Path) -> subprocess.Popen:
    gunicorn = shutil.which("gunicorn", path=str(Path(PYTHON).parent)) or "gunicorn"
    log = (tmp / "server.log").open("w")
    server = subprocess.Popen(
        [
            gunicorn,
            "dashboard.wsgi",
            "--bind",
            f"127.0.0.1:{port}",
            "--workers",
            "1",
            "--threads",
            str(GUNICORN_THREADS),
            "--worker-class",
            "gthread",
            "--log-level",
            "warning",
            # Its own control socket, not the default one in the home folder that other servers share.
            "--control-socket",
            str(tmp / "gunicorn.ctl"),
        ],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if server.poll() is not None:
            sys.exit(f"The server stopped at once; see {tmp / 'server.log'}")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=1) as answer:
                if answer.status == 200:
                    return server
        except OSError:
            time.sleep(0.2)
    server.terminate()
    sys.exit("The server did not answer /healthz within 30 s.")


def _export(env: dict[str, str]) -> dict[str, float]:
    """One export in a fresh worker process; returns what the worker reports."""
    return run_worker(Path(__file__), env, "export")


def run_worker(script: Path, env: dict[str, str], what: str) -> dict[str, float]:
    """`script --worker` in a fresh process; returns the JSON its last line reports."""
    result = subprocess.run(
        [PYTHON, str(script.resolve()), "--worker"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        sys.exit(f"The {what} worker failed:\n{result.stdout}\n{result.stderr}")
    return json.loads(result.stdout.strip().splitlines()[-1])


def _report(args: argparse.Namespace, speed: dict[str, float], large: dict[str, float] | None) -> str:
    customers = int(speed["rows_read"])
    pages = customers // PAGE_SIZE + 1
    by_rate = pages / args.rps
    by_latency = pages * args.latency_ms / 1000 / args.concurrency
    floor = max(by_rate, by_latency)
    ratio = speed["seconds"] / floor
    command = (
        f".venv/bin/python bench/export_bench.py --customers {args.customers} --latency-ms {args.latency_ms} "
        f"--rps {args.rps:g} --concurrency {args.concurrency} --memory-customers {args.memory_customers}"
    )
    lines = [
        f"Customer export benchmark, {datetime.now(UTC):%Y-%m-%d %H:%M} UTC",
        f"command: {command}",
        f"server:  gunicorn, 1 process x {GUNICORN_THREADS} threads, SQLite (WAL) in a temporary directory,",
        f"         SANDBOX_LATENCY_MS={args.latency_ms}",
        f"worker:  db_worker --batch, TATUM_MAX_RPS={args.rps:g}, concurrency {args.concurrency}",
        "",
        f"Speed ({customers:,} customers)",
        f"  pages                  {pages:>10,}   (the last one short: the end of the list)",
        f"  requests made          {int(speed['credits']):>10,}   (credits; reads past the end included)",
        f"  rows written           {int(speed['rows_written']):>10,}",
        f"  wall time              {speed['seconds']:>10.2f} s (job start to finish, file renamed)",
        f"  floor                  {floor:>10.2f} s = max({pages} / {args.rps:g} rps, "
        f"{pages} x {args.latency_ms} ms / {args.concurrency}) = max({by_rate:.2f}, {by_latency:.2f})",
        f"  ratio                  {ratio:>10.3f}   (goal <= 1.15: {'met' if ratio <= 1.15 else 'MISSED'})",
        f"  rate                   {customers / speed['seconds']:>10,.0f} customers/s",
        f"  mean round trip        {speed['mean_call_ms']:>10.1f} ms (sandbox latency {args.latency_ms} ms "
        "+ its own work + the network)",
    ]
    lines += ["", "Worker peak memory (peak RSS of the db_worker process)"]
    lines.append(f"  {customers:>7,} customers      {speed['max_rss_mb']:>10.1f} MB")
    if large is not None:
        difference = large["max_rss_mb"] - speed["max_rss_mb"]
        lines.append(f"  {int(large['rows_read']):>7,} customers      {large['max_rss_mb']:>10.1f} MB")
        verdict = "met" if difference <= 25 else "MISSED"
        lines.append(f"  difference             {difference:>10.1f} MB (goal <= 25 MB: {verdict})")
        lines.append(f"  ({int(large['rows_read']):,} customers took {large['seconds']:.1f} s)")
    return "\n".join(lines)


# --- The child: one export through the real worker --------------------------------------------------


def _worker_run() -> None:
    sys.path.insert(0, str(ROOT))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "dashboard.settings")
    import django

    django.setup()
    from django.contrib.auth import get_user_model
    from django.contrib.auth.models import Group
    from django.core.management import call_command

    from customers.audit.trail import Actor
    from customers.context import new_request_id
    from customers.credits.models import ApiCall
    from customers.exports.filters import ExportFilter
    from customers.exports.models import ExportJob
    from customers.exports.services import export_start

    user, created = get_user_model().objects.get_or_create(username="bench-manager")
    if created:
        user.groups.add(Group.objects.get(name="Manager"))
    actor = Actor(user=user, request_id=f"export-bench-{new_request_id()[:12]}")
    job = export_start(actor=actor, export_filter=ExportFilter())
    call_command("db_worker", batch=True, startup_delay=False, verbosity=0)
    job = ExportJob.objects.get(pk=job.pk)
    if job.status != ExportJob.Status.SUCCEEDED:
        sys.exit(f"Export {job.pk} ended {job.status}: {job.error_message}")
    peak_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # kilobytes on Linux
    durations = list(ApiCall.objects.filter(request_id=job.request_id).values_list("duration_ms", flat=True))
    summary = {
        "seconds": (job.finished_at - job.started_at).total_seconds(),
        "pages_read": job.pages_read,
        "rows_read": job.rows_read,
        "rows_written": job.rows_written,
        "credits": job.credits_spent,
        "max_rss_mb": peak_kb / 1024,
        "mean_call_ms": sum(durations) / max(len(durations), 1),
    }
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
