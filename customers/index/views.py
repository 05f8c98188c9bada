"""The index sync page: the last runs, the index's size and freshness, start a sync (its cost stated
first), follow its progress, cancel it. Managers only. Thin views."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_POST
from django.views.decorators.vary import vary_on_headers

from customers import permissions
from customers.audit.access import permission_required
from customers.audit.models import AuditEntry
from customers.audit.trail import Actor
from customers.background import RunNotQueued
from customers.index.models import SyncRun
from customers.index.runs import (
    index_size,
    sync_cost,
    sync_progress,
    sync_run_active,
    sync_run_list,
)
from customers.index.selectors import index_as_of
from customers.index.services import SyncAlreadyRunning, sync_cancel, sync_start
from customers.pages import is_partial_request

_SYNC = AuditEntry.Action.SYNC_CUSTOMERS


@require_GET
@vary_on_headers("HX-Request")
@permission_required(permissions.SYNC_CUSTOMERS)
def sync_page(request: HttpRequest) -> HttpResponse:
    active = sync_run_active()
    if is_partial_request(request) and active is None:
        # The run the page was following has ended: the whole page changes (runs, size, button).
        response = HttpResponse(status=204)
        response["HX-Refresh"] = "true"
        return response
    context = _page_context(active)
    if is_partial_request(request):
        return render(request, "customers/partials/sync_poll.html", context)
    return render(request, "customers/sync.html", context)


def _page_context(active: SyncRun | None) -> dict[str, Any]:
    shown = active or (sync_run_list(limit=1) or [None])[0]
    return {
        "active": active,
        "progress": sync_progress(shown) if shown is not None else None,
        "runs": [sync_progress(run) for run in sync_run_list()],
        "index_size": index_size(),
        "as_of": index_as_of(),
        "cost": sync_cost(),
    }


@require_POST
@permission_required(permissions.SYNC_CUSTOMERS, audited_action=_SYNC)
def sync_start_view(request: HttpRequest) -> HttpResponse:
    try:
        run = sync_start(actor=Actor.from_request(request))
    except SyncAlreadyRunning as running:
        messages.info(request, f"Sync {running.run.pk} is already running: its progress is shown below.")
        return redirect("customers:sync")
    except RunNotQueued as failed:
        messages.error(request, f"Sync {failed.run.pk}: {failed.run.error_message}")
        return redirect("customers:sync")
    messages.success(request, f"Sync {run.pk} is queued. This page follows it until it finishes.")
    return redirect("customers:sync")


@require_POST
@permission_required(permissions.SYNC_CUSTOMERS, audited_action=_SYNC)
def sync_cancel_view(request: HttpRequest, run_id: int) -> HttpResponse:
    run = SyncRun.objects.filter(pk=run_id).first()
    if run is None:
        raise Http404("No such sync.")
    if not run.is_active:
        messages.info(request, f"Sync {run.pk} had already ended, so there was nothing to cancel.")
        return redirect("customers:sync")
    run = sync_cancel(actor=Actor.from_request(request), run=run)
    if run.status == SyncRun.Status.CANCELLED:
        messages.success(request, f"Sync {run.pk} is cancelled.")
    else:
        messages.info(request, f"Sync {run.pk} stops before it reads the next page.")
    return redirect("customers:sync")
