"""Per-request (or per-task) context that lower layers read without being handed the request.

The call records use it to attribute each Tatum call to the acting user, and log lines, Tatum calls
and audit entries use it to carry the request id. `client_ip` reads the client's address.
"""

from __future__ import annotations

import contextlib
import logging
import re
import uuid
from collections.abc import Iterator
from contextvars import ContextVar
from typing import Any

from django.conf import settings
from django.http import HttpRequest

# An id a client may give in `X-Request-ID` (kept only if it is safe to log and to send on).
SAFE_REQUEST_ID = re.compile(r"[A-Za-z0-9._-]{8,64}")
request_id_var: ContextVar[str] = ContextVar("request_id", default="-")
actor_var: ContextVar[Any] = ContextVar("actor", default=None)


def new_request_id() -> str:
    return uuid.uuid4().hex


def current_request_id() -> str:
    """The id of the request (or task) being served; "-" outside one, as log lines show it."""
    return request_id_var.get()


def request_id_to_store() -> str:
    """The current request id for a stored row, or "" outside a request (a script, the shell)."""
    request_id = request_id_var.get()
    return "" if request_id == "-" else request_id[:64]


def current_actor() -> Any:
    """The signed-in user acting now, or None (anonymous, a task without a user, a script)."""
    actor = actor_var.get()
    if actor is not None and getattr(actor, "is_authenticated", False):
        return actor
    return None


@contextlib.contextmanager
def acting_as(user: Any, request_id: str | None = None) -> Iterator[None]:
    """Attribute everything inside the block to `user` (used by background tasks)."""
    actor_token = actor_var.set(user)
    rid_token = request_id_var.set(request_id or new_request_id())
    try:
        yield
    finally:
        actor_var.reset(actor_token)
        request_id_var.reset(rid_token)


class RequestIdLogFilter(logging.Filter):
    """Adds the current request id to every log record (configured in settings.LOGGING)."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = request_id_var.get()
        return True


def client_ip(request: HttpRequest) -> str:
    """The client's address, trusting exactly `TRUSTED_PROXY_COUNT` proxies in front of the app.

    Each trusted proxy appends the address it received the request from to X-Forwarded-For, so the
    client is the N-th value from the right. Anything further left was written by the client and is
    never trusted.
    """
    remote = request.META.get("REMOTE_ADDR", "") or ""
    count = settings.TRUSTED_PROXY_COUNT
    if count <= 0:
        return remote
    forwarded = [part.strip() for part in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",")]
    forwarded = [part for part in forwarded if part]
    if len(forwarded) < count:
        return remote
    return forwarded[-count]
