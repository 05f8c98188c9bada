"""Customer pages: list, lookup, detail, edit and state changes. Thin views over selectors and services."""

from __future__ import annotations

import re
from typing import Any

from django.contrib import messages
from django.db.models import QuerySet
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.template.loader import render_to_string
from django.utils import timezone
from django.utils.html import escape
from django.views.decorators.http import require_GET, require_http_methods, require_POST
from django.views.decorators.vary import vary_on_headers

from customers import permissions, reference
from customers.access import permission_required
from customers.audit import Actor
from customers.audit_log import AuditPage, entry_page, entry_page_requested, unsettled_entry_settle
from customers.circuit import circuit_is_open
from customers.errors import UserMessage, message_for
from customers.forms import (
    PAGE_SIZES,
    CustomerEditForm,
    CustomerListParams,
    CustomerLookupForm,
    StateChangeForm,
    customer_id_is_valid,
)
from customers.models import AuditEntry
from customers.selectors import (
    CustomerDetailRead,
    CustomerSnapshot,
    customer_detail_get,
    customer_detail_start,
    customer_get,
    customer_history,
    customer_list,
    customer_list_start,
    looks_internal,
)
from customers.services import STATE_SERVICES, CustomerConflict, customer_update
from customers.state import REASON_REQUIRED, STATE_ACTION_NAMES, action_options
from customers.tatum import (
    CREDIT_COSTS,
    Customer,
    TatumError,
    TatumNotFound,
    TatumOutcomeUnknown,
    TatumValidationError,
)
from customers.view_helpers import (
    PageWhileReading,
    customer_rows,
    error_context,
    is_partial_request,
    prefetched_stash,
    prefetched_take,
    render_while_reading,
    upstream_error_page,
)

_SMALL_COUNT = re.compile(r"[0-9]{1,6}")
# A detail page shows the newest changes; the whole history has its own page.
HISTORY_RECENT = 10


def _checked_id(customer_id: str) -> str:
    if not customer_id_is_valid(customer_id):
        raise Http404("That is not a valid customer id.")
    return customer_id


# --- List and lookup -----------------------------------------------------------------------------


@require_GET
@vary_on_headers("HX-Request")
@permission_required(permissions.VIEW_CUSTOMERS)
def customer_list_view(request: HttpRequest) -> HttpResponse:
    params = CustomerListParams(request.GET)
    if params.is_valid():
        size, page = params.page_size(), params.page_number()
    else:
        size, page = CustomerListParams().initial.get("size") or 20, 1
        messages.warning(request, "That page address was not valid, so the first page is shown.")
    context: dict[str, Any] = {
        "size": size,
        "page": page,
        "sizes": PAGE_SIZES,
        "lookup_form": CustomerLookupForm(),
    }
    if is_partial_request(request):
        try:
            _list_read_into(context, customer_list(page_size=size, page=page - 1))
        except TatumError as exc:
            context.update(error_context(exc))
        return render(request, CUSTOMER_TABLE, context)
    # A whole page: rendered while Tatum answers, all but the table, the banner and the credits.
    reading = customer_list_start(page_size=size, page=page - 1)
    return render_while_reading(
        request,
        "customers/customer_list.html",
        context,
        reading,
        _list_read_into,
        late={"content": CUSTOMER_TABLE},
    )


CUSTOMER_TABLE = "customers/partials/customer_table.html"


def _list_read_into(context: dict[str, Any], customers: list[Customer]) -> None:
    context["customers"] = customers
    context["rows"] = customer_rows(customers)


@require_GET
@permission_required(permissions.VIEW_CUSTOMERS)
def customer_lookup(request: HttpRequest) -> HttpResponse:
    form = CustomerLookupForm(request.GET)
    context: dict[str, Any] = {"lookup_form": form}
    if not form.is_valid():
        return render(request, "customers/customer_lookup.html", context)
    query = form.cleaned_data["q"]
    try:
        snapshot = customer_get(customer_id=query)
    except TatumNotFound:
        context["not_found"] = query
        return render(request, "customers/customer_lookup.html", context)
    except TatumError as exc:
        context.update(error_context(exc))
        return render(request, "customers/customer_lookup.html", context)
    prefetched_stash(request, snapshot)
    return redirect("customers:customer_detail", customer_id=snapshot.customer.id)


# --- Detail --------------------------------------------------------------------------------------


@require_GET
@permission_required(permissions.VIEW_CUSTOMERS)
def customer_detail(request: HttpRequest, customer_id: str) -> HttpResponse:
    customer_id = _checked_id(customer_id)
    known = prefetched_take(request, customer_id)
    try:
        if known is None and not looks_internal(customer_id):
            known = customer_get(customer_id=customer_id)
            if known.customer.id != customer_id:
                return _redirect_to_internal_id(request, known)
        reading = customer_detail_start(customer_id=customer_id, known=known)
    except TatumError as exc:
        return upstream_error_page(request, customer_id, exc)
    return _detail_page(request, customer_id, reading)


DETAIL_PAGE = "customers/customer_detail.html"
DETAIL_READ_CREDITS = CREDIT_COSTS["GET"] * 2  # the customer and its accounts
DETAIL_MAIN = "customers/partials/customer_detail_main.html"


def _detail_page(request: HttpRequest, customer_id: str, reading: CustomerDetailRead) -> HttpResponse:
    """The detail page, rendered while Tatum answers: all but the customer's own parts (its title and
    main part), which are rendered once it has answered, around the change history."""
    page = PageWhileReading(request, reading, "title", "content")
    context: dict[str, Any] = {"customer_id": customer_id}
    page.start(DETAIL_PAGE, context, local=lambda: _detail_local_context(customer_id))
    try:
        detail = reading.result()
    except TatumError as exc:
        return upstream_error_page(request, customer_id, exc)
    if detail.customer.id != customer_id:
        return _redirect_to_internal_id(request, detail.snapshot)
    accounts = detail.accounts
    full = page.context(
        context,
        **_status_context(
            request,
            detail.customer,
            None if accounts is None else len(accounts),
            detail.snapshot.read_at,
            unknown_entries=context["unknown_entries"],  # read with the history (`_detail_local_context`)
        ),
        detail=detail,
        accounts=accounts,
        accounts_error=message_for(detail.accounts_error) if detail.accounts_error else None,
        read_credits=DETAIL_READ_CREDITS,
    )
    # The title is the external id, escaped as the template would escape it.
    return page.finish(
        {"title": escape(detail.customer.external_id), "content": render_to_string(DETAIL_MAIN, full)}
    )


@require_GET
@permission_required(permissions.VIEW_CUSTOMERS)
def customer_history_view(request: HttpRequest, customer_id: str) -> HttpResponse:
    """Every change recorded for a customer, 50 to a page: the audit trail only, so no Tatum call."""
    customer_id = _checked_id(customer_id)
    entries = customer_history(customer_id=customer_id)
    requested = entry_page_requested(entries, request.GET)
    newest = requested.page.entries[0] if requested.page.entries else entries.first()
    context = {
        "customer_id": customer_id,
        "customer_name": (newest and newest.customer_external_id) or customer_id,
        "page": requested.page,
        "cursor_invalid": requested.cursor_invalid,
    }
    return render(request, "customers/customer_history.html", context)


def _recent_history(customer_id: str) -> AuditPage:
    """The newest changes, for the detail page; `/history/` pages through all of them."""
    return entry_page(customer_history(customer_id=customer_id), size=HISTORY_RECENT)


def _unknown_entries(customer_id: str) -> QuerySet[AuditEntry]:
    return AuditEntry.objects.filter(customer_id=customer_id, outcome=AuditEntry.Outcome.UNKNOWN)


def _redirect_to_internal_id(request: HttpRequest, snapshot: CustomerSnapshot) -> HttpResponse:
    prefetched_stash(request, snapshot)
    return redirect("customers:customer_detail", customer_id=snapshot.customer.id)


def _detail_local_context(customer_id: str) -> dict[str, Any]:
    """What the detail page shows from the dashboard's own database (evaluated here, not in the
    template, so that it can be read while Tatum answers)."""
    history = _recent_history(customer_id)
    if history.has_next:
        unknown = list(_unknown_entries(customer_id))
    else:
        # The page holds the whole history, in the same order: its unknown outcomes are all there are.
        unknown = [entry for entry in history.entries if entry.outcome == AuditEntry.Outcome.UNKNOWN]
    return {"history": history, "unknown_entries": unknown}


def _status_context(
    request: HttpRequest, customer: Customer, active_accounts: int | None, read_at, **extra: Any
) -> dict[str, Any]:
    can_change = request.user.has_perm(permissions.CHANGE_CUSTOMER_STATE)
    context = {
        "customer": customer,
        "active_accounts": active_accounts,
        "read_at": read_at,
        "can_change_state": can_change,
        "can_edit": request.user.has_perm(permissions.EDIT_CUSTOMERS),
        "options": action_options(customer, active_accounts) if can_change else [],
        "writes_paused": circuit_is_open(),
        "edit_credits": CREDIT_COSTS["GET"] + CREDIT_COSTS["PUT"],
        **extra,
    }
    if "unknown_entries" not in context:
        context["unknown_entries"] = _unknown_entries(customer.id)
    return context


# --- Edit ----------------------------------------------------------------------------------------


@require_http_methods(["GET", "POST"])
@permission_required(permissions.EDIT_CUSTOMERS, audited_action=AuditEntry.Action.UPDATE)
def customer_edit(request: HttpRequest, customer_id: str) -> HttpResponse:
    customer_id = _checked_id(customer_id)
    # A save reads the customer again: the form is checked against what Tatum holds now.
    known = prefetched_take(request, customer_id) if request.method == "GET" else None
    try:
        current = known or customer_get(customer_id=customer_id)
    except TatumError as exc:
        return upstream_error_page(request, customer_id, exc)
    if request.method == "POST":
        return _customer_edit_post(request, current)
    form = CustomerEditForm(customer=current.customer, initial=_edit_initial(current))
    return render(request, "customers/customer_edit.html", {"form": form, "customer": current.customer})


def _edit_initial(snapshot: CustomerSnapshot) -> dict[str, Any]:
    customer = snapshot.customer
    return {
        "external_id": customer.external_id,
        "accounting_currency": customer.accounting_currency or "",
        "customer_country": customer.customer_country or "",
        "provider_country": customer.provider_country or "",
        "fingerprint": snapshot.fingerprint,
    }


def _customer_edit_post(request: HttpRequest, current: CustomerSnapshot) -> HttpResponse:
    form = CustomerEditForm(request.POST, customer=current.customer)
    context: dict[str, Any] = {"form": form, "customer": current.customer}
    if not form.is_valid():
        return render(request, "customers/customer_edit.html", context, status=400)
    try:
        result = customer_update(
            actor=Actor.from_request(request),
            current=current,
            fingerprint=form.cleaned_data["fingerprint"],
            **form.cleaned_values(),
        )
    except CustomerConflict as conflict:
        return _render_conflict(request, conflict)
    except TatumValidationError as exc:
        _attach_tatum_field_errors(form, exc)
        context.update(error_context(exc))
        return render(request, "customers/customer_edit.html", context, status=400)
    except TatumError as exc:
        context.update(error_context(exc))
        return render(request, "customers/customer_edit.html", context, status=502)
    if result.entry is None:
        messages.info(request, "Nothing changed, so nothing was sent to Tatum.")
    else:
        messages.success(request, f"Saved the changes to {result.customer.external_id}.")
    prefetched_stash(request, CustomerSnapshot(customer=result.customer, read_at=timezone.now()))
    return redirect("customers:customer_detail", customer_id=result.customer.id)


_TATUM_FIELD_NAMES = {
    "externalId": "external_id",
    "accountingCurrency": "accounting_currency",
    "customerCountry": "customer_country",
    "providerCountry": "provider_country",
}


def _attach_tatum_field_errors(form: CustomerEditForm, exc: TatumValidationError) -> None:
    for prop, sentences in exc.field_errors.items():
        field = _TATUM_FIELD_NAMES.get(prop)
        for sentence in sentences:
            form.add_error(field, f"Tatum: {sentence}")


# Code fields are shown as "code: name", as in the form's dropdowns.
_CODE_LABELS = {
    "accounting_currency": reference.currency_label,
    "customer_country": reference.country_label,
    "provider_country": reference.country_label,
}


def _field_text(name: str, value: str | None) -> str | None:
    """A customer field's value as the edit form labels it (None when unset)."""
    if not value:
        return None
    label = _CODE_LABELS.get(name)
    return label(value) if label else value


def _render_conflict(request: HttpRequest, conflict: CustomerConflict) -> HttpResponse:
    current = conflict.current
    yours = conflict.intended
    form = CustomerEditForm(
        customer=current.customer,
        initial={**_edit_initial(current), **{k: v for k, v in yours.items() if v}},
    )
    rows = [
        {
            "label": form.fields[name].label,
            "theirs": _field_text(name, getattr(current.customer, name)),
            "yours": _field_text(name, value),
            "differs": value is not None and value != getattr(current.customer, name),
        }
        for name, value in yours.items()
    ]
    context = {"form": form, "customer": current.customer, "conflict_rows": rows, "conflict": True}
    return render(request, "customers/customer_edit.html", context, status=409)


# --- State changes -------------------------------------------------------------------------------


def _state_action(action: str, **_: Any) -> str:
    return action


@require_http_methods(["GET", "POST"])
@permission_required(permissions.CHANGE_CUSTOMER_STATE, audited_action=_state_action)
def customer_state_change(request: HttpRequest, customer_id: str, action: str) -> HttpResponse:
    customer_id = _checked_id(customer_id)
    if action not in STATE_ACTION_NAMES:
        raise Http404("No such action.")
    if request.method == "GET":
        return _state_change_confirm_page(request, customer_id, action)
    form = StateChangeForm(request.POST, reason_required=action in REASON_REQUIRED)
    if not form.is_valid():
        return _state_change_invalid(request, customer_id, action, form)
    customer = _customer_as_shown(customer_id, form.cleaned_data)
    active_accounts = _int_or_none(request.POST.get("active_accounts"))
    extra: dict[str, Any] = {}
    service = STATE_SERVICES[action]
    try:
        result = service(
            actor=Actor.from_request(request), customer=customer, reason=form.cleaned_data["reason"]
        )
        customer = result.customer
        extra["notice"] = _state_notice(action, result.already)
        extra["changed_entry"] = result.entry
        if action in BALANCE_ACTIONS and not result.already and active_accounts:
            # The accounts shown were read before the change, which moved their available balances.
            extra.update(balances_changed_by=action, read_credits=DETAIL_READ_CREDITS)
    except TatumOutcomeUnknown as exc:
        extra.update(error_context(exc))
        extra["unknown_entry"] = _latest_open_entry(customer_id)
    except TatumError as exc:
        extra.update(error_context(exc))
    return _state_change_response(request, customer, active_accounts, extra)


# Changes that move every account's available balance (disable sets it to 0, enable restores it).
BALANCE_ACTIONS = frozenset({"enable", "disable"})


def _customer_as_shown(customer_id: str, shown: dict[str, Any]) -> Customer:
    """The customer as the page showed it (only what the status area needs), from a state change
    form's values."""
    return Customer(
        customer_id,
        shown.get("external_id", ""),
        bool(shown.get("active")),
        bool(shown.get("enabled")),
        customer_country=shown.get("customer_country") or None,
        provider_country=shown.get("provider_country") or None,
    )


def _int_or_none(value: str | None) -> int | None:
    return int(value) if value and _SMALL_COUNT.fullmatch(value) else None


def _state_notice(action: str, already: bool) -> str:
    past = {"activate": "activated", "deactivate": "deactivated", "enable": "enabled", "disable": "disabled"}[
        action
    ]
    if already:
        return f"Tatum says the customer was already {past}; nothing changed. The status below is current."
    return f"The customer is now {past}."


def _latest_open_entry(customer_id: str) -> AuditEntry | None:
    return _unknown_entries(customer_id).order_by("-started_at").first()


def _state_change_response(
    request: HttpRequest, customer: Customer, active_accounts: int | None, extra: dict[str, Any]
) -> HttpResponse:
    if not request.htmx:
        _flash(request, extra)
        return redirect("customers:customer_detail", customer_id=customer.id)
    context = _status_context(request, customer, active_accounts, timezone.now(), **extra)
    context["customer_id"] = customer.id
    context["history"] = _recent_history(customer.id)
    context["oob"] = True
    return render(request, "customers/partials/customer_status_response.html", context)


def _flash(request: HttpRequest, extra: dict[str, Any]) -> None:
    if extra.get("notice"):
        messages.success(request, extra["notice"])
    if extra.get("error"):
        level = messages.WARNING if extra["error"].level == "warning" else messages.ERROR
        messages.add_message(request, level, str(extra["error"]))


def _state_change_confirm_page(request: HttpRequest, customer_id: str, action: str) -> HttpResponse:
    try:
        detail = customer_detail_get(customer_id=customer_id)
    except TatumError as exc:
        return upstream_error_page(request, customer_id, exc)
    return _render_confirm(
        request, detail.customer, None if detail.accounts is None else len(detail.accounts), action
    )


def _render_confirm(
    request: HttpRequest,
    customer: Customer,
    active_accounts: int | None,
    action: str,
    form=None,
    status: int = 200,
) -> HttpResponse:
    option = next(o for o in action_options(customer, active_accounts) if o.name == action)
    form = form or StateChangeForm(
        reason_required=option.reason_required,
        initial={
            "external_id": customer.external_id,
            "active": customer.active,
            "enabled": customer.enabled,
            "customer_country": customer.customer_country,
            "provider_country": customer.provider_country,
        },
    )
    context = {"customer": customer, "option": option, "form": form, "active_accounts": active_accounts}
    return render(request, "customers/customer_state_confirm.html", context, status=status)


def _state_change_invalid(
    request: HttpRequest, customer_id: str, action: str, form: StateChangeForm
) -> HttpResponse:
    post = request.POST
    # The values that are themselves valid, as the form cleaned them for a valid post (a bad country is
    # left out; a bad external id is shown as posted, escaped).
    shown = {"external_id": post.get("external_id", ""), **form.cleaned_data}
    customer = _customer_as_shown(customer_id, shown)
    active_accounts = _int_or_none(post.get("active_accounts"))
    if request.htmx:
        problem = next(iter(form.errors.values()))[0]
        extra = {"error": UserMessage(problem, f"Open {action} again and correct it; nothing was sent.")}
        return _state_change_response(request, customer, active_accounts, extra)
    return _render_confirm(request, customer, active_accounts, action, form=form, status=400)


@require_POST
@permission_required(permissions.CHANGE_CUSTOMER_STATE)
def customer_change_verify(request: HttpRequest, customer_id: str, entry_id: int) -> HttpResponse:
    """Settle an unknown outcome by reading the customer once."""
    customer_id = _checked_id(customer_id)
    entry = AuditEntry.objects.filter(pk=entry_id, customer_id=customer_id, sequence__isnull=True).first()
    if entry is None:
        messages.info(request, "That change was already settled.")
        return redirect("customers:customer_detail", customer_id=customer_id)
    result = unsettled_entry_settle(entry=entry, actor=Actor.from_request(request))
    level = messages.ERROR if result.verdict == "error" else messages.SUCCESS
    messages.add_message(request, level, result.sentence())
    return redirect("customers:customer_detail", customer_id=customer_id)
