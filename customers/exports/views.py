"""Customer CSV exports: start one, watch it, cancel or retry it, download the file. Thin views."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.contrib import messages
from django.http import FileResponse, Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_POST
from django.views.decorators.vary import vary_on_headers

from customers import permissions
from customers.audit.access import permission_required
from customers.audit.models import AuditEntry
from customers.audit.trail import Actor
from customers.background import RunNotQueued
from customers.exports.forms import ExportRequestForm
from customers.exports.models import ExportJob
from customers.exports.selectors import (
    export_can_see,
    export_estimate,
    export_file_available,
    export_file_path,
    export_jobs_visible_to,
    export_progress,
    export_scope_text,
    export_source_text,
)
from customers.exports.services import (
    ExportAlreadyRunning,
    IndexNotSynced,
    export_audit_download,
    export_cancel,
    export_retry,
    export_start,
)
from customers.index.selectors import index_as_of
from customers.pages import render_partial_or_page

_EXPORT = AuditEntry.Action.EXPORT_CUSTOMERS
_LIST_LIMIT = 100


@require_GET
@vary_on_headers("HX-Request")
@permission_required(permissions.EXPORT_CUSTOMERS)
def export_list(request: HttpRequest) -> HttpResponse:
    return render_partial_or_page(
        request, "customers/export_list.html", "customers/partials/export_table.html", _list_context(request)
    )


def _request_form(data: Any = None) -> ExportRequestForm:
    return ExportRequestForm(data, index_as_of=index_as_of(), estimate=export_estimate())


def _list_context(request: HttpRequest, form: ExportRequestForm | None = None) -> dict[str, Any]:
    jobs = list(export_jobs_visible_to(request.user).select_related("user")[:_LIST_LIMIT])
    form = form or _request_form()
    return {
        "form": form,
        "index_as_of": form.index_as_of,
        "jobs": [_job_row(job) for job in jobs],
        # A stalled export counts: a live worker takes it over, and the list shows that.
        "any_active": any(job.is_active for job in jobs),
        "estimate": export_estimate(),
        "max_rps": settings.TATUM_MAX_RPS,
        "retention_days": settings.EXPORT_RETENTION_DAYS,
        "show_owner": request.user.is_superuser,
    }


def _job_row(job: ExportJob) -> dict[str, Any]:
    return {
        "job": job,
        "scope_text": export_scope_text(job),
        "source_text": export_source_text(job),
        "file_available": export_file_available(job),
        "progress": export_progress(job),
    }


@require_POST
@permission_required(permissions.EXPORT_CUSTOMERS, audited_action=_EXPORT)
def export_create(request: HttpRequest) -> HttpResponse:
    form = _request_form(request.POST)
    if not form.is_valid():
        return render(request, "customers/export_list.html", _list_context(request, form), status=400)
    try:
        job = export_start(
            actor=Actor.from_request(request),
            export_filter=form.export_filter(),
            source=form.cleaned_data["source"],
        )
    except IndexNotSynced:
        form.add_error("source", "The customer index has never been synced. Export live from Tatum instead.")
        return render(request, "customers/export_list.html", _list_context(request, form), status=400)
    except ExportAlreadyRunning as running:
        messages.info(
            request, f"Export {running.job.pk} is still running: it is shown below. Wait for it or cancel it."
        )
        return redirect("customers:export_detail", job_id=running.job.pk)
    except RunNotQueued as failed:
        return _not_queued(request, failed)
    messages.success(request, f"Export {job.pk} is queued. This page follows it until the file is ready.")
    return redirect("customers:export_detail", job_id=job.pk)


@require_GET
@vary_on_headers("HX-Request")
@permission_required(permissions.EXPORT_CUSTOMERS)
def export_detail(request: HttpRequest, job_id: int) -> HttpResponse:
    job = _visible_job(request, job_id)
    context = {
        "progress": export_progress(job),
        "job": job,
        "scope_text": export_scope_text(job),
        "source_text": export_source_text(job),
        "file_available": export_file_available(job),
        "retention_days": settings.EXPORT_RETENTION_DAYS,
    }
    return render_partial_or_page(
        request, "customers/export_detail.html", "customers/partials/export_progress.html", context
    )


@require_POST
@permission_required(permissions.EXPORT_CUSTOMERS, audited_action=_EXPORT)
def export_cancel_view(request: HttpRequest, job_id: int) -> HttpResponse:
    job = _visible_job(request, job_id)
    if not job.is_active:
        messages.info(request, f"Export {job.pk} had already ended, so there was nothing to cancel.")
        return redirect("customers:export_detail", job_id=job.pk)
    job = export_cancel(actor=Actor.from_request(request), job=job)
    if job.status == ExportJob.Status.CANCELLED:
        messages.success(request, f"Export {job.pk} is cancelled. No file was kept.")
    else:
        messages.info(request, f"Export {job.pk} stops before it reads the next page.")
    return redirect("customers:export_detail", job_id=job.pk)


@require_POST
@permission_required(permissions.EXPORT_CUSTOMERS, audited_action=_EXPORT)
def export_retry_view(request: HttpRequest, job_id: int) -> HttpResponse:
    job = _visible_job(request, job_id)
    if job.is_active and not job.is_stalled:
        messages.info(request, f"Export {job.pk} is still running; there is nothing to retry yet.")
        return redirect("customers:export_detail", job_id=job.pk)
    try:
        new_job = export_retry(actor=Actor.from_request(request), job=job)
    except ExportAlreadyRunning as running:
        messages.info(request, f"Export {running.job.pk} is still running. Wait for it or cancel it first.")
        return redirect("customers:export_detail", job_id=running.job.pk)
    except RunNotQueued as failed:
        return _not_queued(request, failed)
    messages.success(request, f"Export {new_job.pk} is queued: it retries export {job.pk}.")
    return redirect("customers:export_detail", job_id=new_job.pk)


@require_GET
@permission_required(permissions.EXPORT_CUSTOMERS)
def export_download(request: HttpRequest, job_id: int) -> FileResponse:
    job = ExportJob.objects.filter(pk=job_id).first()
    if job is None:
        raise Http404("No such export.")
    actor = Actor.from_request(request)
    if not export_can_see(request.user, job):
        export_audit_download(
            actor=actor, job=job, outcome=AuditEntry.Outcome.DENIED, message="Not your export"
        )
        raise Http404("No such export.")
    if not export_file_available(job):
        export_audit_download(actor=actor, job=job, outcome=AuditEntry.Outcome.FAILED, message="File missing")
        raise Http404("This export has no file to download.")
    export_audit_download(actor=actor, job=job, outcome=AuditEntry.Outcome.SUCCEEDED)
    return FileResponse(
        export_file_path(job).open("rb"),
        as_attachment=True,
        filename=job.file_name,
        content_type="text/csv; charset=utf-8",
    )


def _not_queued(request: HttpRequest, failed: RunNotQueued) -> HttpResponse:
    """The export that could not be queued, failed, with its message."""
    messages.error(request, f"Export {failed.run.pk}: {failed.run.error_message}")
    return redirect("customers:export_detail", job_id=failed.run.pk)


def _visible_job(request: HttpRequest, job_id: int) -> ExportJob:
    """The job, if the user may see it; another manager's export is as good as missing."""
    job = ExportJob.objects.select_related("user").filter(pk=job_id).first()
    if job is None or not export_can_see(request.user, job):
        raise Http404("No such export.")
    return job
