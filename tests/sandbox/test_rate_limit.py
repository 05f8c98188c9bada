"""The plan's rate (`SANDBOX_MAX_RPS`): a key over it gets Tatum's 429 with `Retry-After`, the refused
call does nothing and costs nothing, and the count holds across the processes serving the sandbox."""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from django.db.models import Sum

from sandbox.models import CreditUsage, Customer
from tests.sandbox.conftest import KEY, NO_KEY, make_customer

pytestmark = pytest.mark.django_db(transaction=True)

ROOT = Path(__file__).resolve().parents[2]
THROTTLED = {"statusCode": 429, "message": "ThrottlerException: Too Many Requests"}


def _credits() -> int:
    return CreditUsage.objects.aggregate(total=Sum("credits"))["total"] or 0


def test_a_key_over_the_plan_rate_gets_a_429_with_retry_after(api, settings):
    settings.SANDBOX_MAX_RPS = 3

    statuses = [api.get("/v3/ledger/customer", params={"pageSize": 1}).status_code for _ in range(3)]
    refused = api.get("/v3/ledger/customer", params={"pageSize": 1})

    assert statuses == [200, 200, 200]
    assert refused.status_code == 429
    assert refused.json() == THROTTLED
    assert refused.headers["Content-Type"].startswith("application/json")
    assert refused.headers["Retry-After"] == "1"


def test_the_key_may_call_again_once_the_window_has_moved_on(api, settings):
    settings.SANDBOX_MAX_RPS = 2
    for _ in range(2):
        assert api.get("/v3/tatum/version").status_code == 200
    assert api.get("/v3/tatum/version").status_code == 429

    time.sleep(1.05)

    assert api.get("/v3/tatum/version").status_code == 200


def test_a_refused_call_changes_nothing_and_costs_no_credits(api, settings):
    customer = make_customer()
    settings.SANDBOX_MAX_RPS = 1
    assert api.get("/v3/tatum/version").status_code == 200
    spent = _credits()

    refused = api.put(f"/v3/ledger/customer/{customer.ledger_id}/disable")

    assert refused.status_code == 429
    assert Customer.objects.get(pk=customer.pk).enabled
    assert _credits() == spent


def test_without_a_plan_rate_any_rate_is_accepted(api, settings):
    settings.SANDBOX_MAX_RPS = None

    statuses = {api.get("/v3/tatum/version").status_code for _ in range(15)}

    assert statuses == {200}


def test_the_key_is_checked_before_the_rate(api, settings):
    settings.SANDBOX_MAX_RPS = 1
    assert api.get("/v3/tatum/version").status_code == 200

    assert api.get("/v3/tatum/version", key="wrong-key").status_code == 401
    assert api.get("/v3/tatum/version", key=NO_KEY).status_code == 401


def test_each_key_has_a_rate_of_its_own(api, settings):
    settings.SANDBOX_MAX_RPS = 1
    assert api.get("/v3/tatum/version").status_code == 200
    assert api.get("/v3/tatum/version").status_code == 429
    settings.SANDBOX_API_KEY = "second-key"

    assert api.get("/v3/tatum/version", key="second-key").status_code == 200


# --- Several processes ------------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextlib.contextmanager
def sandbox_server(tmp_path: Path, *, workers: int, max_rps: int) -> Iterator[str]:
    """The sandbox under gunicorn with `workers` processes on one SQLite file; its base URL."""
    port = _free_port()
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "dashboard.settings",
        "DEBUG": "true",
        "SECRET_KEY": "rate-limit-test-secret-key-0123456789-abcdefghijklmnopqrstuvwxyz",
        "DATABASE_URL": f"sqlite:///{tmp_path / 'sandbox.sqlite3'}",
        "TATUM_API_KEY": "",
        "SANDBOX_API_KEY": KEY,
        "SANDBOX_MAX_RPS": str(max_rps),
        "GUNICORN_BIND": f"127.0.0.1:{port}",
        "WEB_CONCURRENCY": str(workers),
        "GUNICORN_THREADS": "8",
        "GUNICORN_ACCESS_LOG": "",
        "LOG_LEVEL": "WARNING",
    }
    migrate = [sys.executable, "manage.py", "migrate", "--noinput", "-v", "0"]
    subprocess.run(migrate, cwd=ROOT, env=env, check=True, timeout=120, capture_output=True)
    command = [sys.executable, "-m", "gunicorn", "-c", "gunicorn.conf.py"]
    command += ["--control-socket", str(tmp_path / "gunicorn.ctl"), "dashboard.wsgi"]
    log = (tmp_path / "gunicorn.log").open("w")
    server = subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=log)
    url = f"http://127.0.0.1:{port}/sandbox"
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            assert server.poll() is None, (tmp_path / "gunicorn.log").read_text()
            with contextlib.suppress(requests.RequestException):
                requests.get(f"{url}/v3/nowhere", timeout=2)
                break
            time.sleep(0.1)
        yield url
    finally:
        server.terminate()
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait(timeout=10)
        log.close()


def test_the_rate_is_counted_across_every_process_serving_the_sandbox(tmp_path):
    max_rps, seconds, threads = 5, 3.0, 10
    statuses: list[int] = []
    lock = threading.Lock()

    with sandbox_server(tmp_path, workers=2, max_rps=max_rps) as url:

        def call_for_a_while() -> None:
            # A session each: separate connections, which the two processes share between them.
            with requests.Session() as session:
                deadline = time.monotonic() + seconds
                while time.monotonic() < deadline:
                    answer = session.get(f"{url}/v3/tatum/version", headers={"x-api-key": KEY}, timeout=10)
                    with lock:
                        statuses.append(answer.status_code)

        started = time.monotonic()
        callers = [threading.Thread(target=call_for_a_while) for _ in range(threads)]
        for caller in callers:
            caller.start()
        for caller in callers:
            caller.join(timeout=seconds + 30)
        elapsed = time.monotonic() - started

    assert set(statuses) == {200, 429}
    # Counted per process, the two processes would accept about twice as many.
    assert max_rps * (seconds - 1) <= statuses.count(200) <= max_rps * (elapsed + 1)
