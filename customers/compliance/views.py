"""Compliance review pages: the queue (with its CSV download) and one case with its actions."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.contrib import messages
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse, StreamingHttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_POST
from django.views.decorators.vary import vary_on_headers

from customers import permissions
from customers.audit.access import permission_required
from customers.audit.models import AuditEntry
from customers.audit.trail import Actor
from customers.compliance.forms import CaseNoteForm, CaseQueueFilterForm, CaseStatusForm
from customers.compliance.models import ComplianceCase
from customers.compliance.selectors import (
    CaseFilters,
    case_counts,
    case_get,
    case_history,
    case_list,
    case_notes,
)
from customers.compliance.services import (
    REASON_REQUIRED,
    TRANSITIONS,
    CaseRefused,
    case_claim,
    case_note_add,
    case_status_change,
    case_unassign,
    cases_export,
)
from customers.pages import render_partial_or_page

Action = AuditEntry.Action
Status = ComplianceCase.Status
PAGE_SIZE = 50
HISTORY_SIZE = 50
# What each move is called on its button.
MOVE_LABELS = {
    Status.IN_REVIEW: "Start review",
    Status.CLEARED: "Clear",
    Status.ESCALATED: "Escalate",
}
BACK_TO_REVIEW = "Back to review"


# --- The queue -----------------------------------------------------------------------------------


@require_GET
@vary_on_headers("HX-Request")
@permission_required(permissions.VIEW_COMPLIANCE_CASES)
def compliance_queue(request: HttpRequest) -> HttpResponse:
    form = CaseQueueFilterForm(request.GET)
    context: dict[str, Any] = {"form": form}
    if form.is_valid():
        context.update(_queue_context(request, form.filters()))
    return render_partial_or_page(
        request,
        "customers/compliance_queue.html",
        "customers/partials/compliance_queue_results.html",
        context,
    )


def _queue_context(request: HttpRequest, filters: CaseFilters) -> dict[str, Any]:
    page = Paginator(case_list(filters, user=request.user), PAGE_SIZE).get_page(request.GET.get("page"))
    counts = case_counts(filters, user=request.user)
    return {
        "page": page,
        "page_numbers": page.paginator.get_elided_page_range(page.number, on_each_side=2, on_ends=1),
        "filters": filters,
        "filter_query": filters.query_string(),
        "status_links": [
            (status, label, counts[status], CaseFilters(**{**vars(filters), "status": status}).query_string())
            for status, label in Status.choices
        ],
    }


@require_GET
@permission_required(permissions.VIEW_COMPLIANCE_CASES)
def compliance_export(request: HttpRequest) -> HttpResponse:
    form = CaseQueueFilterForm(request.GET)
    if not form.is_valid():
        messages.error(request, "Nothing was downloaded: correct the filters first.")
        return redirect(reverse("customers:compliance_queue") + "?" + request.GET.urlencode())
    export = cases_export(filters=form.filters(), actor=Actor.from_request(request))
    response = StreamingHttpResponse(export.lines, content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{export.filename}"'
    return response


# --- One case ------------------------------------------------------------------------------------


def _case_or_404(case_id: int) -> ComplianceCase:
    case = case_get(case_id=case_id)
    if case is None:
        raise Http404("No such case.")
    return case


@require_GET
@permission_required(permissions.VIEW_COMPLIANCE_CASES)
def compliance_case(request: HttpRequest, case_id: int) -> HttpResponse:
    case = _case_or_404(case_id)
    return render(request, "customers/compliance_case.html", _case_context(request, case))


def _case_context(request: HttpRequest, case: ComplianceCase, **forms: Any) -> dict[str, Any]:
    user = request.user
    can_work = user.has_perm(permissions.WORK_COMPLIANCE_CASES)
    has_it = case.assignee_id == user.pk
    moves = TRANSITIONS.get(case.status, ()) if can_work and has_it else ()
    return {
        "case": case,
        "record": case.record,
        "notes": case_notes(case),
        "history": list(case_history(case)[:HISTORY_SIZE]),
        "can_work": can_work,
        "has_it": has_it,
        "moves": [(status, _move_label(case, status), status in REASON_REQUIRED) for status in moves],
        "note_form": forms.get("note_form") or CaseNoteForm(),
        "status_form": forms.get("status_form"),
    }


def _move_label(case: ComplianceCase, status: str) -> str:
    back = case.status == Status.ESCALATED and status == Status.IN_REVIEW
    return BACK_TO_REVIEW if back else MOVE_LABELS[status]


def _case_response(request: HttpRequest, case_id: int, *, status: int = 200, **forms: Any) -> HttpResponse:
    """The case card again (htmx), or the case page (post/redirect/get; a form with errors is shown at
    once, with 422)."""
    case = _case_or_404(case_id)
    if request.htmx:
        context = _case_context(request, case, **forms)
        return render(request, "customers/partials/compliance_case_response.html", context, status=status)
    if forms:
        return render(
            request, "customers/compliance_case.html", _case_context(request, case, **forms), status=status
        )
    return redirect("customers:compliance_case", case_id=case_id)


def _act(
    request: HttpRequest, case_id: int, act: Callable[[ComplianceCase, Actor], Any], done: str
) -> HttpResponse:
    case = _case_or_404(case_id)
    try:
        act(case, Actor.from_request(request))
    except CaseRefused as exc:
        messages.error(request, str(exc))
    else:
        messages.success(request, done)
    return _case_response(request, case_id)


@require_POST
@permission_required(permissions.WORK_COMPLIANCE_CASES, audited_action=Action.CASE_CLAIM)
def compliance_case_claim(request: HttpRequest, case_id: int) -> HttpResponse:
    return _act(
        request,
        case_id,
        lambda case, actor: case_claim(case=case, actor=actor),
        "The case is assigned to you.",
    )


@require_POST
@permission_required(permissions.WORK_COMPLIANCE_CASES, audited_action=Action.CASE_UNASSIGN)
def compliance_case_unassign(request: HttpRequest, case_id: int) -> HttpResponse:
    return _act(
        request,
        case_id,
        lambda case, actor: case_unassign(case=case, actor=actor),
        "Nobody has the case now.",
    )


@require_POST
@permission_required(permissions.WORK_COMPLIANCE_CASES, audited_action=Action.CASE_NOTE)
def compliance_case_note(request: HttpRequest, case_id: int) -> HttpResponse:
    form = CaseNoteForm(request.POST)
    if not form.is_valid():
        return _case_response(request, case_id, status=422, note_form=form)
    text = form.cleaned_data["text"]
    return _act(
        request, case_id, lambda case, actor: case_note_add(case=case, text=text, actor=actor), "Note added."
    )


@require_POST
@permission_required(permissions.WORK_COMPLIANCE_CASES, audited_action=Action.CASE_STATUS)
def compliance_case_status(request: HttpRequest, case_id: int) -> HttpResponse:
    form = CaseStatusForm(request.POST)
    if not form.is_valid():
        return _case_response(request, case_id, status=422, status_form=form)
    status, reason = form.cleaned_data["status"], form.cleaned_data["reason"]
    if status in REASON_REQUIRED and not reason:
        form.add_error("reason", "Give a reason for this decision: it goes into the audit log.")
        return _case_response(request, case_id, status=422, status_form=form)

    def change(case: ComplianceCase, actor: Actor) -> Any:
        return case_status_change(case=case, status=status, reason=reason, actor=actor)

    return _act(request, case_id, change, f"The case is now {Status(status).label.lower()}.")
