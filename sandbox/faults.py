"""Fault injection: make authenticated sandbox calls fail the ways a real upstream fails.

Two sources, combined:
- the settings (or environment) `SANDBOX_FAULT_RATE` (0..1, default 0) and `SANDBOX_FAULT_KINDS`
  (comma list, default all the basic kinds), read on every request;
- the runtime fault plan, one database row that this module's functions (and the `sandbox_faults`
  command) change without a restart. Its values override the settings; `fault_plan_clear()` hands
  control back to them. `fault_next()` queues the next N authenticated calls to fail, whatever the rate.

Kinds: `500` (Tatum's 500 body), `429` (with `Retry-After`), `timeout` (stall longer than the client's
read timeout, then a 504), `drop` (close the connection without any response) and `malformed` (a 200
whose body is not JSON) all fail *before* the call does anything, so a write is not applied.
`timeout_after` and `drop_after` apply the call first and then stall or drop: the client cannot
know whether its write happened (the "unknown outcome" case).
"""

from __future__ import annotations

import logging
import os
import random
import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.db import connections
from django.db.models import F
from django.http import HttpRequest, HttpResponse

from sandbox import responses
from sandbox.connection import drop_connection
from sandbox.models import FaultPlan

logger = logging.getLogger(__name__)

BASIC_KINDS: tuple[str, ...] = ("500", "429", "timeout", "drop", "malformed")
AFTER_KINDS: tuple[str, ...] = ("timeout_after", "drop_after")
FAULT_KINDS: tuple[str, ...] = BASIC_KINDS + AFTER_KINDS
DEFAULT_TIMEOUT_SECONDS = 12.0
DEFAULT_RETRY_AFTER_SECONDS = 1
# A body cut short mid-object, as a proxy that lost the upstream connection would pass it on.
MALFORMED_BODY = b'{"externalId":"651234","id":"5e68c66581f2ee32bc354087","enabled":tr'

_rng = random.SystemRandom()


@dataclass(frozen=True)
class FaultSettings:
    """The fault configuration in force: the plan's values, else the settings', else the defaults."""

    rate: float
    kinds: tuple[str, ...]
    next_count: int
    next_kinds: tuple[str, ...]
    timeout_seconds: float
    retry_after_seconds: int


# --- Public API -----------------------------------------------------------------------------------


def fault_plan_set(
    *,
    rate: float | None = None,
    kinds: Iterable[str] | None = None,
    timeout_seconds: float | None = None,
    retry_after_seconds: int | None = None,
) -> FaultSettings:
    """Sets the given parts of the runtime plan (the others keep their values)."""
    changes: dict[str, Any] = {}
    if rate is not None:
        changes["rate"] = _checked_rate(rate)
    if kinds is not None:
        changes["kinds"] = ",".join(_checked_kinds(kinds))
    if timeout_seconds is not None:
        changes["timeout_seconds"] = _checked_non_negative(timeout_seconds, "timeout_seconds")
    if retry_after_seconds is not None:
        retry_after = _checked_non_negative(retry_after_seconds, "retry_after_seconds")
        changes["retry_after_seconds"] = int(retry_after)
    if changes:
        FaultPlan.objects.update_or_create(pk=FaultPlan.SINGLETON_PK, defaults=changes)
    return fault_plan_get()


def fault_next(kind: str | Iterable[str], count: int = 1) -> FaultSettings:
    """The next `count` authenticated calls fail with `kind` (one of them at random if several)."""
    kinds = _checked_kinds([kind] if isinstance(kind, str) else kind)
    if count < 0:
        raise ValueError("count must not be negative")
    defaults = {"next_count": count, "next_kinds": ",".join(kinds)}
    FaultPlan.objects.update_or_create(pk=FaultPlan.SINGLETON_PK, defaults=defaults)
    return fault_plan_get()


def fault_plan_clear() -> None:
    """Forgets the runtime plan: only the settings (by default: no faults) apply again."""
    FaultPlan.objects.filter(pk=FaultPlan.SINGLETON_PK).delete()


def fault_plan_get() -> FaultSettings:
    return _effective(FaultPlan.objects.filter(pk=FaultPlan.SINGLETON_PK).first())


# --- Used by the views ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Fault:
    kind: str
    config: FaultSettings

    @property
    def applies_call(self) -> bool:
        return self.kind in AFTER_KINDS


def fault_for_request(rng: random.Random | None = None) -> Fault | None:
    """Decides whether this call fails, consuming one queued fault if there is one."""
    rng = rng or _rng
    # Read on every call: another process (`manage.py sandbox_faults`) may change the plan.
    config = _effective(FaultPlan.objects.filter(pk=FaultPlan.SINGLETON_PK).first())
    kind = _take_queued(config, rng) or pick_fault(config, rng)
    return Fault(kind, config) if kind else None


def pick_fault(config: FaultSettings, rng: random.Random) -> str | None:
    """A kind with probability `config.rate`, else None."""
    if not config.kinds or config.rate <= 0 or rng.random() >= config.rate:
        return None
    return rng.choice(config.kinds)


def fault_response(fault: Fault, request: HttpRequest) -> HttpResponse:
    """The answer to a call that fails before doing anything."""
    if fault.kind == "500":
        return responses.internal_error()
    if fault.kind == "429":
        return responses.rate_limited(fault.config.retry_after_seconds)
    if fault.kind == "timeout":
        _stall(fault.config.timeout_seconds)
        return responses.gateway_timeout()
    if fault.kind == "drop":
        return _dropped(request)
    return HttpResponse(MALFORMED_BODY, status=200, content_type=responses.JSON_CONTENT_TYPE)


def fault_after_call(fault: Fault, request: HttpRequest, response: HttpResponse) -> HttpResponse:
    """The answer to a call that did its work and then stalls or loses its connection."""
    if fault.kind == "drop_after":
        return _dropped(request)
    _stall(fault.config.timeout_seconds)
    return response


def _stall(seconds: float) -> None:
    # Nothing below touches the database: do not hold a connection while stalling.
    connections.close_all()
    time.sleep(seconds)


def _dropped(request: HttpRequest) -> HttpResponse:
    if drop_connection(request):
        logger.info("Fault injection dropped the connection of %s %s.", request.method, request.path)
        # Never reaches the client: the connection is gone.
        return HttpResponse(status=499, reason="Connection Dropped")
    return responses.json_response({"statusCode": 502, "message": "Bad Gateway"}, 502)


# --- Configuration ------------------------------------------------------------------------------


def _take_queued(config: FaultSettings, rng: random.Random) -> str | None:
    if config.next_count <= 0 or not config.next_kinds:
        return None
    # Atomic decrement: of concurrent calls, exactly `next_count` get a queued fault.
    claimed = FaultPlan.objects.filter(pk=FaultPlan.SINGLETON_PK, next_count__gt=0).update(
        next_count=F("next_count") - 1
    )
    return rng.choice(config.next_kinds) if claimed else None


def _effective(plan: FaultPlan | None) -> FaultSettings:
    plan = plan or FaultPlan()
    return FaultSettings(
        rate=plan.rate if plan.rate is not None else _setting_rate(),
        kinds=_split(plan.kinds) or _setting_kinds(),
        next_count=plan.next_count,
        next_kinds=_split(plan.next_kinds),
        timeout_seconds=(
            plan.timeout_seconds
            if plan.timeout_seconds is not None
            else _setting_number("SANDBOX_TIMEOUT_SECONDS", DEFAULT_TIMEOUT_SECONDS)
        ),
        retry_after_seconds=(
            plan.retry_after_seconds
            if plan.retry_after_seconds is not None
            else int(_setting_number("SANDBOX_RETRY_AFTER_SECONDS", DEFAULT_RETRY_AFTER_SECONDS))
        ),
    )


def latency_seconds() -> float:
    """`SANDBOX_LATENCY_MS`, the delay added to every sandbox answer, in seconds."""
    return _setting_number("SANDBOX_LATENCY_MS", 0.0) / 1000


def _setting_value(name: str) -> Any:
    """A sandbox setting from Django's settings, else from the environment (None when unset)."""
    value = getattr(settings, name, None)
    if value is None:
        value = os.environ.get(name) or None
    return value


def _setting_number(name: str, default: float) -> float:
    value = _setting_value(name)
    if value is None:
        return default
    try:
        return max(float(value), 0.0)
    except (TypeError, ValueError):
        logger.warning("Ignoring %s=%r: not a number.", name, value)
        return default


def _setting_rate() -> float:
    return min(_setting_number("SANDBOX_FAULT_RATE", 0.0), 1.0)


def _setting_kinds() -> tuple[str, ...]:
    value = _setting_value("SANDBOX_FAULT_KINDS")
    if value is None:
        return BASIC_KINDS
    names = _split(value) if isinstance(value, str) else tuple(str(item).strip() for item in value)
    unknown = [name for name in names if name not in FAULT_KINDS]
    if unknown:
        logger.warning("Ignoring unknown SANDBOX_FAULT_KINDS %s.", ", ".join(unknown))
    return tuple(name for name in names if name in FAULT_KINDS)


def _split(text: str) -> tuple[str, ...]:
    return tuple(part.strip() for part in text.split(",") if part.strip())


def _checked_kinds(kinds: Iterable[str]) -> tuple[str, ...]:
    kinds = list(kinds)
    checked = tuple(str(kind).strip() for kind in kinds if str(kind).strip())
    unknown = [kind for kind in checked if kind not in FAULT_KINDS]
    if unknown or not checked:
        raise ValueError(f"Fault kinds must be some of {', '.join(FAULT_KINDS)}; got {list(kinds)!r}.")
    return checked


def _checked_rate(rate: float) -> float:
    if not 0.0 <= float(rate) <= 1.0:
        raise ValueError("rate must be between 0 and 1")
    return float(rate)


def _checked_non_negative(value: float, name: str) -> float:
    if float(value) < 0:
        raise ValueError(f"{name} must not be negative")
    return float(value)
