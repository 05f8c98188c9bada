"""The dashboard deployed as separate processes on loopback, for faults that need real processes.

A `Deployment` has its own database (a SQLite file, or a fresh PostgreSQL database on the server the
tests use), a sandbox server standing in for Tatum, and dashboard servers (gunicorn) that can be
killed with SIGKILL. Tests drive them over HTTP, as browsers and Tatum would. Every wait is bounded,
and every process is stopped when the test ends.
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import socket
import sqlite3
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import requests

ROOT = Path(__file__).resolve().parents[2]
SANDBOX_KEY = "faults-sandbox-key"
SUPPORT = ("support", "support-demo-2026")
_FINGERPRINT = re.compile(r'name="fingerprint" value="([0-9a-f]+)"')


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Deployment:
    """Database, sandbox and dashboard servers of one test; see the module docstring."""

    def __init__(self, workdir: Path, *, latency_ms: int = 0, timeout: str = "1,2") -> None:
        self.workdir = workdir
        self.sandbox_url = ""
        self._servers: dict[str, subprocess.Popen] = {}
        self._database = _Database(workdir)
        self.env = {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "dashboard.settings",
            "DEBUG": "true",
            "SECRET_KEY": "faults-only-secret-key-0123456789-abcdefghijklmnopqrstuvwxyz",
            "ALLOWED_HOSTS": "127.0.0.1,localhost",
            "DATABASE_URL": self._database.url,
            "TATUM_API_KEY": "",
            "SANDBOX_API_KEY": SANDBOX_KEY,
            "SANDBOX_LATENCY_MS": str(latency_ms),
            "TATUM_TIMEOUT": timeout,
            "TATUM_MAX_RPS": "1000",
            "EXPORT_ROOT": str(workdir / "exports"),
            "AXES_FAILURE_LIMIT": "1000",
            "LOG_LEVEL": "WARNING",
            "GUNICORN_ACCESS_LOG": "",
        }

    # --- Life cycle ---

    def start(self, *, customers: int = 10) -> None:
        self._database.create()
        self.manage("migrate", "--noinput")
        self.manage("seed_sandbox", "--customers", str(customers), "--seed", "7")
        self.manage("create_demo_users")
        self.sandbox_url = self.serve(workers=1, threads=16) + "/sandbox"
        self.env["TATUM_API_URL"] = self.sandbox_url

    def stop(self) -> None:
        for process in self._servers.values():
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=10)
        self._database.drop()

    def manage(self, *args: str) -> str:
        done = subprocess.run(
            [sys.executable, "manage.py", *args],
            cwd=ROOT,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        if done.returncode:
            raise RuntimeError(f"manage.py {' '.join(args)} failed:\n{done.stdout}{done.stderr}")
        return done.stdout

    def serve(self, *, workers: int = 2, threads: int = 8) -> str:
        """Start a gunicorn server of the project (sandbox and dashboard); its base URL."""
        port = free_port()
        control = self.workdir / f"gunicorn-{port}.ctl"
        process = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "-c", "gunicorn.conf.py", "--control-socket", str(control)]
            + ["dashboard.wsgi"],
            cwd=ROOT,
            env={
                **self.env,
                "GUNICORN_BIND": f"127.0.0.1:{port}",
                "WEB_CONCURRENCY": str(workers),
                "GUNICORN_THREADS": str(threads),
            },
            stdout=subprocess.DEVNULL,
            stderr=(self.workdir / f"gunicorn-{port}.log").open("w"),
            start_new_session=True,
        )
        url = f"http://127.0.0.1:{port}"
        self._servers[url] = process
        _wait_until_up(url, process)
        return url

    # --- Faults ---

    def kill_workers(self, server_url: str) -> None:
        """SIGKILL every worker process of the server at `server_url` (its master starts new ones)."""
        for pid in _children(self._servers[server_url].pid):
            os.kill(pid, signal.SIGKILL)

    def sandbox_fault_next(self, kind: str) -> None:
        """The sandbox's next call fails with `kind` (see docs/sandbox.md)."""
        self.manage("sandbox_faults", "--next", "1", "--kinds", kind)

    # --- Reading what happened ---

    def rows(self, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        return self._database.rows(sql, params)

    def ledger_customer(self, customer_id: str) -> dict[str, Any]:
        """The customer as the sandbox (Tatum) holds it."""
        response = requests.get(
            f"{self.sandbox_url}/v3/ledger/customer/{customer_id}",
            headers={"x-api-key": SANDBOX_KEY},
            timeout=10,
        )
        response.raise_for_status()
        return response.json()

    def active_customer(self) -> dict[str, Any]:
        """A customer that is active and enabled, as the sandbox holds it."""
        response = requests.get(
            f"{self.sandbox_url}/v3/ledger/customer",
            params={"pageSize": 50},
            headers={"x-api-key": SANDBOX_KEY},
            timeout=30,
        )
        response.raise_for_status()
        return next(c for c in response.json() if c["active"] and c["enabled"])


class Browser(requests.Session):
    """A signed-in user of a dashboard server, posting forms as the pages do."""

    def __init__(self, url: str, user: tuple[str, str] = SUPPORT) -> None:
        super().__init__()
        self.url = url
        self.get(f"{url}/accounts/login/", timeout=10)
        signed_in = self.post(
            f"{url}/accounts/login/",
            data={"username": user[0], "password": user[1], "csrfmiddlewaretoken": self.csrf},
            headers={"Referer": f"{url}/accounts/login/"},
            timeout=10,
            allow_redirects=False,
        )
        if signed_in.status_code != 302:
            raise RuntimeError(f"Could not sign in as {user[0]}: HTTP {signed_in.status_code}")

    @property
    def csrf(self) -> str:
        return self.cookies["csrftoken"]

    def form_post(self, path: str, data: dict[str, str], **kwargs: Any) -> requests.Response:
        return self.post(
            f"{self.url}{path}",
            data={**data, "csrfmiddlewaretoken": self.csrf},
            headers={"Referer": f"{self.url}{path}", **kwargs.pop("headers", {})},
            allow_redirects=False,
            timeout=kwargs.pop("timeout", 30),
            **kwargs,
        )

    def edit_fingerprint(self, customer_id: str) -> str:
        page = self.get(f"{self.url}/customers/{customer_id}/edit/", timeout=30).text
        found = _FINGERPRINT.search(page)
        assert found, "The edit page holds no form"
        return found.group(1)


class _Database:
    """A SQLite file, or a fresh database on the PostgreSQL server the tests' DATABASE_URL names."""

    def __init__(self, workdir: Path) -> None:
        configured = os.environ.get("DATABASE_URL", "")
        self.postgres = configured.startswith(("postgres://", "postgresql://"))
        if self.postgres:
            self.name = f"faults_{uuid.uuid4().hex[:12]}"
            self._server = configured.rsplit("/", 1)[0]
            self.url = f"{self._server}/{self.name}"
        else:
            self.path = workdir / "deployment.sqlite3"
            self.url = f"sqlite:///{self.path}"

    def create(self) -> None:
        if self.postgres:
            self._admin(f'CREATE DATABASE "{self.name}"')

    def drop(self) -> None:
        if self.postgres:
            self._admin(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)')

    def rows(self, sql: str, params: tuple[Any, ...]) -> list[tuple[Any, ...]]:
        if self.postgres:
            import psycopg

            with psycopg.connect(self.url) as connection:
                return connection.execute(sql, params).fetchall()
        with contextlib.closing(sqlite3.connect(self.path)) as connection:
            return connection.execute(sql.replace("%s", "?"), params).fetchall()

    def _admin(self, statement: str) -> None:
        import psycopg

        with psycopg.connect(f"{self._server}/postgres", autocommit=True) as connection:
            connection.execute(statement)


def _wait_until_up(url: str, process: subprocess.Popen) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"The server at {url} exited with {process.returncode}")
        with contextlib.suppress(requests.RequestException):
            requests.get(f"{url}/accounts/login/", timeout=2)
            return
        time.sleep(0.1)
    raise RuntimeError(f"The server at {url} did not start in 30 s")


def _children(pid: int) -> list[int]:
    children = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError, IndexError, ValueError):
            fields = stat.read_text().rsplit(")", 1)[1].split()
            if int(fields[1]) == pid:
                children.append(int(stat.parent.name))
    return children


@contextlib.contextmanager
def deployment(workdir: Path, **options: Any) -> Iterator[Deployment]:
    deployed = Deployment(workdir, **options)
    try:
        deployed.start()
        yield deployed
    finally:
        deployed.stop()
