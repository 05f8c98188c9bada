"""Customer index benchmark: server time of the customer list's search and filters over a large index,
and (`sync`) the sync of the whole ledger into it.

    .venv/bin/python bench/index_bench.py search [--customers 100000] [--repeat 40]
                                                 [--database-url URL | --postgres]
    .venv/bin/python bench/index_bench.py sync ...   (bench/index_sync.py: its own options)

`search` fills a throwaway database's index straight from a generator (bulk inserts in batches, not
through the sandbox), signs a support user in, and times the real view (`/customers/?...` through the
whole middleware stack, with Django's test client) for a partial external-id search and for each
single filter, each with a sort and the count. Each case runs `--repeat` times (a different search
each time); the table gives p50 and p95 in milliseconds.

The database is a temporary SQLite file unless `--database-url` names one (empty: the benchmark
migrates and fills it; or filled by an earlier run with the same `--customers`, which it reuses), or
`--postgres` starts a throwaway PostgreSQL cluster for the run (as root, under runuser, with initdb
and pg_ctl from /usr/lib/postgresql/15) and removes it afterwards.
Goals: 100,000 customers on SQLite, p95 <= 150 ms; 1,000,000 on PostgreSQL, p95 <= 100 ms.
The table is printed and saved to bench/results/index_search-<vendor>.txt.
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RESULTS_DIR = ROOT / "bench" / "results"
BATCH = 5_000
SEED = 7
PG_BIN = Path("/usr/lib/postgresql/15/bin")

# What the generated ledger looks like: mostly a few countries, a long tail, some gaps and states.
COUNTRIES = ["DE"] * 12 + ["FR"] * 8 + ["CZ"] * 6 + ["MT"] * 3 + ["GB", "US", "AT", "NL", "PL", "ES", "SE"]
CURRENCIES = ["EUR"] * 10 + ["USD"] * 4 + ["CZK", "GBP", "CHF", "PLN", "BTC", "ETH"]


def main(argv: list[str] | None = None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    if argv and argv[0] == "sync":
        # Written with the sync itself; imported only when asked for.
        sys.path.insert(0, str(ROOT / "bench"))
        import index_sync

        index_sync.main(argv[1:])
        return
    if argv and argv[0] == "search":
        argv = argv[1:]
    args = _parse_args(argv)
    if args.postgres:
        with throwaway_postgres() as url:
            _run(args, url)
    elif args.database_url:
        _run(args, args.database_url)
    else:
        with tempfile.TemporaryDirectory(prefix="index-bench-") as tmp:
            _run(args, f"sqlite:///{tmp}/index.sqlite3")


def _parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--customers", type=int, default=100_000, help="rows in the index")
    parser.add_argument("--repeat", type=int, default=40, help="requests per case")
    where = parser.add_mutually_exclusive_group()
    where.add_argument("--database-url", help="an empty database to migrate and fill")
    where.add_argument("--postgres", action="store_true", help="start a throwaway PostgreSQL for the run")
    return parser.parse_args(argv)


# --- The run ---------------------------------------------------------------------------------------


def _run(args: argparse.Namespace, database_url: str) -> None:
    os.environ["DATABASE_URL"] = database_url
    os.environ.setdefault("DEBUG", "true")
    os.environ["ALLOWED_HOSTS"] = "testserver"  # the test client's host
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "dashboard.settings")
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connection

    call_command("migrate", verbosity=0, interactive=False)
    from customers.index.models import CustomerRecord

    started = time.perf_counter()
    already = CustomerRecord.objects.count()
    if already not in (0, args.customers):
        raise SystemExit(f"The database's index holds {already} customers: give an empty database.")
    fill_seconds = None
    if not already:
        _fill(args.customers)
        fill_seconds = time.perf_counter() - started
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            # Fresh statistics and visibility map, as autovacuum leaves a table that has settled.
            cursor.execute("VACUUM ANALYZE customers_customerrecord")
    rows = _measure(args.customers, args.repeat)
    report = _report(args, connection.vendor, fill_seconds, rows)
    print(report)
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    path = RESULTS_DIR / f"index_search-{connection.vendor}.txt"
    path.write_text(report + "\n", encoding="utf-8")
    print(f"\nSaved to {path.relative_to(ROOT)}")


def _generated(count: int) -> Iterator[dict]:
    rng = random.Random(SEED)
    base = datetime(2026, 11, 1, tzinfo=UTC)
    for n in range(count):
        customer_country = rng.choice(COUNTRIES) if rng.random() > 0.02 else ""
        provider_country = rng.choice(COUNTRIES) if rng.random() > 0.01 else ""
        seen = base + timedelta(seconds=rng.randrange(30 * 86_400))
        yield {
            "tatum_id": f"{rng.getrandbits(96):024x}",
            "external_id": f"cus-{n:07d}-{rng.getrandbits(32):08x}",
            "accounting_currency": rng.choice(CURRENCIES),
            "customer_country": customer_country,
            "provider_country": provider_country,
            "active": rng.random() > 0.1,
            "enabled": rng.random() > 0.08,
            "compliance_gap": not (customer_country and provider_country),
            "first_seen_at": base,
            "last_seen_at": seen,
            "last_seen_by": "sync",
            "missing_since": seen if rng.random() < 0.005 else None,
        }


def _fill(count: int) -> None:
    from django.db import transaction

    from customers.index.models import CustomerRecord

    batch: list[CustomerRecord] = []
    for values in _generated(count):
        batch.append(CustomerRecord(**values))
        if len(batch) == BATCH:
            with transaction.atomic():
                CustomerRecord.objects.bulk_create(batch)
            batch = []
    if batch:
        CustomerRecord.objects.bulk_create(batch)


def _cases(count: int) -> list[tuple[str, list[str]]]:
    """(name, the query strings it runs): a different partial external id for each search."""
    rng = random.Random(SEED + 1)
    searches = []
    for _ in range(64):
        n = rng.randrange(count)
        # Part of the id's number, as an agent types what a customer reads out: about 10 matches.
        searches.append(f"q={n:07d}"[:-1])
    cases = [
        ("search: part of an external id, by external id", [f"{s}&sort=external_id" for s in searches]),
        ("search: part of an external id, by last seen", [f"{s}&sort=-last_seen_at" for s in searches]),
    ]
    for name, query in [
        ("filter active=false", "active=false&sort=-last_seen_at"),
        ("filter enabled=false", "enabled=false&sort=external_id"),
        ("filter currency=USD", "currency=USD&sort=-tatum_id"),
        ("filter country=DE", "country=DE&sort=external_id"),
        ("filter provider_country=MT", "provider_country=MT&sort=-last_seen_at"),
        ("filter gap=true", "gap=true&sort=customer_country"),
        ("filter missing=true", "missing=true&sort=-missing_since"),
        ("no filter, sorted by country", "sort=-customer_country"),
    ]:
        cases.append((name, [query]))
    return cases


def _measure(count: int, repeat: int) -> list[tuple[str, float, float, str]]:
    # No setup_test_environment(): its template instrumentation would be timed too.
    from django.contrib.auth.models import Group, Permission, User
    from django.test import Client

    from customers.roles import roles_sync

    roles_sync(Group, Permission)
    user, _ = User.objects.get_or_create(username="bench-support")
    user.groups.add(Group.objects.get(name="Support"))
    client = Client()
    client.force_login(user)
    rows = []
    for name, queries in _cases(count):
        client.get(f"/customers/?{queries[0]}")  # warm: the plan, the caches
        page, fragment = [], []
        for i in range(repeat):
            query = queries[i % len(queries)]
            page.append(_timed(client, query, {}))
            fragment.append(_timed(client, query, {"HX-Request": "true"}))
        counted = _count_line(client.get(f"/customers/?{queries[-1]}").content.decode())
        rows.append((name, statistics.median(page), _p95(page), _p95(fragment), counted))
    return rows


def _timed(client, query: str, headers: dict[str, str]) -> float:
    """Milliseconds to answer `/customers/?query`: the whole page, or (htmx) the results alone."""
    started = time.perf_counter()
    response = client.get(f"/customers/?{query}", headers=headers)
    elapsed = (time.perf_counter() - started) * 1000
    assert response.status_code == 200, (query, response.status_code)
    return elapsed


def _count_line(page: str) -> str:
    start = page.index('class="index-count"><strong>') + len('class="index-count"><strong>')
    return page[start : page.index("</strong>", start)]


def _p95(times: list[float]) -> float:
    ordered = sorted(times)
    return ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]


def _report(args: argparse.Namespace, vendor: str, fill_seconds: float | None, rows: list) -> str:
    goal = 100 if vendor == "postgresql" else 150
    lines = [
        f"Customer index search, {datetime.now(UTC):%Y-%m-%d %H:%M} UTC: {args.customers:,} customers on "
        f"{vendor}, {args.repeat} requests per case "
        + (f"(filled in {fill_seconds:.0f} s)" if fill_seconds is not None else "(filled by an earlier run)"),
        "",
        "Whole page (a shared link, the back button) and htmx results alone (typing, a filter), in ms.",
        "",
        f"{'case':<48} {'page p50':>9} {'page p95':>9} {'htmx p95':>9}  count shown",
    ]
    for name, p50, p95, fragment_p95, counted in rows:
        lines.append(f"{name:<48} {p50:9.1f} {p95:9.1f} {fragment_p95:9.1f}  {counted}")
    worst = max(p95 for _, _, p95, _, _ in rows)
    verdict = "met" if worst <= goal else "NOT met"
    lines += ["", f"Goal: whole page p95 <= {goal} ms: {verdict} (worst p95 {worst:.1f} ms)"]
    return "\n".join(lines)


# --- A throwaway PostgreSQL -----------------------------------------------------------------------


@contextmanager
def throwaway_postgres(*, durable: bool = False, max_connections: int = 100) -> Iterator[str]:
    """A PostgreSQL cluster in a temporary directory on a free port, stopped and removed afterwards;
    with `fsync` off unless `durable` (for benchmarks of writes), and room for `max_connections`."""
    data = Path(tempfile.mkdtemp(prefix="index-bench-pg-"))
    port = _free_port()
    shutil.chown(data, "postgres", "postgres")
    as_postgres = ["runuser", "-u", "postgres", "--"]
    subprocess.run(
        [*as_postgres, str(PG_BIN / "initdb"), "-D", str(data / "db"), "-U", "postgres", "--auth=trust",
         "-E", "UTF8", "--locale=C.UTF-8"],
        check=True, capture_output=True,
    )  # fmt: skip
    ctl = [*as_postgres, str(PG_BIN / "pg_ctl"), "-D", str(data / "db"), "-l", str(data / "log")]
    options = f"-c listen_addresses=127.0.0.1 -p {port} -k {data} -c shared_buffers=256MB"
    options += f" -c max_connections={max_connections}"
    if not durable:
        options += " -c fsync=off"
    subprocess.run([*ctl, "-w", "-o", options, "start"], check=True, capture_output=True)
    try:
        yield f"postgres://postgres@127.0.0.1:{port}/postgres"
    finally:
        from django.conf import settings
        from django.db import connections

        if settings.configured:  # the search benchmark's own connections (the sync's are in its workers)
            connections.close_all()
        subprocess.run([*ctl, "-m", "fast", "stop"], check=False, capture_output=True)
        shutil.rmtree(data, ignore_errors=True)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


if __name__ == "__main__":
    main()
