"""Spacing of calls to Tatum's plan rate."""

from __future__ import annotations

import math
import threading
import time
from collections import deque
from collections.abc import Callable


class RateLimiter:
    """At most `max_rps` calls in any window of one second, across all threads of the process.

    Tatum's plans allow so many requests a second, so that many may go at once (a detail page reads
    the customer and its accounts together) and the next waits until the oldest of them is a second
    old. Each call reserves its slot under the lock, so two threads never take the same one.
    """

    def __init__(
        self,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._clock = clock
        self._sleep = sleep
        self._lock = threading.Lock()
        self._slots: deque[float] = deque()

    def wait(self, max_rps: float) -> float:
        """Block until this call's slot; returns how long it waited."""
        # A fractional rate rounds down (2.5 a second allows 2); below one a second, one per 1/max_rps s.
        burst = max(1, math.floor(max_rps))
        window = 1.0 if max_rps >= 1 else 1.0 / max_rps
        with self._lock:
            now = self._clock()
            while len(self._slots) > burst:
                self._slots.popleft()
            slot = now if len(self._slots) < burst else max(now, self._slots.popleft() + window)
            self._slots.append(slot)
        delay = slot - now
        if delay > 0:
            self._sleep(delay)
        return max(delay, 0.0)
