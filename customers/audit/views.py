"""Audit log pages: the filtered log, one entry, the CSV export and the unknown outcomes to settle."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.http import HttpRequest, HttpResponse, StreamingHttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_GET, require_POST
from django.views.decorators.vary import vary_on_headers
from django_htmx.http import push_url

from customers import permissions
from customers.audit.access import permission_required
from customers.audit.forms import AuditLogFilterForm
from customers.audit.models import AuditEntry
from customers.audit.selectors import (
    AuditFilters,
    actor_username_suggestions,
    audit_entry_filter,
    entry_page_requested,
    pending_grace,
    unsettled_entry_list,
)
from customers.audit.services import audit_log_export, unsettled_entry_settle
from customers.audit.trail import Actor
from customers.pages import render_partial_or_page

UNKNOWN_PAGE_LIMIT = 200


# --- The log -------------------------------------------------------------------------------------


@require_GET
@vary_on_headers("HX-Request")
@permission_required(permissions.VIEW_AUDIT_LOG)
def audit_list(request: HttpRequest) -> HttpResponse:
    form = AuditLogFilterForm(request.GET)
    context: dict[str, Any] = {
        "form": form,
        "actor_suggestions": actor_username_suggestions(),
        "can_export": request.user.has_perm(permissions.EXPORT_AUDIT_LOG),
        "unsettled_count": unsettled_entry_list().count(),
    }
    if form.is_valid():
        context.update(_page_context(request, form.filters()))
    else:
        context["current_query"] = request.GET.urlencode()
    response = render_partial_or_page(
        request, "customers/audit_list.html", "customers/partials/audit_log.html", context
    )
    if request.htmx:
        # The address bar shows only the filters in use, so the address reproduces the page.
        push_url(response, reverse("customers:audit_list") + _query(context.get("current_query", "")))
    return response


def _page_context(request: HttpRequest, filters: AuditFilters) -> dict[str, Any]:
    requested = entry_page_requested(audit_entry_filter(filters), request.GET)
    page = requested.page
    return {
        "cursor_invalid": requested.cursor_invalid,
        "filters": filters,
        "page": page,
        "filter_query": filters.query_string(),
        "current_query": filters.query_string(after=requested.after, before=requested.before),
        "next_query": filters.query_string(after=page.oldest_id),
        "previous_query": filters.query_string(before=page.newest_id),
    }


def _query(query_string: str) -> str:
    return f"?{query_string}" if query_string else ""


@require_GET
@permission_required(permissions.VIEW_AUDIT_LOG)
def audit_entry_detail(request: HttpRequest, entry_id: int) -> HttpResponse:
    entry = get_object_or_404(AuditEntry, pk=entry_id)
    context = {
        "entry": entry,
        "seal_intact": entry.is_final and entry.content_hash(entry.prev_hash) == entry.entry_hash,
        "customer_query": AuditFilters(customer=entry.customer_id).query_string()
        if entry.customer_id
        else "",
        "can_verify": request.user.has_perm(permissions.CHANGE_CUSTOMER_STATE)
        and unsettled_entry_list().filter(pk=entry.pk).exists(),
    }
    return render(request, "customers/audit_entry_detail.html", context)


# --- CSV export ----------------------------------------------------------------------------------


@require_GET
@permission_required(permissions.EXPORT_AUDIT_LOG)
def audit_export(request: HttpRequest) -> HttpResponse:
    form = AuditLogFilterForm(request.GET)
    if not form.is_valid():
        messages.error(request, "Nothing was exported: correct the filters first.")
        return redirect(reverse("customers:audit_list") + _query(request.GET.urlencode()))
    export = audit_log_export(actor=Actor.from_request(request), filters=form.filters())
    response = StreamingHttpResponse(export.lines, content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{export.filename}"'
    response["X-Entry-Count"] = str(export.entry_count)
    return response


# --- Unknown outcomes ----------------------------------------------------------------------------


@require_GET
@permission_required(permissions.VIEW_AUDIT_LOG, permissions.CHANGE_CUSTOMER_STATE)
def audit_unknown(request: HttpRequest) -> HttpResponse:
    unsettled = unsettled_entry_list()
    context = {
        "entries": unsettled[:UNKNOWN_PAGE_LIMIT],
        "total": unsettled.count(),
        "limit": UNKNOWN_PAGE_LIMIT,
        "grace_seconds": int(pending_grace().total_seconds()),
        "can_verify": request.user.has_perm(permissions.CHANGE_CUSTOMER_STATE),
        "can_view_log": request.user.has_perm(permissions.VIEW_AUDIT_LOG),
    }
    return render(request, "customers/audit_unknown.html", context)


@require_POST
@permission_required(permissions.CHANGE_CUSTOMER_STATE, audited_action=AuditEntry.Action.VERIFY)
def audit_unknown_verify(request: HttpRequest, entry_id: int) -> HttpResponse:
    """Settle one unknown outcome by reading the customer once, then go back where the form was
    (`next`: the customer's page, or the list of unknown outcomes)."""
    back = _safe_next(request) or reverse("customers:audit_unknown")
    entry = unsettled_entry_list().filter(pk=entry_id).first()
    if entry is None:
        messages.info(request, f"Entry #{entry_id} is already settled, or is not waiting for verification.")
        return redirect(back)
    result = unsettled_entry_settle(entry=entry, actor=Actor.from_request(request))
    level = {"error": messages.ERROR, "already": messages.INFO}.get(result.verdict, messages.SUCCESS)
    messages.add_message(request, level, result.sentence())
    return redirect(back)


def _safe_next(request: HttpRequest) -> str:
    """The posted `next` when it is a path on this site, else "".

    A bare word such as "0" passes the host check as a relative address, but `redirect()` would take
    it for a URL pattern name; "//" passes it with no host at all. Only a path from the root is taken.
    """
    target = request.POST.get("next", "")
    is_path = target.startswith("/") and not target.startswith(("//", "/\\"))
    allowed = is_path and url_has_allowed_host_and_scheme(
        target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    )
    return target if allowed else ""
