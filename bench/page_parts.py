"""Where the dashboard's list and detail pages spend their time, part by part.

    .venv/bin/python bench/page_parts.py [--pages 200] [--customers 200] [--latency 0]

Seeds the sandbox on a throwaway SQLite database and serves it with gunicorn (as `make bench` does),
then serves the dashboard's list page (50 rows, live from Tatum) and a customer's detail page `--pages`
times each in this process, through Django's test client, signed in as a Support user. Timers wrap the
parts of a request named in PARTS; the report gives each part's wall time per page (ms), how often it
ran per page, and the page's queries and Tatum calls.

Parts nest (the Tatum reads run inside the view, and the detail page's second read in a thread of its
own while the first runs), so they do not add up to the whole request. The figures say what a feature
of a page costs, to weigh against bench/run.py's comparison with the reference, which has none of them.
"""

from __future__ import annotations

import argparse
import functools
import importlib
import os
import statistics
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import Any

from run import (
    ROOT,
    USER,
    base_env,
    gunicorn,
    prepare_sandbox_and_dashboard,
    sandbox_customers,
    sandbox_server,
    sqlite_url,
)

# (label, module, attribute, pages it is shown for): each attribute is wrapped where the request finds
# it, so a view's own imports are wrapped in the view's module.
BOTH, DETAIL = "list detail", "detail"
VIEWS = "customers.screens.views"
PARTS = [
    ("session", "django.contrib.sessions.backends.db", "SessionStore.load", BOTH),
    ("user", "django.contrib.auth", "get_user", BOTH),
    ("model permissions (2 queries)", "django.contrib.auth.backends", "ModelBackend._get_permissions", BOTH),
    ("Tatum calls, each (HTTP and reservation)", "customers.tatum.client", "TatumClient._request", BOTH),
    ("  of which rate-limit reservations", "customers.credits.ratelimit", "SharedRateLimiter.wait", BOTH),
    ("the two reads at once", VIEWS, "customer_detail_get", DETAIL),
    ("index sighting", VIEWS, "records_seen", BOTH),
    ("status area (unsettled changes)", VIEWS, "_status_context", DETAIL),
    ("compliance case", VIEWS, "_compliance_context", DETAIL),
    ("ten newest audit entries", VIEWS, "entry_page", DETAIL),
    ("accounts area", VIEWS, "_accounts_context", DETAIL),
    ("rendering", VIEWS, "render", BOTH),
    ("  of which header credits", "customers.context_processors", "credits_spent_today", BOTH),
    ("call records and tally", "customers.middleware", "api_calls_store_collected", BOTH),
]


class Timers:
    """Wall time and calls per label, added up across threads."""

    def __init__(self) -> None:
        self.seconds: defaultdict[str, float] = defaultdict(float)
        self.calls: defaultdict[str, int] = defaultdict(int)

    def wrap(self, label: str, module_name: str, attribute: str) -> None:
        owner: Any = importlib.import_module(module_name)
        *path, name = attribute.split(".")
        for part in path:
            owner = getattr(owner, part)
        setattr(owner, name, self._timed(label, getattr(owner, name)))

    def _timed(self, label: str, function: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(function)
        def timed(*args: Any, **kwargs: Any) -> Any:
            start = time.perf_counter()
            try:
                return function(*args, **kwargs)
            finally:
                self.seconds[label] += time.perf_counter() - start
                self.calls[label] += 1

        return timed

    def reset(self) -> None:
        self.seconds.clear()
        self.calls.clear()


def measure(pages: int, customers: int, latency: int) -> list[str]:
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        sandbox_db, dashboard_db = sqlite_url(tmp / "sandbox.sqlite3"), sqlite_url(tmp / "dashboard.sqlite3")
        prepare_sandbox_and_dashboard(sandbox_db, dashboard_db, tmp, customers)
        problems: list[str] = []
        with gunicorn(sandbox_server(sandbox_db, tmp, latency), tmp, problems) as sandbox_url:
            api_url = f"{sandbox_url}/sandbox"
            os.environ.update(base_env(dashboard_db, tmp, latency))
            os.environ.update({"TATUM_API_URL": api_url, "ALLOWED_HOSTS": "testserver,127.0.0.1"})
            lines = served_in_process(api_url, pages)
        if problems:
            lines += ["", "Sandbox log errors:", *problems]
        return [f"Page parts, SANDBOX_LATENCY_MS={latency}, {pages} pages each, one process", *lines]


def served_in_process(api_url: str, pages: int) -> list[str]:
    sys.path.insert(0, str(ROOT))
    os.chdir(ROOT)
    import django

    django.setup()
    from django.contrib.auth import get_user_model
    from django.db import connection
    from django.test import Client

    from customers.credits.models import ApiCall

    client = Client()
    # A session in the database, as signing in makes.
    client.force_login(get_user_model().objects.get(username=USER))
    ids = [customer["id"] for customer in sandbox_customers(api_url)]
    paths = {
        "list": lambda _: "/customers/live/?size=50&page=1",
        "detail": lambda n: f"/customers/{ids[n % len(ids)]}/",
    }
    timers = Timers()
    for label, module_name, attribute, _ in PARTS:
        timers.wrap(label, module_name, attribute)
    # Counted as they run: the test client empties Django's own query log at each request's start.
    queries: list[str] = []

    def count(execute: Callable[..., Any], sql: str, *args: Any) -> Any:
        queries.append(sql)
        return execute(sql, *args)

    def get(url: str) -> None:
        status = client.get(url).status_code
        if status != 200:
            raise SystemExit(f"{url} answered {status}: the figures would not be of the page")

    lines = []
    for page, path in paths.items():
        for n in range(20):  # warm-up: connections, caches, the index's first sightings
            get(path(n))
        queries.clear()
        with connection.execute_wrapper(count):
            get(path(0))
        calls_before = ApiCall.objects.count()
        timers.reset()
        times = []
        for n in range(pages):
            start = time.perf_counter()
            get(path(n))
            times.append(time.perf_counter() - start)
        tatum_calls = (ApiCall.objects.count() - calls_before) / pages
        lines += [
            "",
            f"{page}: median {statistics.median(times) * 1000:.2f} ms, "
            f"mean {statistics.mean(times) * 1000:.2f} ms a page; "
            f"{len(queries)} queries, {tatum_calls:g} Tatum calls",
            f"{'part':<44}{'ms/page':>9}{'runs/page':>11}",
        ]
        for label, _, _, shown_for in PARTS:
            if page in shown_for.split():
                ms = timers.seconds[label] / pages * 1000
                lines.append(f"{label:<44}{ms:>9.2f}{timers.calls[label] / pages:>11.2f}")
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pages", type=int, default=200)
    parser.add_argument("--customers", type=int, default=200)
    parser.add_argument("--latency", type=int, default=0, help="the sandbox's SANDBOX_LATENCY_MS")
    args = parser.parse_args()
    print("\n".join(measure(args.pages, args.customers, args.latency)))


if __name__ == "__main__":
    main()
