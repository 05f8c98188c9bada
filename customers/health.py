"""The health check at /healthz: can the dashboard reach its database and Tatum? Never any secret."""

from __future__ import annotations

import time
from typing import Any

from django.contrib.auth.decorators import login_not_required
from django.core.cache import cache
from django.db import connection
from django.http import HttpRequest, JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from customers.context import acting_as, current_request_id
from customers.credits.client import tatum_client
from customers.tatum import TatumAuthError, TatumError

# Probing Tatum costs a credit, so a load balancer polling every few seconds shares one probe a minute.
_UPSTREAM_CACHE_KEY = "healthz-upstream"
_UPSTREAM_CACHE_SECONDS = 60


@login_not_required
@never_cache
@require_GET
def healthz(request: HttpRequest) -> JsonResponse:
    """Database and upstream reachability for load balancers; no secrets, no sign-in."""
    report = health_report()
    return JsonResponse(report, status=200 if report["status"] == "ok" else 503)


def health_report() -> dict[str, Any]:
    database = _database_status()
    upstream = _upstream_status()
    healthy = database == "ok" and upstream == "ok"
    return {"status": "ok" if healthy else "degraded", "database": database, "upstream": upstream}


def _database_status() -> str:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
    except Exception:  # noqa: BLE001 - any database failure means "unreachable" here
        return "unreachable"
    return "ok"


def _upstream_status() -> str:
    status = cache.get(_UPSTREAM_CACHE_KEY)
    if status is None:
        status = _probe_upstream()
        cache.set(_UPSTREAM_CACHE_KEY, status, _UPSTREAM_CACHE_SECONDS)
    return status


def _probe_upstream() -> str:
    started = time.monotonic()
    try:
        # The probe is the load balancer's, not a signed-in user's: recording it must not read the
        # session (the database may be the very thing that is down).
        with acting_as(None, request_id=current_request_id()):
            tatum_client().get_version()
    except TatumAuthError:
        return "unauthorized"
    except TatumError:
        return "unreachable"
    return "ok" if time.monotonic() - started < 5 else "slow"
