"""A circuit breaker over Tatum: after repeated failures, pause writes until Tatum answers again.

State lives in Django's cache: per process with the default local-memory cache, shared by every
process when the deployment configures a shared cache. Reads are never blocked: they are how the
dashboard notices that Tatum has recovered (any answer below 500 closes the circuit).
"""

from __future__ import annotations

import time

from django.core.cache import cache

from customers.tatum import CallRecord, TatumUnavailable

FAILURE_THRESHOLD = 5
OPEN_SECONDS = 30
_FAILURES_KEY = "tatum-circuit-failures"
_OPEN_UNTIL_KEY = "tatum-circuit-open-until"


class UpstreamPaused(TatumUnavailable):
    """A write refused locally because Tatum has been failing: nothing was sent."""

    def __init__(self) -> None:
        super().__init__(
            "Tatum has been failing, so changes are paused until it answers again.", error_code="circuit.open"
        )


def circuit_record(record: CallRecord) -> None:
    """Count a call's outcome: no answer or a 5xx is a failure, any other answer a success."""
    if record.status is not None and record.status < 500:
        cache.delete_many([_FAILURES_KEY, _OPEN_UNTIL_KEY])
        return
    cache.add(_FAILURES_KEY, 0, timeout=None)
    failures = cache.incr(_FAILURES_KEY)
    if failures >= FAILURE_THRESHOLD:
        cache.set(_OPEN_UNTIL_KEY, time.time() + OPEN_SECONDS, timeout=OPEN_SECONDS)


def circuit_is_open() -> bool:
    open_until = cache.get(_OPEN_UNTIL_KEY)
    return open_until is not None and open_until > time.time()


def circuit_check_writes() -> None:
    """Raise `UpstreamPaused` while the circuit is open."""
    if circuit_is_open():
        raise UpstreamPaused()
