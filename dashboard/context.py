"""Per-request (or per-task) context that lower layers read without being handed the request.

The Tatum client's call hook uses it to attribute `ApiCall` rows to the acting user, and log lines and
audit entries use it to carry the request id.
"""

from __future__ import annotations

import contextlib
import logging
import uuid
from collections.abc import Iterator
from contextvars import ContextVar
from typing import Any

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
