"""What the client needs of a rate limiter: the app keeps the limit, shared by all its processes
(`customers.credits.ratelimit`), since Tatum counts the calls of the whole deployment against one plan."""

from __future__ import annotations

from typing import Protocol


class RateLimiter(Protocol):
    """Spaces the client's calls to the plan's rate; one per process, shared by its threads."""

    def wait(self, max_rps: float) -> float:
        """Block until this call's slot (calls go at most `max_rps` a second); returns the seconds waited.

        Raises a `TatumError` when no slot can be had, and then nothing is sent.
        """
        ...

    def hold_off(self, seconds: float) -> None:
        """Tatum asked to slow down: give no slot before `seconds` from now. Never raises."""
        ...
