"""`make bench`: page times against the raw upstream call, upstream calls per action, and load.

Starts the sandbox and the dashboard as two gunicorn servers on loopback (the dashboard's
TATUM_API_URL points at the sandbox server, as it would point at Tatum), each on its own throwaway
SQLite database as two separate services would be, seeds the sandbox, signs in over HTTP like a
browser, and measures:

1. the median time of each page (list of 50 rows, detail, lookup, a state change) next to the median
   of the raw upstream call it stands on, measured in the same run, at SANDBOX_LATENCY_MS 0 and 50;
2. upstream calls per action, counted from the dashboard's own ApiCall rows;
3. 20 concurrent signed-in users for 30 seconds on the list and detail pages (requests/s, p50, p95,
   errors), at 50 ms latency;
4. the export figures (bench/export_bench.py), unless --skip-export.

Prints a table and saves it to bench/results/. Traffic goes to 127.0.0.1 only; every loop is bounded.
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
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

import requests

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"
PYTHON = sys.executable
KEY = "bench-sandbox-key"
USER, PASSWORD = "bench", "bench-password-0123456789"


# The dashboard runs as deployed (gunicorn.conf.py's defaults: 2 processes of 16 threads).
DASHBOARD_WORKERS, DASHBOARD_THREADS = 2, 16


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def base_env(db_path: Path, latency_ms: int) -> dict[str, str]:
    return {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "dashboard.settings",
        "DEBUG": "false",
        "SECRET_KEY": "bench-only-secret-key-0123456789-abcdefghijklmnopqrstuvwxyz",
        "ALLOWED_HOSTS": "127.0.0.1,localhost",
        "DATABASE_URL": f"sqlite:///{db_path}",
        "STATIC_ROOT": str(db_path.parent / "static"),
        "EXPORT_ROOT": str(db_path.parent / "exports"),
        "SECURE_SSL_REDIRECT": "false",
        "SESSION_COOKIE_SECURE": "false",
        "CSRF_COOKIE_SECURE": "false",
        "SANDBOX_API_KEY": KEY,
        "SANDBOX_LATENCY_MS": str(latency_ms),
        # The sandbox has no rate limit; a paid Tatum plan allows about 200 requests/s.
        "TATUM_MAX_RPS": "200",
        "AXES_FAILURE_LIMIT": "1000",
        "LOG_LEVEL": "WARNING",
        "GUNICORN_ACCESS_LOG": "/dev/null",
    }


def manage(env: dict[str, str], *args: str) -> str:
    result = subprocess.run([PYTHON, "manage.py", *args], cwd=ROOT, env=env, capture_output=True, text=True)
    if result.returncode:
        raise SystemExit(f"manage.py {' '.join(args)} failed:\n{result.stdout}{result.stderr}")
    return result.stdout


@contextlib.contextmanager
def gunicorn(env: dict[str, str], port: int, workers: int, threads: int) -> Iterator[str]:
    server_env = {**env, "GUNICORN_BIND": f"127.0.0.1:{port}", "WEB_CONCURRENCY": str(workers)}
    server_env["GUNICORN_THREADS"] = str(threads)
    process = subprocess.Popen(
        [PYTHON, "-m", "gunicorn", "-c", "gunicorn.conf.py", "dashboard.wsgi"],
        cwd=ROOT,
        env=server_env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until_up(url, process)
        yield url
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()


def wait_until_up(url: str, process: subprocess.Popen) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"gunicorn exited:\n{process.stderr.read()}")
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
        raise SystemExit("bench user could not sign in")
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


def timed(call: Callable[[], int], expect: tuple[int, ...] = (200,)) -> float:
    started = time.perf_counter()
    status = call()
    elapsed = (time.perf_counter() - started) * 1000
    if status not in expect:
        raise SystemExit(f"unexpected HTTP {status}")
    return elapsed


# --- Single-user page times ---------------------------------------------------------------------


@dataclass
class PageFigure:
    action: str
    page_samples: list[float]
    upstream_ms: float
    calls: float
    both_calls_ms: float | None = None

    @property
    def page_ms(self) -> float:
        return statistics.median(self.page_samples)

    @property
    def ratio(self) -> float:
        return self.page_ms / self.upstream_ms if self.upstream_ms else float("nan")


def sandbox_customer(sandbox: str) -> dict:
    upstream = requests.Session()
    upstream.headers["x-api-key"] = KEY
    customers = upstream.get(f"{sandbox}/v3/ledger/customer", params={"pageSize": 50}, timeout=10).json()
    return next(c for c in customers if c["active"] and c["enabled"])


def apicall_count(db_path: Path) -> int:
    with contextlib.closing(sqlite3.connect(db_path, timeout=30)) as db:
        return db.execute("SELECT COUNT(*) FROM customers_apicall").fetchone()[0]


def page_figures(dashboard: str, sandbox: str, db_path: Path, samples: int) -> list[PageFigure]:
    session = signed_in_session(dashboard)
    page = browser(dashboard, session)
    upstream = Connection(sandbox, {"x-api-key": KEY})
    customer = sandbox_customer(sandbox)
    cid, ext = customer["id"], customer["externalId"]
    token = csrf_token(session, dashboard)
    htmx = {"HX-Request": "true", "X-CSRFToken": token, "Referer": f"{dashboard}/customers/{cid}/"}
    # What the detail page's state-change form posts besides the action's own fields.
    state = {
        "external_id": ext,
        "active": "True",
        "active_accounts": "0",
        "customer_country": customer.get("customerCountry", ""),
        "provider_country": customer.get("providerCountry", ""),
    }
    flip = {"value": True}

    def state_change() -> int:
        action = "disable" if flip["value"] else "enable"
        flip["value"] = not flip["value"]
        form = {**state, "enabled": str(action == "disable"), "reason": "benchmark"}
        return page.request("POST", f"/customers/{cid}/{action}/", form=form, headers=htmx)

    def raw_state_change() -> int:
        action = "disable" if flip["value"] else "enable"
        flip["value"] = not flip["value"]
        return upstream.request("PUT", f"/v3/ledger/customer/{cid}/{action}")

    cases = [
        (
            "list (50 rows)",
            lambda: page.request("GET", "/customers/?size=50&page=1"),
            lambda: upstream.request("GET", "/v3/ledger/customer?pageSize=50&offset=0"),
            (200,),
        ),
        (
            "detail",
            lambda: page.request("GET", f"/customers/{cid}/"),
            lambda: upstream.request("GET", f"/v3/ledger/customer/{cid}"),
            (200,),
        ),
        (
            "lookup",
            lambda: page.request("GET", f"/customers/lookup/?{urlencode({'q': ext})}"),
            lambda: upstream.request("GET", f"/v3/ledger/customer/{quote(ext, safe='')}"),
            (302,),
        ),
        ("state change", state_change, raw_state_change, (200, 204)),
    ]
    figures = []
    for action, page_call, raw_call, expect in cases:
        before = apicall_count(db_path)
        page_samples, upstream_samples = interleaved_samples(
            samples,
            lambda page_call=page_call, expect=expect: timed(page_call, expect),
            lambda raw_call=raw_call: timed(raw_call, (200, 204)),
        )
        # The last page's call records are stored just after its response (CALL_RECORD_BATCH_MS).
        time.sleep(0.5)
        calls = (apicall_count(db_path) - before) / (samples + 1)
        figures.append(PageFigure(action, page_samples, statistics.median(upstream_samples), calls))
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


def interleaved_samples(
    samples: int, page: Callable[[], float], raw: Callable[[], float]
) -> tuple[list[float], list[float]]:
    """Times of a page and of its raw upstream call, taken in turns so that drift (other load on the
    machine, a warming cache) weighs on both alike."""
    page(), raw()  # warm-up: connections, caches
    pairs = [(page(), raw()) for _ in range(samples)]
    return [p for p, _ in pairs], [r for _, r in pairs]


# --- Load ----------------------------------------------------------------------------------------


@dataclass
class LoadFigure:
    users: int
    seconds: float
    requests: int
    errors: int
    p50: float
    p95: float

    @property
    def rps(self) -> float:
        return self.requests / self.seconds


def load_figure(dashboard: str, sandbox: str, users: int, seconds: float) -> LoadFigure:
    customer_ids = [
        c["id"]
        for c in requests.get(
            f"{sandbox}/v3/ledger/customer", params={"pageSize": 50}, headers={"x-api-key": KEY}, timeout=10
        ).json()
    ]
    connections = [browser(dashboard, signed_in_session(dashboard)) for _ in range(users)]
    latencies: list[float] = []
    errors = [0]
    lock = threading.Lock()
    stop_at = time.monotonic() + seconds

    def user(index: int) -> None:
        connection, turn = connections[index], index
        while time.monotonic() < stop_at:
            turn += 1
            path = (
                "/customers/?size=50&page=1"
                if turn % 2
                else f"/customers/{customer_ids[turn % len(customer_ids)]}/"
            )
            started = time.perf_counter()
            try:
                ok = connection.request("GET", path) == 200
            except OSError:
                ok = False
            elapsed = (time.perf_counter() - started) * 1000
            with lock:
                latencies.append(elapsed)
                errors[0] += 0 if ok else 1

    threads = [threading.Thread(target=user, args=(i,)) for i in range(users)]
    started = time.monotonic()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=seconds + 60)
    elapsed = time.monotonic() - started
    ordered = sorted(latencies)
    p95 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.95))]
    return LoadFigure(users, elapsed, len(latencies), errors[0], statistics.median(ordered), p95)


# --- Goals ---------------------------------------------------------------------------------------

PAGE_GOAL, P95_GOAL = 1.10, 3.0


def goal_lines(figures: list[PageFigure], load: LoadFigure) -> list[str]:
    """Each goal at 50 ms, with the figures it is judged on and whether it is met."""
    by_action = {f.action: f for f in figures}
    pages = [by_action["list (50 rows)"], by_action["detail"]]
    single_user = statistics.median([t for f in pages for t in f.page_samples])
    lines = ["Goals"]
    for figure in pages:
        verdict = "met" if figure.ratio <= PAGE_GOAL else "NOT met"
        goal = f"goal <= {PAGE_GOAL:.2f}x"
        lines.append(f"  {figure.action:<16} {figure.ratio:.3f}x the raw call ({goal}): {verdict}")
    limit = P95_GOAL * single_user
    verdict = "met" if load.errors == 0 and load.p95 <= limit else "NOT met"
    lines.append(
        f"  load             {load.errors} errors, p95 {load.p95:.1f} ms (goal 0 errors and p95 <= "
        f"{P95_GOAL:.0f} x {single_user:.1f} ms, the single-user median of list and detail, "
        f"= {limit:.1f} ms): {verdict}"
    )
    return lines


# --- Orchestration ---------------------------------------------------------------------------------


def prepare_databases(dashboard_db: Path, sandbox_db: Path, customers: int) -> None:
    sandbox_env = base_env(sandbox_db, 0)
    manage(sandbox_env, "migrate", "--noinput", "-v", "0")
    manage(sandbox_env, "seed_sandbox", "--customers", str(customers), "--seed", "7")
    env = base_env(dashboard_db, 0)
    manage(env, "migrate", "--noinput", "-v", "0")
    manage(env, "collectstatic", "--noinput", "-v", "0")
    script = (
        "from django.contrib.auth.models import Group, User;"
        f"u=User.objects.create_user('{USER}', password='{PASSWORD}');"
        "u.groups.add(Group.objects.get(name='Support'))"
    )
    manage(env, "shell", "-c", script)


def run_at_latency(
    dashboard_db: Path,
    sandbox_db: Path,
    latency_ms: int,
    samples: int,
    load_seconds: float | None,
    users: int,
):
    sandbox_port, dashboard_port = free_port(), free_port()
    # The sandbox stands in for Tatum, a service elsewhere: it logs no requests here and its process is
    # not recycled in the middle of a run (a restart would stall every page for a second).
    sandbox_env = {**base_env(sandbox_db, latency_ms), "GUNICORN_ACCESS_LOG": ""}
    sandbox_env["GUNICORN_MAX_REQUESTS"] = "0"
    with gunicorn(sandbox_env, sandbox_port, workers=1, threads=32) as sandbox_url:
        dashboard_env = {**base_env(dashboard_db, latency_ms), "TATUM_API_URL": f"{sandbox_url}/sandbox"}
        with gunicorn(dashboard_env, dashboard_port, DASHBOARD_WORKERS, DASHBOARD_THREADS) as dashboard_url:
            figures = page_figures(dashboard_url, f"{sandbox_url}/sandbox", dashboard_db, samples)
            load = (
                load_figure(dashboard_url, f"{sandbox_url}/sandbox", users, load_seconds)
                if load_seconds
                else None
            )
    return figures, load


def export_figures() -> str:
    script = ROOT / "bench" / "export_bench.py"
    if not script.exists():
        return "(bench/export_bench.py is missing)"
    result = subprocess.run([PYTHON, str(script)], cwd=ROOT, capture_output=True, text=True, timeout=1800)
    return (result.stdout + result.stderr).strip()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=2000)
    parser.add_argument("--samples", type=int, default=40)
    parser.add_argument("--users", type=int, default=20)
    parser.add_argument("--load-seconds", type=float, default=30)
    parser.add_argument("--skip-export", action="store_true")
    args = parser.parse_args()

    lines = [
        f"Benchmark {datetime.now(UTC):%Y-%m-%d %H:%M UTC}, {os.cpu_count()} cores, dashboard on gunicorn "
        f"gthread, {DASHBOARD_WORKERS} processes x {DASHBOARD_THREADS} threads, "
        f"Python {platform.python_version()} ({os.path.realpath(PYTHON)})"
    ]
    with tempfile.TemporaryDirectory() as tmp:
        dashboard_db, sandbox_db = Path(tmp) / "dashboard.sqlite3", Path(tmp) / "sandbox.sqlite3"
        prepare_databases(dashboard_db, sandbox_db, args.customers)
        for latency in (0, 50):
            load_seconds = args.load_seconds if latency == 50 else None
            figures, load = run_at_latency(
                dashboard_db, sandbox_db, latency, args.samples, load_seconds, args.users
            )
            lines += [
                "",
                f"SANDBOX_LATENCY_MS={latency}: median of {args.samples} (ms)",
                f"{'action':<16}{'page':>9}{'upstream':>10}{'ratio':>8}{'calls':>7}",
            ]
            lines += [
                f"{f.action:<16}{f.page_ms:>9.1f}{f.upstream_ms:>10.1f}{f.ratio:>8.2f}{f.calls:>7.1f}"
                for f in figures
            ]
            detail = figures[1]
            if detail.both_calls_ms:
                lines.append(
                    f"(detail's two calls made at once, raw: {detail.both_calls_ms:.1f} ms; "
                    f"the page is {detail.page_ms / detail.both_calls_ms:.2f}x that)"
                )
            if load:
                lines += [
                    "",
                    f"{load.users} concurrent users, {load.seconds:.0f} s, list and detail pages, "
                    f"latency {latency} ms",
                    f"requests/s {load.rps:.1f}   p50 {load.p50:.1f} ms   p95 {load.p95:.1f} ms   "
                    f"errors {load.errors} of {load.requests}",
                    "",
                    *goal_lines(figures, load),
                ]
    if not args.skip_export:
        lines += ["", "Export (bench/export_bench.py)", export_figures()]
    report = "\n".join(lines)
    print(report)
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / f"bench-{datetime.now(UTC):%Y%m%dT%H%M%SZ}.txt").write_text(report + "\n")
    (RESULTS / "latest.txt").write_text(report + "\n")


if __name__ == "__main__":
    main()
