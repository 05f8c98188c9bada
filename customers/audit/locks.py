"""One change to a customer at a time, across processes and machines.

Every write to a customer (an edit, a state change, the settling of an unknown outcome) runs inside
`customer_lock`, and inside it reads the customer again before deciding what to send. Two saves at
once thus run one after the other, and the second sees what the first did.

- PostgreSQL: a session-level advisory lock, held across the change's short transactions (the audit
  entry is written and sealed in transactions of its own) and released by the server if the process
  dies. Raw SQL, because Django has no API for advisory locks.
- SQLite (one machine): an exclusive `flock` on a lock file beside the database, also released when
  the process dies.

Changes made outside the dashboard (Tatum's API, another tool) take no lock: Tatum has no conditional
update, so they can still race with a change made here (docs/audit.md).
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

from django.conf import settings
from django.db import connection

_POLL_SECONDS = 0.05


class CustomerBusy(Exception):
    """Another change to the customer is still running: nothing was sent."""


@contextlib.contextmanager
def customer_lock(customer_id: str) -> Iterator[None]:
    """Hold the customer's write lock; raise `CustomerBusy` if it cannot be had within
    `CUSTOMER_LOCK_WAIT_SECONDS`."""
    key = _lock_key(customer_id)
    wait = settings.CUSTOMER_LOCK_WAIT_SECONDS
    if connection.vendor == "postgresql":
        with _advisory_lock(key, wait):
            yield
    else:
        with _file_lock(key, wait):
            yield


def _lock_key(customer_id: str) -> int:
    digest = hashlib.sha256(f"customer-write:{customer_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


def _until(wait: float) -> Iterator[None]:
    """Yield until `wait` seconds have passed, pausing between tries; then raise `CustomerBusy`."""
    deadline = time.monotonic() + wait
    while True:
        yield
        if time.monotonic() >= deadline:
            raise CustomerBusy("Another change to this customer is still running.")
        time.sleep(_POLL_SECONDS)


@contextlib.contextmanager
def _advisory_lock(key: int, wait: float) -> Iterator[None]:
    with connection.cursor() as cursor:
        for _ in _until(wait):
            cursor.execute("SELECT pg_try_advisory_lock(%s)", [key])
            if cursor.fetchone()[0]:
                break
    try:
        yield
    finally:
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_unlock(%s)", [key])


@contextlib.contextmanager
def _file_lock(key: int, wait: float) -> Iterator[None]:
    path = _lock_directory() / f"{key & 0xFFFFFFFFFFFFFFFF:016x}.lock"
    with path.open("a") as handle:
        for _ in _until(wait):
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                continue
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _lock_directory() -> Path:
    """Beside the SQLite database (so every process using it finds the same files); for an
    in-memory database, which only one process can use, the temporary directory."""
    name = str(connection.settings_dict["NAME"])
    in_memory = name == ":memory:" or name.startswith("file:") and "mode=memory" in name
    base = Path(tempfile.gettempdir()) if in_memory else Path(name).resolve().parent
    directory = base / "customer-locks"
    directory.mkdir(parents=True, exist_ok=True)
    return directory
