"""`make bench`: the dashboard's pages side by side with a plain Django peer, and load on both.

Starts the sandbox, the dashboard and the reference (bench/reference/, a plain Django project of the
same two pages) as gunicorn servers on loopback, the sandbox standing in for Tatum for both, each
on a throwaway database of its own as separate services would be: a SQLite file, or with --postgres
a database of one throwaway PostgreSQL 15 cluster (fsync on, as deployed). Seeds the sandbox, signs in
over HTTP like a browser, and measures:

1. at SANDBOX_LATENCY_MS 0 and 50, the median time of the list page (50 rows) and the detail page
   of the dashboard and of the reference, timed in turns with the raw upstream call; the lookup and
   the state change against their raw upstream call only (the reference has neither);
2. upstream calls per dashboard action, counted from the dashboard's own ApiCall rows;
3. at 50 ms, 20 concurrent signed-in users alternating list and detail pages (locust, as a process
   of its own, bench/locustfile.py), on the dashboard and on the reference in turns;
4. each goal with its verdict;
5. the export figures (bench/export_bench.py), unless --skip-export.

Prints a table and saves it to bench/results/ (latest.txt, or latest-postgresql.txt with --postgres).
Traffic goes to 127.0.0.1 only; every loop is bounded.
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import http.client
import itertools
import os
import platform
import re
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import quote, urlencode, urlsplit

import psycopg
import requests
from index_bench import throwaway_postgres
from psycopg import sql

ROOT = Path(__file__).resolve().parent.parent
BENCH = ROOT / "bench"
RESULTS = BENCH / "results"
PYTHON = sys.executable
KEY = "bench-sandbox-key"
USER, PASSWORD = "bench", "bench-password-0123456789"


# The dashboard runs as deployed (gunicorn.conf.py's defaults: 2 processes of 16 threads), and the
# reference with the same settings.
DASHBOARD_WORKERS, DASHBOARD_THREADS = 2, 16
# The sandbox has no rate limit; a paid Tatum plan allows about 200 requests/s (--max-rps).
MAX_RPS = 200
# PostgreSQL connections for the three servers (--postgres): each gunicorn thread holds one, and each
# dashboard process one more for the shared rate limit; PostgreSQL's default of 100 is too few.
POSTGRES_MAX_CONNECTIONS = 200


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def sqlite_url(path: Path) -> str:
    return f"sqlite:///{path}"


def base_env(database_url: str, tmp: Path, latency_ms: int) -> dict[str, str]:
    """The dashboard's (or the sandbox's) settings on database_url, its files in tmp."""
    return {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "dashboard.settings",
        "DEBUG": "false",
        "SECRET_KEY": "bench-only-secret-key-0123456789-abcdefghijklmnopqrstuvwxyz",
        "ALLOWED_HOSTS": "127.0.0.1,localhost",
        "DATABASE_URL": database_url,
        "STATIC_ROOT": str(tmp / "static"),
        "EXPORT_ROOT": str(tmp / "exports"),
        "SECURE_SSL_REDIRECT": "false",
        "SESSION_COOKIE_SECURE": "false",
        "CSRF_COOKIE_SECURE": "false",
        "SANDBOX_API_KEY": KEY,
        "SANDBOX_LATENCY_MS": str(latency_ms),
        "TATUM_MAX_RPS": str(MAX_RPS),
        "AXES_FAILURE_LIMIT": "1000",
        "LOG_LEVEL": "WARNING",
        "GUNICORN_ACCESS_LOG": "/dev/null",
    }


def reference_env(database_url: str, api_url: str) -> dict[str, str]:
    """The reference project (bench/reference/) on database_url, reading the Tatum API at api_url: a
    SQLite file by its path (the reference's own SQLite settings), any other database by its URL."""
    if database_url.startswith("sqlite:///"):
        database = {"REFERENCE_DB": database_url.removeprefix("sqlite:///"), "REFERENCE_DATABASE_URL": ""}
    else:
        database = {"REFERENCE_DATABASE_URL": database_url}
    return {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "reference.settings",
        "PYTHONPATH": str(BENCH),
        "SECRET_KEY": "bench-only-secret-key-0123456789-abcdefghijklmnopqrstuvwxyz",
        **database,
        "TATUM_API_URL": api_url,
        "TATUM_API_KEY": KEY,
        "GUNICORN_ACCESS_LOG": "/dev/null",
    }


def manage(env: dict[str, str], *args: str) -> str:
    result = subprocess.run([PYTHON, "manage.py", *args], cwd=ROOT, env=env, capture_output=True, text=True)
    if result.returncode:
        raise SystemExit(f"manage.py {' '.join(args)} failed:\n{result.stdout}{result.stderr}")
    return result.stdout


def reference_admin(env: dict[str, str], *args: str) -> str:
    """`django-admin` for the reference project, which has no manage.py of its own."""
    result = subprocess.run(
        [PYTHON, "-m", "django", *args], cwd=BENCH, env=env, capture_output=True, text=True
    )
    if result.returncode:
        raise SystemExit(f"django-admin {' '.join(args)} failed:\n{result.stdout}{result.stderr}")
    return result.stdout


@dataclass
class Server:
    """A gunicorn server to start: its name (for its log and control socket), app and settings."""

    name: str
    env: dict[str, str]
    workers: int
    threads: int
    app: str = "dashboard.wsgi"
    cwd: Path = ROOT


@contextlib.contextmanager
def gunicorn(server: Server, tmp: Path, problems: list[str]) -> Iterator[str]:
    """Serve with gunicorn.conf.py on a free loopback port. Each server gets a control socket of its
    own in tmp (by default they would all share ~/.gunicorn/gunicorn.ctl); the errors it logs,
    shutdown included, are added to problems."""
    port = free_port()
    server_env = {**server.env, "GUNICORN_BIND": f"127.0.0.1:{port}", "WEB_CONCURRENCY": str(server.workers)}
    server_env["GUNICORN_THREADS"] = str(server.threads)
    log_path = tmp / f"{server.name}.log"
    command = [PYTHON, "-m", "gunicorn", "-c", str(ROOT / "gunicorn.conf.py")]
    command += ["--control-socket", str(tmp / f"{server.name}.ctl"), server.app]
    with log_path.open("w") as log:
        process = subprocess.Popen(
            command, cwd=server.cwd, env=server_env, stdout=subprocess.DEVNULL, stderr=log, text=True
        )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until_up(url, process, log_path)
        yield url
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            problems.append(f"{server.name}: did not stop within 20 s of SIGTERM")
        problems += [f"{server.name}: {line}" for line in logged_errors(log_path)]


def logged_errors(log_path: Path) -> list[str]:
    lines = log_path.read_text(errors="replace").splitlines()
    return [line for line in lines if "[ERROR]" in line or "[CRITICAL]" in line or "Traceback" in line]


def wait_until_up(url: str, process: subprocess.Popen, log_path: Path) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"gunicorn exited:\n{log_path.read_text(errors='replace')}")
        with contextlib.suppress(requests.RequestException):
            requests.get(f"{url}/accounts/login/", timeout=2)
            return
        time.sleep(0.2)
    raise SystemExit(f"{url} did not start in 30 s")


def signed_in_session(url: str) -> requests.Session:
    session = requests.Session()
    page = session.get(f"{url}/accounts/login/", timeout=10)
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.text).group(1)
    response = session.post(
        f"{url}/accounts/login/",
        data={"username": USER, "password": PASSWORD, "csrfmiddlewaretoken": token},
        headers={"Referer": f"{url}/accounts/login/"},
        timeout=10,
    )
    if "Sign out" not in response.text:
        raise SystemExit(f"bench user could not sign in at {url}")
    return session


def csrf_token(session: requests.Session, url: str) -> str:
    return session.cookies.get("csrftoken") or signed_in_session(url).cookies["csrftoken"]


class Connection:
    """One kept-alive HTTP/1.1 connection that sends a fixed set of headers (the session's cookies,
    the API key) and reads each answer in full, as a browser would.

    Pages and raw upstream calls alike are timed on these rather than on `requests`, whose cookie jar
    alone costs about 1.5 ms a signed-in page on this kind of machine: a cost of the measuring client,
    which a browser does not pay, and which would be counted against the page only.
    """

    def __init__(self, base_url: str, headers: dict[str, str]) -> None:
        parts = urlsplit(base_url)
        self._prefix = parts.path.rstrip("/")
        self._headers = headers
        self._connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)

    def request(
        self,
        method: str,
        path: str,
        form: dict[str, str] | None = None,
        headers: dict[str, str] | None = None,
    ) -> int:
        body = urlencode(form) if form is not None else None
        sent = {**self._headers, **(headers or {})}
        if body is not None:
            sent["Content-Type"] = "application/x-www-form-urlencoded"
        for attempt in (1, 2):
            try:
                self._connection.request(method, self._prefix + path, body=body, headers=sent)
                response = self._connection.getresponse()
                response.read()
                return response.status
            except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError):
                # The server closed the kept-alive connection while it was idle: open a new one once.
                self._connection.close()
                if attempt == 2:
                    raise
        raise AssertionError("unreachable")


def browser(url: str, session: requests.Session) -> Connection:
    """A connection carrying a signed-in session's cookies."""
    return Connection(url, {"Cookie": "; ".join(f"{c.name}={c.value}" for c in session.cookies)})


def timed(call: Callable[[], int], expect: tuple[int, ...] = (200,), what: str = "") -> float:
    started = time.perf_counter()
    status = call()
    elapsed = (time.perf_counter() - started) * 1000
    if status not in expect:
        raise SystemExit(f"unexpected HTTP {status} ({what})")
    return elapsed


# --- Single-user page times ---------------------------------------------------------------------


@dataclass
class PageFigure:
    action: str
    page_samples: list[float]
    upstream_ms: float
    calls: float
    reference_samples: list[float] | None = None
    both_calls_ms: float | None = None

    @property
    def page_ms(self) -> float:
        return statistics.median(self.page_samples)

    @property
    def reference_ms(self) -> float | None:
        return statistics.median(self.reference_samples) if self.reference_samples else None

    @property
    def ratio(self) -> float:
        """The dashboard's page against the raw upstream call."""
        return self.page_ms / self.upstream_ms if self.upstream_ms else float("nan")

    @property
    def reference_ratio(self) -> float | None:
        """The dashboard's page against the reference's."""
        return self.page_ms / self.reference_ms if self.reference_ms else None


def sandbox_customers(sandbox: str) -> list[dict]:
    upstream = requests.Session()
    upstream.headers["x-api-key"] = KEY
    return upstream.get(f"{sandbox}/v3/ledger/customer", params={"pageSize": 50}, timeout=10).json()


def apicall_count(database_url: str) -> int:
    """The dashboard's call records so far, read from its database (SQLite or PostgreSQL)."""
    if database_url.startswith("sqlite:///"):
        db = sqlite3.connect(database_url.removeprefix("sqlite:///"), timeout=30)
    else:
        db = psycopg.connect(database_url)
    with contextlib.closing(db):
        return db.execute("SELECT COUNT(*) FROM customers_apicall").fetchone()[0]


def page_figures(
    dashboard: str, reference: str, sandbox: str, database_url: str, samples: int
) -> list[PageFigure]:
    session = signed_in_session(dashboard)
    page = browser(dashboard, session)
    peer = browser(reference, signed_in_session(reference))
    upstream = Connection(sandbox, {"x-api-key": KEY})
    # The page and the raw call each switch a customer of their own on and off, so that neither
    # depends on the other's outcome.
    customer, raw_customer = [c for c in sandbox_customers(sandbox) if c["active"] and c["enabled"]][:2]
    cid, ext = customer["id"], customer["externalId"]
    token = csrf_token(session, dashboard)
    htmx = {"HX-Request": "true", "Referer": f"{dashboard}/customers/{cid}/"}
    page_disables, raw_disables = itertools.cycle((True, False)), itertools.cycle((True, False))

    def state_change() -> int:
        action = "disable" if next(page_disables) else "enable"
        form = {"reason": "benchmark", "csrfmiddlewaretoken": token}
        return page.request("POST", f"/customers/{cid}/{action}/", form=form, headers=htmx)

    def raw_state_change() -> int:
        action = "disable" if next(raw_disables) else "enable"
        return upstream.request("PUT", f"/v3/ledger/customer/{raw_customer['id']}/{action}")

    list_path, detail_path = "/customers/live/?size=50&page=1", f"/customers/{cid}/"
    # (action, dashboard page, reference page or None, raw upstream call, the page's expected statuses)
    cases = [
        (
            "list (50 rows)",
            lambda: page.request("GET", list_path),
            lambda: peer.request("GET", list_path),
            lambda: upstream.request("GET", "/v3/ledger/customer?pageSize=50&offset=0"),
            (200,),
        ),
        (
            "detail",
            lambda: page.request("GET", detail_path),
            lambda: peer.request("GET", detail_path),
            lambda: upstream.request("GET", f"/v3/ledger/customer/{cid}"),
            (200,),
        ),
        (
            "lookup",
            lambda: page.request("GET", f"/customers/lookup/?{urlencode({'q': ext})}"),
            None,
            lambda: upstream.request("GET", f"/v3/ledger/customer/{quote(ext, safe='')}"),
            (302,),
        ),
        ("state change", state_change, None, raw_state_change, (200, 204)),
    ]
    figures = []
    for action, page_call, peer_call, raw_call, expect in cases:
        before = apicall_count(database_url)
        calls = [lambda page_call=page_call, expect=expect, a=action: timed(page_call, expect, a)]
        if peer_call:
            calls.append(
                lambda peer_call=peer_call, expect=expect, a=action: timed(
                    peer_call, expect, f"{a}, reference"
                )
            )
        calls.append(
            lambda raw_call=raw_call, a=action: timed(raw_call, (200, 204), f"{a}, raw upstream call")
        )
        columns = interleaved_samples(samples, calls)
        count = (apicall_count(database_url) - before) / (samples + 1)
        figure = PageFigure(action, columns[0], statistics.median(columns[-1]), count)
        figure.reference_samples = columns[1] if peer_call else None
        figures.append(figure)
    figures[1].both_calls_ms = both_detail_calls_ms(sandbox, cid, samples)
    return figures


def both_detail_calls_ms(sandbox: str, cid: str, samples: int) -> float:
    """Median time of the detail page's two upstream calls made at once, as the page makes them (the
    customer, and its accounts on a second connection): the floor of that page, above one call."""
    first, second = Connection(sandbox, {"x-api-key": KEY}), Connection(sandbox, {"x-api-key": KEY})
    accounts = f"/v3/ledger/account/customer/{cid}?pageSize=50&offset=0"

    def both() -> int:
        other = threading.Thread(target=second.request, args=("GET", accounts))
        other.start()
        status = first.request("GET", f"/v3/ledger/customer/{cid}")
        other.join()
        return status

    both()
    return statistics.median(timed(both) for _ in range(samples))


def interleaved_samples(samples: int, calls: list[Callable[[], float]]) -> list[list[float]]:
    """Times of each call (dashboard page, reference page, raw upstream call), taken in turns so that
    drift (other load on the machine, a warming cache) weighs on all alike."""
    for call in calls:  # warm-up: connections, caches
        call()
    rounds = [[call() for call in calls] for _ in range(samples)]
    return [list(column) for column in zip(*rounds, strict=True)]


# --- Load ----------------------------------------------------------------------------------------


@dataclass
class LoadFigure:
    server: str
    requests: int
    failures: int
    rps: float
    p50: float
    p95: float

    @property
    def seconds(self) -> float:
        """The time the figures cover: from the moment every user had signed in to the last answer."""
        return self.requests / self.rps if self.rps else 0.0


def locust_figure(
    server: str, url: str, tmp: Path, customer_ids: list[str], users: int, seconds: int
) -> LoadFigure:
    """Run bench/locustfile.py against url in a process of its own and read its statistics."""
    prefix = tmp / f"locust-{server}-{time.monotonic_ns()}"
    env = {
        **os.environ,
        "BENCH_USERNAME": USER,
        "BENCH_PASSWORD": PASSWORD,
        "BENCH_CUSTOMER_IDS": ",".join(customer_ids),
        "BENCH_USERS": str(users),
    }
    command = [PYTHON, "-m", "locust", "-f", str(BENCH / "locustfile.py"), "--headless"]
    command += ["-u", str(users), "-r", str(users), "-t", f"{seconds}s", "--csv", str(prefix)]
    command += ["--host", url, "--only-summary", "--loglevel", "WARNING"]
    result = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=seconds + 120)
    stats = Path(f"{prefix}_stats.csv")
    if not stats.exists():
        raise SystemExit(f"locust wrote no statistics (exit {result.returncode}):\n{result.stderr[-3000:]}")
    with stats.open(newline="") as handle:
        total = next(row for row in csv.DictReader(handle) if row["Name"] == "Aggregated")
    return LoadFigure(
        server,
        requests=int(total["Request Count"]),
        failures=int(total["Failure Count"]),
        rps=float(total["Requests/s"]),
        p50=float(total["50%"]),
        p95=float(total["95%"]),
    )


def load_figures(
    dashboard: str, reference: str, tmp: Path, customer_ids: list[str], users: int, seconds: int, rounds: int
) -> list[LoadFigure]:
    """The same load on the dashboard and on the reference in turns: dashboard first in odd rounds,
    reference first in even ones, so that a machine slowing down or speeding up weighs on both alike."""
    figures = []
    servers = [("dashboard", dashboard), ("reference", reference)]
    for round_number in range(rounds):
        for name, url in servers if round_number % 2 == 0 else servers[::-1]:
            figures.append(locust_figure(name, url, tmp, customer_ids, users, seconds))
    return figures


def load_total(figures: list[LoadFigure], server: str) -> tuple[float, int, int]:
    """requests/s over all of a server's runs, its requests and its failures."""
    own = [f for f in figures if f.server == server]
    requests_made = sum(f.requests for f in own)
    seconds = sum(f.seconds for f in own)
    return (requests_made / seconds if seconds else 0.0), requests_made, sum(f.failures for f in own)


# --- Goals ---------------------------------------------------------------------------------------

PAGE_GOAL, LOAD_GOAL = 1.05, 0.95


def goal_lines(
    figures_by_latency: dict[int, list[PageFigure]], loads: list[LoadFigure], max_rps: float
) -> list[str]:
    """Each goal, with the figures it is judged on and whether it is met."""
    lines = ["Goals (dashboard against the reference, measured side by side in this run)"]
    for latency, figures in figures_by_latency.items():
        for figure in figures:
            if figure.reference_ratio is None:
                continue
            verdict = "met" if figure.reference_ratio <= PAGE_GOAL else "NOT met"
            lines.append(
                f"  {figure.action + f' at {latency} ms':<24} median {figure.page_ms:.1f} ms against "
                f"{figure.reference_ms:.1f} ms: {figure.reference_ratio:.3f}x (goal <= {PAGE_GOAL:.2f}x): "
                f"{verdict}"
            )
    if loads:
        rps, requests_made, failures = load_total(loads, "dashboard")
        reference_rps, _, reference_failures = load_total(loads, "reference")
        ratio = rps / reference_rps if reference_rps else float("nan")
        verdict = "met" if ratio >= LOAD_GOAL and failures == 0 else "NOT met"
        lines.append(
            f"  {'load at 50 ms':<24} {rps:.1f} requests/s against {reference_rps:.1f}: {ratio:.3f}x, "
            f"{failures} errors of {requests_made} (goal >= {LOAD_GOAL:.2f}x and 0 errors): {verdict}"
        )
        if reference_failures:
            lines.append(f"  (the reference had {reference_failures} errors: its figures are suspect)")
        lines.append(_rate_limit_ceiling(figures_by_latency[50], reference_rps, max_rps))
    return lines


def _rate_limit_ceiling(figures: list[PageFigure], reference_rps: float, max_rps: float) -> str:
    """What the dashboard's shared rate limit alone allows of the load's pages (the reference has none):
    the load alternates the list and the detail page, each making the calls its figure counted."""
    list_page, detail_page = figures[0], figures[1]
    calls_per_page = (list_page.calls + detail_page.calls) / 2
    ceiling = max_rps / calls_per_page
    line = (
        f"  (TATUM_MAX_RPS={max_rps:g} lets the dashboard serve at most {ceiling:.0f} pages/s of this load, "
        f"at {calls_per_page:g} Tatum calls a page"
    )
    if ceiling < LOAD_GOAL * reference_rps:
        return line + (
            f": below the {LOAD_GOAL:.2f}x of the reference's figure that the goal asks for, "
            f"{LOAD_GOAL * reference_rps:.0f}; --max-rps above it measures the pages, not the limit)"
        )
    return line + ")"


# --- Orchestration ---------------------------------------------------------------------------------


@dataclass
class Databases:
    """Each server's empty database (a URL), the directory of the run's files, and what they are."""

    sandbox: str
    dashboard: str
    reference: str
    tmp: Path
    kind: str


@contextlib.contextmanager
def databases(tmp: Path, postgres: bool) -> Iterator[Databases]:
    """A SQLite file per server in tmp or, with postgres, a database per server in one throwaway
    PostgreSQL cluster with fsync on, as deployed."""
    names = ("sandbox", "dashboard", "reference")
    if not postgres:
        yield Databases(*(sqlite_url(tmp / f"{name}.sqlite3") for name in names), tmp, "SQLite")
        return
    with throwaway_postgres(durable=True, max_connections=POSTGRES_MAX_CONNECTIONS) as url:
        with contextlib.closing(psycopg.connect(url, autocommit=True)) as admin:
            for name in names:
                admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
            major = admin.info.server_version // 10000
            fsync = admin.execute("SHOW fsync").fetchone()[0]
        root = url.rsplit("/", 1)[0]
        yield Databases(*(f"{root}/{name}" for name in names), tmp, f"PostgreSQL {major}, fsync {fsync}")


def prepare_sandbox_and_dashboard(sandbox_db: str, dashboard_db: str, tmp: Path, customers: int) -> None:
    """The sandbox's ledger seeded, and the dashboard's database with its Support user."""
    sandbox_env = base_env(sandbox_db, tmp, 0)
    manage(sandbox_env, "migrate", "--noinput", "-v", "0")
    manage(sandbox_env, "seed_sandbox", "--customers", str(customers), "--seed", "7")
    env = base_env(dashboard_db, tmp, 0)
    manage(env, "migrate", "--noinput", "-v", "0")
    manage(env, "collectstatic", "--noinput", "-v", "0")
    script = (
        "from django.contrib.auth.models import Group, User;"
        f"u=User.objects.create_user('{USER}', password='{PASSWORD}');"
        "u.groups.add(Group.objects.get(name='Support'))"
    )
    manage(env, "shell", "-c", script)


def prepare_databases(dbs: Databases, customers: int) -> None:
    prepare_sandbox_and_dashboard(dbs.sandbox, dbs.dashboard, dbs.tmp, customers)
    peer_env = reference_env(dbs.reference, "http://127.0.0.1:1")  # no call is made while preparing
    reference_admin(peer_env, "migrate", "--noinput", "-v", "0")
    create_user = f"User.objects.create_user('{USER}', password='{PASSWORD}')"
    reference_admin(peer_env, "shell", "-c", f"from django.contrib.auth.models import User;{create_user}")


@dataclass
class Run:
    samples: int
    users: int
    load_seconds: int
    load_rounds: int
    max_rps: float = MAX_RPS


def sandbox_server(database_url: str, tmp: Path, latency_ms: int) -> Server:
    """The sandbox, standing in for Tatum, a service elsewhere: it logs no requests here and its process
    is not recycled in the middle of a run (a restart would stall every page for a second)."""
    env = {**base_env(database_url, tmp, latency_ms), "GUNICORN_ACCESS_LOG": "", "GUNICORN_MAX_REQUESTS": "0"}
    return Server(f"sandbox-{latency_ms}ms", env, 1, 32)


def run_at_latency(
    dbs: Databases, latency_ms: int, run: Run, with_load: bool, problems: list[str]
) -> tuple[list[PageFigure], list[LoadFigure]]:
    tmp = dbs.tmp
    with gunicorn(sandbox_server(dbs.sandbox, tmp, latency_ms), tmp, problems) as sandbox_url:
        api_url = f"{sandbox_url}/sandbox"
        dashboard_env = {
            **base_env(dbs.dashboard, tmp, latency_ms),
            "TATUM_API_URL": api_url,
            "TATUM_MAX_RPS": f"{run.max_rps:g}",
        }
        dashboard = Server(f"dashboard-{latency_ms}ms", dashboard_env, DASHBOARD_WORKERS, DASHBOARD_THREADS)
        reference = Server(
            f"reference-{latency_ms}ms",
            reference_env(dbs.reference, api_url),
            DASHBOARD_WORKERS,
            DASHBOARD_THREADS,
            app="reference.wsgi",
            cwd=BENCH,
        )
        with (
            gunicorn(dashboard, tmp, problems) as dashboard_url,
            gunicorn(reference, tmp, problems) as reference_url,
        ):
            figures = page_figures(dashboard_url, reference_url, api_url, dbs.dashboard, run.samples)
            loads = []
            if with_load:
                customer_ids = [c["id"] for c in sandbox_customers(api_url)]
                loads = load_figures(
                    dashboard_url,
                    reference_url,
                    tmp,
                    customer_ids,
                    run.users,
                    run.load_seconds,
                    run.load_rounds,
                )
    return figures, loads


def page_table(latency: int, samples: int, figures: list[PageFigure]) -> list[str]:
    lines = [
        "",
        f"SANDBOX_LATENCY_MS={latency}: median of {samples} (ms); d/ref = dashboard / reference, "
        "d/raw = dashboard / raw upstream call",
        f"{'action':<16}{'dashboard':>10}{'reference':>10}{'d/ref':>8}{'raw':>8}{'d/raw':>7}{'calls':>7}",
    ]
    for f in figures:
        peer = f"{f.reference_ms:>10.1f}{f.reference_ratio:>8.3f}" if f.reference_ms else f"{'-':>10}{'-':>8}"
        lines.append(
            f"{f.action:<16}{f.page_ms:>10.1f}{peer}{f.upstream_ms:>8.1f}{f.ratio:>7.2f}{f.calls:>7.1f}"
        )
    detail = figures[1]
    if detail.both_calls_ms:
        lines.append(
            f"(detail's two calls made at once, raw: {detail.both_calls_ms:.1f} ms; the dashboard's page is "
            f"{detail.page_ms / detail.both_calls_ms:.2f}x that, the reference's "
            f"{detail.reference_ms / detail.both_calls_ms:.2f}x)"
        )
    if figures[3].calls == 0:
        lines.append("(the state change made no upstream call: the dashboard refused the posted form)")
    return lines


def load_table(run: Run, loads: list[LoadFigure]) -> list[str]:
    lines = [
        "",
        f"{run.users} concurrent users (locust), list and detail pages in turns, latency 50 ms, "
        f"{run.load_rounds} round(s) of {run.load_seconds} s per server, taken in turns",
        f"{'server':<11}{'seconds':>8}{'requests/s':>11}{'p50':>7}{'p95':>7}{'errors':>8}{'requests':>10}",
    ]
    lines += [
        f"{f.server:<11}{f.seconds:>8.1f}{f.rps:>11.1f}{f.p50:>7.0f}{f.p95:>7.0f}{f.failures:>8}{f.requests:>10}"
        for f in loads
    ]
    for server in ("dashboard", "reference"):
        rps, requests_made, failures = load_total(loads, server)
        lines.append(f"{server} overall: {rps:.1f} requests/s, {failures} errors of {requests_made}")
    lines.append("(locust's percentiles, in ms, are rounded to 2 significant digits above 100 ms)")
    return lines


def export_figures() -> str:
    script = BENCH / "export_bench.py"
    if not script.exists():
        return "(bench/export_bench.py is missing)"
    result = subprocess.run([PYTHON, str(script)], cwd=ROOT, capture_output=True, text=True, timeout=1800)
    return (result.stdout + result.stderr).strip()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=2000)
    parser.add_argument("--samples", type=int, default=60)
    parser.add_argument("--users", type=int, default=20)
    parser.add_argument("--load-seconds", type=int, default=30, help="per server and round; 0 skips the load")
    parser.add_argument("--load-rounds", type=int, default=2)
    parser.add_argument("--skip-export", action="store_true")
    parser.add_argument(
        "--postgres",
        action="store_true",
        help="each server on a database of one throwaway PostgreSQL 15 cluster (fsync on), not SQLite",
    )
    parser.add_argument(
        "--max-rps", type=float, default=MAX_RPS, help="the dashboard's TATUM_MAX_RPS (the shared rate limit)"
    )
    args = parser.parse_args()
    run = Run(args.samples, args.users, args.load_seconds, args.load_rounds, args.max_rps)

    figures_by_latency: dict[int, list[PageFigure]] = {}
    loads: list[LoadFigure] = []
    problems: list[str] = []
    with tempfile.TemporaryDirectory() as tmp_name, databases(Path(tmp_name), args.postgres) as dbs:
        lines = [
            f"Benchmark {datetime.now(UTC):%Y-%m-%d %H:%M UTC} on {dbs.kind}, TATUM_MAX_RPS={run.max_rps:g}, "
            f"{os.cpu_count()} cores, dashboard and reference each on gunicorn gthread, "
            f"{DASHBOARD_WORKERS} processes x {DASHBOARD_THREADS} threads, "
            f"Python {platform.python_version()} ({os.path.realpath(PYTHON)})"
        ]
        prepare_databases(dbs, args.customers)
        for latency in (0, 50):
            with_load = latency == 50 and run.load_seconds > 0 and run.load_rounds > 0
            figures, latency_loads = run_at_latency(dbs, latency, run, with_load, problems)
            figures_by_latency[latency] = figures
            loads += latency_loads
            lines += page_table(latency, run.samples, figures)
            if latency_loads:
                lines += load_table(run, latency_loads)
    lines += ["", *goal_lines(figures_by_latency, loads, run.max_rps)]
    lines += ["", "Server logs: " + ("no errors" if not problems else f"{len(problems)} error line(s)")]
    lines += [f"  {problem}" for problem in problems]
    if not args.skip_export:
        lines += ["", "Export (bench/export_bench.py)", export_figures()]
    report = "\n".join(lines)
    print(report)
    suffix = "-postgresql" if args.postgres else ""
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / f"bench-{datetime.now(UTC):%Y%m%dT%H%M%SZ}{suffix}.txt").write_text(report + "\n")
    (RESULTS / f"latest{suffix}.txt").write_text(report + "\n")


if __name__ == "__main__":
    main()
