"""The app's Tatum client: configured from settings, every call recorded as an `ApiCall`.

One session serves the whole process, so every thread's calls share the kept-alive connections; one
rate limiter, kept in the database, serves the whole deployment, so the calls of every process and
worker keep together to `TATUM_MAX_RPS` (`customers.credits.ratelimit`).
"""

from __future__ import annotations

import functools
from collections.abc import Callable

import requests
from django.conf import settings

from customers.context import request_id_to_store
from customers.credits.calls import record_api_call
from customers.credits.ratelimit import SharedRateLimiter
from customers.tatum import CallRecord, TatumClient, new_session


def tatum_client(*, on_call: Callable[[CallRecord], None] = record_api_call) -> TatumClient:
    """A client for the Tatum (or sandbox) that the settings name; cheap to create.

    Its calls are recorded as `ApiCall` rows, unless `on_call` says otherwise (an export's reading
    threads hand theirs to the thread that writes the job's progress).
    """
    api_key = settings.SANDBOX_API_KEY if settings.SANDBOX_MODE else settings.TATUM_API_KEY
    return TatumClient(
        base_url=settings.TATUM_API_URL,
        api_key=api_key,
        timeout=settings.TATUM_TIMEOUT,
        max_rps=settings.TATUM_MAX_RPS,
        session=process_session(),
        rate_limiter=process_rate_limiter(),
        offset_mode=settings.TATUM_OFFSET_MODE,
        on_call=on_call,
        request_id=request_id_to_store,
        max_retries=settings.TATUM_MAX_RETRIES,
        backoff=settings.TATUM_RETRY_BACKOFF,
    )


@functools.cache
def process_session() -> requests.Session:
    """The process's session, its pool sized by `TATUM_POOL_SIZE` (see dashboard/settings.py)."""
    return new_session(pool_size=settings.TATUM_POOL_SIZE)


@functools.cache
def process_rate_limiter() -> SharedRateLimiter:
    """The process's handle on the deployment's rate limit (it keeps one database connection)."""
    return SharedRateLimiter()
