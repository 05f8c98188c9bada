"""Customer index sync benchmark: how close a sync of the whole ledger comes to the speed the Tatum plan
allows, what it costs, and whether the worker's memory stays flat as the ledger grows.

    .venv/bin/python bench/index_bench.py sync [--customers 10000] [--memory-customers 100000]
                                               [--latency-ms 50] [--rps 40] [--concurrency 4]

(`main(argv)` is what `bench/index_bench.py sync` calls; `python bench/index_sync.py` works too.)

Like bench/export_bench.py, whose helpers it uses, it builds a throwaway dashboard in a temporary
directory, serves the sandbox with gunicorn on a free loopback port, answering after `--latency-ms`
from a SQLite file of its own (Tatum is a service apart), seeds it, and runs each sync in a fresh
`db_worker --batch` process: the real worker, reading the sandbox over HTTP and upserting the index page
by page. Each worker process samples its own memory during the run and reports the peaks.

Speed: a sync cannot beat `max(pages / rps, pages x latency / concurrency)`; the ratio of the wall time
to that floor is the figure of merit, measured on the larger ledger. Cost: credits spent against the
pages read. Memory: the worker's peak memory in the first sync of `--memory-customers` against the
first sync of `--customers`: its resident memory less the database file's pages that SQLite maps, which
are the kernel's shared page cache (the RSS with them is reported too).
The table is printed and saved to bench/results/index_sync.txt.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import sys
import tempfile
import threading
from datetime import UTC, datetime
from pathlib import Path

from export_bench import GUNICORN_THREADS, _environment, _free_port, _manage, _start_server, run_worker
from index_bench import throwaway_postgres

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results" / "index_sync.txt"
PAGE_SIZE = 50
# The memory figures reported, and their column widths.
_MEMORY = {"rss_less_db_mb": 8, "anon_mb": 8, "db_mb": 9, "rss_mb": 8}


def main(argv: list[str] | None = None) -> None:
    args = _parse_args(argv)
    if args.worker:
        _worker_run()
        return
    with tempfile.TemporaryDirectory(prefix="index-sync-bench-") as tmp:
        if args.postgres:
            with throwaway_postgres(durable=True) as url:
                report = _bench(args, Path(tmp), url)
        else:
            report = _bench(args, Path(tmp), None)
    print(report)
    results = RESULTS.with_name("index_sync-postgresql.txt") if args.postgres else RESULTS
    results.parent.mkdir(parents=True, exist_ok=True)
    results.write_text(report + "\n", encoding="utf-8")
    print(f"\nSaved to {results.relative_to(ROOT)}")


def _parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--customers", type=int, default=10_000, help="the smaller ledger")
    parser.add_argument(
        "--memory-customers", type=int, default=100_000, help="the larger ledger (speed, cost and memory)"
    )
    parser.add_argument("--latency-ms", type=int, default=50, help="delay the sandbox adds to each answer")
    parser.add_argument("--rps", type=float, default=40.0, help="TATUM_MAX_RPS")
    parser.add_argument("--concurrency", type=int, default=4, help="TATUM_EXPORT_CONCURRENCY")
    parser.add_argument(
        "--postgres", action="store_true", help="the dashboard on a throwaway PostgreSQL (sandbox: SQLite)"
    )
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def _bench(args: argparse.Namespace, tmp: Path, database_url: str | None) -> str:
    port = _free_port()
    env = _environment(args, tmp, port)
    if database_url:
        env["DATABASE_URL"] = database_url
    # The sandbox stands in for Tatum, a service of its own: on one SQLite file with the worker, its
    # writes (credits, rate) would wait on the worker's, and the figures would measure lock waits.
    tatum = {**env, "DATABASE_URL": f"sqlite:///{tmp / 'sandbox.sqlite3'}"}
    for each in (env, tatum):
        _manage(each, "migrate", "--noinput", "-v", "0")
    _manage(tatum, "seed_sandbox", "--customers", str(args.customers), "--seed", "1")
    server = _start_server(tatum, port, tmp)
    try:
        small = _sync(env)
        more = args.memory_customers - args.customers
        _manage(tatum, "seed_sandbox", "--customers", str(more), "--seed", "2")
        first = _sync(env)
        nightly = _sync(env)
    finally:
        server.terminate()
        server.wait(timeout=20)
    return _report(args, small, first, nightly)


def _sync(env: dict[str, str]) -> dict[str, float]:
    """One sync in a fresh worker process; returns what the worker reports."""
    return run_worker(Path(__file__), env, "sync")


def _report(
    args: argparse.Namespace, small: dict[str, float], first: dict[str, float], nightly: dict[str, float]
) -> str:
    command = (
        f".venv/bin/python bench/index_bench.py sync --customers {args.customers} "
        f"--memory-customers {args.memory_customers} --latency-ms {args.latency_ms} --rps {args.rps:g} "
        f"--concurrency {args.concurrency}" + (" --postgres" if args.postgres else "")
    )
    growth = {name: first[f"peak_{name}"] - small[f"peak_{name}"] for name in _MEMORY}
    lines = [
        f"Customer index sync benchmark, {datetime.now(UTC):%Y-%m-%d %H:%M} UTC",
        f"command: {command}",
        f"sandbox: gunicorn, 1 process x {GUNICORN_THREADS} threads, its own SQLite file (WAL),",
        f"         SANDBOX_LATENCY_MS={args.latency_ms}",
        f"worker:  db_worker --batch, TATUM_MAX_RPS={args.rps:g}, concurrency {args.concurrency}, "
        + ("a throwaway PostgreSQL 15 (fsync on)" if args.postgres else "the dashboard's SQLite file (WAL)"),
        "",
        *_speed_lines(args, nightly, "The nightly sync: every customer known, compliance cases already open"),
        "",
        *_speed_lines(args, first, "The first sync of the new customers: each one upserted, a case opened"),
        "",
        "Worker memory (MB, peaks sampled 5 times a second). The worker's own is its resident memory less",
        "the pages of the database file that SQLite maps (PRAGMA mmap_size): those are the kernel's page",
        "cache, shared with every process that reads the file, and capped by mmap_size.",
        f"  {'':<28}{'worker':>8}{'heap':>8}{'db file':>9}{'RSS':>8}",
        _memory_row(f"{int(small['customers_read']):,} customers, first sync", small),
        _memory_row(f"{int(first['customers_read']):,} customers, first sync", first),
        _memory_row(f"{int(nightly['customers_read']):,} customers, nightly", nightly),
        _memory_row("growth, first syncs", growth, prefix=""),
        f"  goal: the worker's own memory grows <= 25 MB: {_verdict(growth['rss_less_db_mb'] <= 25)} "
        f"(its RSS, the database file's cached pages included, grows {growth['rss_mb']:.1f} MB)",
    ]
    return "\n".join(lines)


def _speed_lines(args: argparse.Namespace, run: dict[str, float], title: str) -> list[str]:
    customers = int(run["customers_read"])
    pages = int(run["pages_read"])
    calls, credits = int(run["calls"]), int(run["credits"])
    by_rate = pages / args.rps
    by_latency = pages * args.latency_ms / 1000 / args.concurrency
    floor = max(by_rate, by_latency)
    ratio = run["seconds"] / floor
    return [
        f"{title} ({customers:,} customers)",
        f"  pages read             {pages:>10,}   (the last one short: the end of the list)",
        f"  requests made          {calls:>10,}   (reads past the end included: {calls - pages})",
        f"  credits spent          {credits:>10,}   (1 per request: {_verdict(credits == calls)})",
        f"  rows in the index      {int(run['index_rows']):>10,}",
        f"  compliance cases open  {int(run['cases']):>10,}",
        f"  wall time              {run['seconds']:>10.2f} s (run start to finish)",
        f"  floor                  {floor:>10.2f} s = max({pages} / {args.rps:g} rps, "
        f"{pages} x {args.latency_ms} ms / {args.concurrency}) = max({by_rate:.2f}, {by_latency:.2f})",
        f"  ratio                  {ratio:>10.3f}   (goal <= 1.15: {_verdict(ratio <= 1.15)})",
        f"  rate                   {customers / run['seconds']:>10,.0f} customers/s",
        f"  mean round trip        {run['mean_call_ms']:>10.1f} ms",
    ]


def _memory_row(label: str, values: dict[str, float], prefix: str = "peak_") -> str:
    return f"  {label:<28}" + "".join(
        f"{values[prefix + name]:>{width}.1f}" for name, width in _MEMORY.items()
    )


def _verdict(met: bool) -> str:
    return "met" if met else "MISSED"


# --- The child: one sync through the real worker ----------------------------------------------------


def _worker_run() -> None:
    sys.path.insert(0, str(ROOT))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "dashboard.settings")
    import django

    django.setup()
    from django.conf import settings
    from django.core.management import call_command

    from customers.audit.trail import Actor
    from customers.compliance.models import ComplianceCase
    from customers.credits.models import ApiCall
    from customers.index.models import CustomerRecord, SyncRun
    from customers.index.services import sync_start

    database = str(Path(settings.DATABASES["default"]["NAME"]).resolve())
    peaks: dict[str, float] = {}
    stop = threading.Event()
    sampler = threading.Thread(target=_sample_memory, args=(database, peaks, stop), daemon=True)
    sampler.start()
    run = sync_start(actor=Actor(user=None))
    call_command("db_worker", batch=True, startup_delay=False, verbosity=0)
    stop.set()
    sampler.join()
    run = SyncRun.objects.get(pk=run.pk)
    if run.status != SyncRun.Status.SUCCEEDED:
        sys.exit(f"Sync {run.pk} ended {run.status}: {run.error_message}")
    peak_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # kilobytes on Linux
    durations = list(ApiCall.objects.filter(request_id=run.request_id).values_list("duration_ms", flat=True))
    summary = {
        "seconds": (run.finished_at - run.started_at).total_seconds(),
        "pages_read": run.pages_read,
        "customers_read": run.customers_read,
        "calls": len(durations),
        "credits": run.credits_spent,
        "index_rows": CustomerRecord.objects.count(),
        "cases": ComplianceCase.objects.count(),
        "max_rss_mb": peak_kb / 1024,
        **_memory_now(database),
        **{f"peak_{name}": value for name, value in peaks.items()},
        "mean_call_ms": sum(durations) / max(len(durations), 1),
    }
    print(json.dumps(summary))


def _sample_memory(database: str, peaks: dict[str, float], stop: threading.Event) -> None:
    """Keep the peak of each of `_memory_now`'s figures, sampled five times a second during the run."""
    while not stop.wait(0.2):
        for name, value in _memory_now(database).items():
            peaks[name] = max(peaks.get(name, 0.0), value)


def _memory_now(database: str) -> dict[str, float]:
    """The process's resident memory now (MB): all of it, its own (anonymous: the heap), and the pages of
    the database file (SQLite maps it: `PRAGMA mmap_size` in the settings). The database's pages are the
    kernel's page cache, shared with every process that reads the file; `rss_mb - db_mb` is what the
    worker itself holds. All from one read of /proc/self/smaps: SQLite maps the file anew as it grows,
    so figures read at different moments would not add up."""
    totals = {"Rss:": 0, "Anonymous:": 0}
    db_kb = 0
    in_database = False
    for line in Path("/proc/self/smaps").read_text().splitlines():
        head = line.split()
        if not head:
            continue
        if not head[0].endswith(":"):  # a mapping's first line: address, ..., path
            in_database = head[-1] == database
        elif head[0] in totals:
            totals[head[0]] += int(head[1])
            if in_database and head[0] == "Rss:":
                db_kb += int(head[1])
    rss, db = totals["Rss:"] / 1024, db_kb / 1024
    return {"rss_mb": rss, "anon_mb": totals["Anonymous:"] / 1024, "db_mb": db, "rss_less_db_mb": rss - db}


if __name__ == "__main__":
    main(sys.argv[1:])
