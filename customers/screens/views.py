"""Customer pages: list, lookup, detail, history, edit, state changes, and the actions on a
customer's accounts with the guided deactivation. Thin views over selectors and services."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime
from typing import Any
from urllib.parse import urlencode

from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_GET, require_http_methods, require_POST
from django.views.decorators.vary import vary_on_headers
from django_htmx.http import push_url, replace_url, reswap, retarget

from customers import permissions
from customers.audit.access import permission_required
from customers.audit.locks import CustomerBusy
from customers.audit.models import AuditEntry
from customers.audit.selectors import entry_page, entry_page_requested, unsettled_entry_list
from customers.audit.trail import Actor
from customers.compliance.forms import CaseFlagForm
from customers.compliance.selectors import case_notes
from customers.compliance.services import CaseRefused, case_flag, customer_case_get
from customers.credits.circuit import circuit_is_open
from customers.index.filters import (
    FILTER_PARAMS,
    FIND_PARAM,
    SEARCH_INPUT_ID,
    TABLE_COLUMNS,
    sort_headers,
)
from customers.index.filters import PAGE_SIZES as INDEX_PAGE_SIZES
from customers.index.models import CustomerRecord
from customers.index.selectors import index_as_of, record_exact_get, record_list
from customers.index.services import records_seen
from customers.pages import error_context, is_partial_request, upstream_error_page
from customers.screens.forms import (
    DEFAULT_PAGE_SIZE,
    PAGE_SIZES,
    CustomerEditForm,
    CustomerListParams,
    CustomerLookupForm,
    StateChangeForm,
)
from customers.screens.selectors import (
    CustomerDetail,
    CustomerSnapshot,
    accounts_deactivated_here,
    customer_detail_get,
    customer_get,
    customer_history,
    customer_list,
)
from customers.screens.services import (
    ACCOUNT_CHANGES,
    STATE_CHANGES,
    AccountActionResult,
    CustomerConflict,
    CustomerUnsettled,
    account_state_change,
    customer_accounts_deactivate,
    customer_record_for_review,
    customer_state_change,
    customer_update,
)
from customers.screens.state import (
    ACCOUNT_REASON_REQUIRED,
    REASON_REQUIRED,
    account_options,
    action_options,
    deactivation_guide,
    inactive_account_options,
)
from customers.tatum import (
    CREDIT_COSTS,
    CUSTOMER_JSON_NAMES,
    Customer,
    TatumError,
    TatumNotFound,
    TatumValidationError,
    id_problem,
    looks_internal,
)
from customers.tatum.reference import country_label, currency_label
from customers.user_messages import UserMessage, message_for

# A detail page shows the newest changes; the whole history has its own page.
HISTORY_RECENT = 10
DETAIL_READ_CREDITS = CREDIT_COSTS["GET"] * 2  # the customer and its accounts
# Changes that move every account's available balance (disable sets it to 0, enable restores it).
BALANCE_ACTIONS = frozenset({"enable", "disable"})
# State changes after which the accounts area's actions change (an account is activated only on an
# active customer).
ACTIVITY_ACTIONS = frozenset({"activate", "deactivate"})


def _checked_id(customer_id: str) -> str:
    if id_problem(customer_id):
        raise Http404("That is not a valid customer id.")
    return customer_id


# --- List and lookup -----------------------------------------------------------------------------


@require_GET
@vary_on_headers("HX-Request")
@permission_required(permissions.VIEW_CUSTOMERS)
def customer_list_view(request: HttpRequest) -> HttpResponse:
    """The customer index: search, filters, sort and pages, free of Tatum credits. Submitting the search
    (`find`) opens the customer whose id it is exactly."""
    if FIND_PARAM in request.GET:
        return _customer_find(request)
    listing = record_list(data=request.GET)
    state = listing.state
    context = {
        "listing": listing,
        "state": state,
        "sort_headers": sort_headers(listing.filterset.sort_value, TABLE_COLUMNS),
        "page_range": listing.page.paginator.get_elided_page_range(listing.page.number, on_each_side=2),
        "page_sizes": INDEX_PAGE_SIZES,
        "as_of": index_as_of(),
        "can_sync": request.user.has_perm(permissions.SYNC_CUSTOMERS),
        "filtered": any(state.get(name) for name in FILTER_PARAMS),
    }
    if not is_partial_request(request):
        return render(request, "customers/customer_list.html", context)
    response = render(request, "customers/partials/customer_table.html", {**context, "oob": True})
    url = f"{request.path}?{state.urlencode()}" if state else request.path
    # Typing replaces the address as it goes, so that Back does not step through every letter.
    typed = request.htmx.trigger == SEARCH_INPUT_ID
    return replace_url(response, url) if typed else push_url(response, url)


def _customer_find(request: HttpRequest) -> HttpResponse:
    """An exact external or internal id opens that customer: from the index, or, when the index has
    nothing like it (a customer it has not seen yet), by asking Tatum through the lookup."""
    query = request.GET.get("q", "").strip()
    is_id = bool(query) and not id_problem(query)
    record = record_exact_get(customer_id=query) if is_id else None
    if record is not None:
        return redirect("customers:customer_detail", customer_id=record.tatum_id)
    listing = record_list(data=request.GET)
    if is_id and not listing.count:
        return redirect(f"{reverse('customers:customer_lookup')}?{urlencode({'q': query})}")
    state = listing.state
    return redirect(f"{request.path}?{state.urlencode()}" if state else request.path)


@require_GET
@vary_on_headers("HX-Request")
@permission_required(permissions.VIEW_CUSTOMERS)
def customer_live_list_view(request: HttpRequest) -> HttpResponse:
    """Tatum's own pages of customers, as they are now: 1 credit a page."""
    params = CustomerListParams(request.GET)
    if params.is_valid():
        size, page = params.page_size(), params.page_number()
    else:
        size, page = DEFAULT_PAGE_SIZE, 1
        messages.warning(request, "That page address was not valid, so the first page is shown.")
    context: dict[str, Any] = {"size": size, "page": page, "sizes": PAGE_SIZES}
    try:
        context["customers"] = customer_list(page_size=size, page=page - 1)
    except TatumError as exc:
        context.update(error_context(exc))
    else:
        # What Tatum just showed refreshes the index: one statement for the page.
        records_seen(context["customers"], seen_by=CustomerRecord.SeenBy.READ)
    if is_partial_request(request):
        return render(request, "customers/partials/customer_live_table.html", context)
    context["lookup_form"] = CustomerLookupForm()
    return render(request, "customers/customer_live_list.html", context)


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
    return _redirect_to_detail(request, snapshot)


# --- Detail --------------------------------------------------------------------------------------


@require_GET
@permission_required(permissions.VIEW_CUSTOMERS)
def customer_detail(request: HttpRequest, customer_id: str) -> HttpResponse:
    customer_id = _checked_id(customer_id)
    try:
        if not looks_internal(customer_id):
            # Accounts belong to the internal id: find it, and show the page under it.
            return _redirect_to_detail(request, customer_get(customer_id=customer_id))
        detail = customer_detail_get(customer_id=customer_id, known=_just_read(request, customer_id))
    except TatumError as exc:
        return upstream_error_page(request, customer_id, exc)
    if detail.customer.id != customer_id:
        # An external id shaped like an internal one.
        return _redirect_to_detail(request, detail.snapshot)
    records_seen([detail.customer], seen_by=CustomerRecord.SeenBy.READ, at=detail.snapshot.read_at)
    accounts = detail.accounts
    context = _status_context(
        request, detail.customer, None if accounts is None else len(accounts), detail.snapshot.read_at
    )
    context.update(
        read_credits=DETAIL_READ_CREDITS,
        customer_id=customer_id,
        history=entry_page(customer_history(customer_id=customer_id), size=HISTORY_RECENT),
    )
    context.update(_accounts_context(request, detail))
    context.update(_compliance_context(request, customer_id))
    return render(request, "customers/customer_detail.html", context)


# Notes of the customer's compliance case shown on its page; the case page has them all.
CASE_NOTES_RECENT = 3


def _compliance_context(request: HttpRequest, customer_id: str) -> dict[str, Any]:
    """The customer's compliance case: in full for who reviews cases, its status alone for others."""
    case = customer_case_get(customer_id)
    can_view = request.user.has_perm(permissions.VIEW_COMPLIANCE_CASES)
    can_flag = request.user.has_perm(permissions.WORK_COMPLIANCE_CASES)
    return {
        "case": case,
        "can_view_cases": can_view,
        "can_flag": can_flag and (case is None or case.status == case.Status.CLEARED),
        "flag_form": CaseFlagForm(),
        "case_notes": case_notes(case, newest=CASE_NOTES_RECENT) if case and can_view else [],
    }


@require_POST
@permission_required(permissions.WORK_COMPLIANCE_CASES, audited_action=AuditEntry.Action.CASE_OPEN)
def customer_flag(request: HttpRequest, customer_id: str) -> HttpResponse:
    """Flag the customer for compliance review: opens a case, unless one is under way."""
    customer_id = _checked_id(customer_id)
    form = CaseFlagForm(request.POST)
    if not form.is_valid():
        messages.error(request, f"Nothing was flagged: {form.errors['reason'][0]}")
        return redirect("customers:customer_detail", customer_id=customer_id)
    try:
        record = customer_record_for_review(customer_id=customer_id)
        case = case_flag(record=record, reason=form.cleaned_data["reason"], actor=Actor.from_request(request))
    except TatumError as exc:
        messages.error(request, f"Nothing was flagged: {message_for(exc)}")
    except CaseRefused as exc:
        messages.error(request, f"Nothing was flagged: {exc}")
    else:
        messages.success(request, f"Case #{case.pk} is open: the customer is in the compliance review queue.")
    return redirect("customers:customer_detail", customer_id=customer_id)


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


# A customer just read by a lookup is kept for the detail page it redirects to, so that the page
# does not pay for reading it again.
_JUST_READ = "customers:just-read"
_JUST_READ_SECONDS = 30


def _redirect_to_detail(request: HttpRequest, snapshot: CustomerSnapshot) -> HttpResponse:
    request.session[_JUST_READ] = {
        "customer": snapshot.customer.to_json(),
        "read_at": snapshot.read_at.isoformat(),
    }
    return redirect("customers:customer_detail", customer_id=snapshot.customer.id)


def _just_read(request: HttpRequest, customer_id: str) -> CustomerSnapshot | None:
    """The customer kept by `_redirect_to_detail`, once, if it is this one and still fresh."""
    kept = request.session.pop(_JUST_READ, None)
    if not kept or kept["customer"].get("id") != customer_id:
        return None
    read_at = datetime.fromisoformat(kept["read_at"])
    if (timezone.now() - read_at).total_seconds() > _JUST_READ_SECONDS:
        return None
    return CustomerSnapshot(customer=Customer.from_json(kept["customer"]), read_at=read_at)


def _status_context(
    request: HttpRequest, customer: Customer, active_accounts: int | None, read_at: Any
) -> dict[str, Any]:
    """What the status area shows: the state, the changes whose outcome is unknown, the actions."""
    can_change = request.user.has_perm(permissions.CHANGE_CUSTOMER_STATE)
    return {
        "customer": customer,
        "active_accounts": active_accounts,
        "read_at": read_at,
        "can_change_state": can_change,
        "can_change_accounts": request.user.has_perm(permissions.CHANGE_ACCOUNT_STATE),
        "can_edit": request.user.has_perm(permissions.EDIT_CUSTOMERS),
        "options": action_options(customer, active_accounts) if can_change else [],
        "writes_paused": circuit_is_open(),
        "edit_credits": CREDIT_COSTS["GET"] + CREDIT_COSTS["PUT"],
        "unknown_entries": list(unsettled_entry_list(customer_id=customer.id).reverse()),
    }


# --- Edit ----------------------------------------------------------------------------------------


@require_http_methods(["GET", "POST"])
@permission_required(permissions.EDIT_CUSTOMERS, audited_action=AuditEntry.Action.UPDATE)
def customer_edit(request: HttpRequest, customer_id: str) -> HttpResponse:
    customer_id = _checked_id(customer_id)
    if request.method == "POST":
        return _customer_edit_post(request, customer_id)
    try:
        current = customer_get(customer_id=customer_id)
    except TatumError as exc:
        return upstream_error_page(request, customer_id, exc)
    form = CustomerEditForm(customer=current.customer, initial=_edit_initial(current))
    return render(request, "customers/customer_edit.html", {"form": form, "customer": current.customer})


def _edit_initial(snapshot: CustomerSnapshot) -> dict[str, Any]:
    customer = snapshot.customer
    codes = CustomerEditForm.initial_codes(customer)
    return {"external_id": customer.external_id, "fingerprint": snapshot.fingerprint, **codes}


def _customer_edit_post(request: HttpRequest, customer_id: str) -> HttpResponse:
    """Save: the service reads the customer again under its lock and checks it against the form's
    fingerprint, so the form itself needs no read (3 credits in all)."""
    form = CustomerEditForm(request.POST)
    if not form.is_valid():
        return _edit_form_again(request, customer_id, form)
    try:
        result = customer_update(
            actor=Actor.from_request(request),
            customer_id=customer_id,
            fingerprint=form.cleaned_data["fingerprint"],
            **form.cleaned_values(),
        )
    except CustomerConflict as conflict:
        return _render_conflict(request, conflict)
    except (CustomerBusy, CustomerUnsettled) as exc:
        form.add_error(None, _not_now(exc))
        return _edit_form_again(request, customer_id, form, status=409)
    except TatumError as exc:
        if _attach_tatum_field_errors(form, exc):
            # Tatum refused the values: they come back on their fields, to be corrected.
            return _edit_form_again(request, customer_id, form, status=422, error=exc)
        if exc.method == "GET":
            # The save's own read of the customer failed: nothing was sent.
            return upstream_error_page(request, customer_id, exc)
        return _edit_form_again(request, customer_id, form, status=502, error=exc)
    if result.entry is None:
        messages.info(request, "Nothing changed, so nothing was sent to Tatum.")
    else:
        messages.success(request, f"Saved the changes to {result.customer.external_id}.")
    snapshot = CustomerSnapshot(customer=result.customer, read_at=timezone.now())
    return _redirect_to_detail(request, snapshot)


def _edit_form_again(
    request: HttpRequest,
    customer_id: str,
    form: CustomerEditForm,
    status: int = 400,
    error: TatumError | None = None,
) -> HttpResponse:
    """The posted form with what is wrong, over the customer as Tatum holds it now (1 credit)."""
    try:
        current = customer_get(customer_id=customer_id)
    except TatumError as exc:
        return upstream_error_page(request, customer_id, error or exc)
    form.show_codes_of(current.customer)
    context: dict[str, Any] = {"form": form, "customer": current.customer}
    if error is not None:
        context.update(error_context(error))
    return render(request, "customers/customer_edit.html", context, status=status)


def _not_now(exc: Exception) -> str:
    """Why a change was not even tried, in words: nothing was sent."""
    if isinstance(exc, CustomerUnsettled):
        return (
            f"An earlier change to this customer (entry #{exc.entry.pk}) has an unknown outcome. "
            "Verify it on the customer's page first; nothing was sent."
        )
    return "Someone else is changing this customer right now. Nothing was sent; try again in a moment."


_FORM_FIELDS = {json_name: name for name, json_name in CUSTOMER_JSON_NAMES.items()}


# Tatum's refusals that are about one value of the form, by error code: the field it is about.
_FIELD_ERROR_CODES = {"customer.external.id.exists": "external_id"}


def _attach_tatum_field_errors(form: CustomerEditForm, exc: TatumError) -> bool:
    """Put Tatum's own words on the fields it refused (`validation.failed` names them, a conflict
    code stands for one); False when the error is not about the form's values."""
    if isinstance(exc, TatumValidationError):
        for prop, sentences in exc.field_errors.items():
            field = _FORM_FIELDS.get(prop)
            for sentence in sentences:
                form.add_error(field if field in form.fields else None, f"Tatum: {sentence}")
        if not exc.field_errors:
            form.add_error(None, f"Tatum: {exc.message}")
        return True
    field = _FIELD_ERROR_CODES.get(exc.error_code)
    if field is None or exc.method == "GET":
        return False
    form.add_error(field, f"Tatum: {exc.message}")
    return True


# Code fields are shown as "name (code)", as in the form's dropdowns.
_CODE_LABELS = {
    "accounting_currency": currency_label,
    "customer_country": country_label,
    "provider_country": country_label,
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
def customer_state_change_view(request: HttpRequest, customer_id: str, action: str) -> HttpResponse:
    customer_id = _checked_id(customer_id)
    if action not in STATE_CHANGES:
        raise Http404("No such action.")
    if request.method == "GET":
        return _state_change_confirm_page(request, customer_id, action)
    form = StateChangeForm(request.POST, reason_required=action in REASON_REQUIRED)
    if not form.is_valid():
        return _state_change_invalid(request, customer_id, action, form)
    shown_accounts = form.cleaned_data["active_accounts"]
    try:
        result = customer_state_change(
            actor=Actor.from_request(request),
            customer_id=customer_id,
            action=action,
            reason=form.cleaned_data["reason"],
        )
    except (CustomerBusy, CustomerUnsettled) as exc:
        message = UserMessage(_not_now(exc), "")
        return _state_change_refused(request, customer_id, {"error": message})
    except TatumError as exc:
        # The customer could not be read, so nothing was sent.
        return _state_change_refused(request, customer_id, error_context(exc))
    if result.error is not None:
        return _state_change_response(request, result.customer, shown_accounts, error_context(result.error))
    extra: dict[str, Any] = {"notice": _state_notice(action, result.already)}
    if action in BALANCE_ACTIONS and not result.already and shown_accounts:
        # The accounts shown were read before the change, which moved their available balances.
        extra.update(balances_changed_by=action, read_credits=DETAIL_READ_CREDITS)
    if action in ACTIVITY_ACTIONS and not result.already and request.htmx:
        # Whether an account may be activated follows the customer's state. Either way the customer
        # has no active account now (Tatum deactivates only a customer without one), so the accounts
        # area is known without reading it again: the ones deactivated here, with their new actions.
        detail = CustomerDetail(snapshot=CustomerSnapshot(result.customer, timezone.now()), accounts=[])
        extra.update(_accounts_context(request, detail), oob_accounts=True)
    return _state_change_response(request, result.customer, shown_accounts, extra)


def _state_notice(action: str, already: bool) -> str:
    past = STATE_CHANGES[action].past
    if already:
        return f"The customer was already {past}; nothing was changed. The status below is current."
    return f"The customer is now {past}."


def _reason_again(request: HttpRequest, form: StateChangeForm, field_id: str) -> HttpResponse:
    """The dialog's reason field with what is wrong with it (422), swapped in over the one posted, so
    the dialog stays open with what was typed."""
    context = {"form": form, "field_id": field_id, "required": form.fields["reason"].required}
    response = render(request, "customers/partials/reason_field.html", context, status=422)
    return reswap(retarget(response, "find .reason-field"), "outerHTML")


def _state_change_refused(request: HttpRequest, customer_id: str, extra: dict[str, Any]) -> HttpResponse:
    """Nothing was sent: say why in the page's message area, leaving the status as it was."""
    if not request.htmx:
        _flash(request, extra)
        return redirect("customers:customer_detail", customer_id=customer_id)
    response = render(request, "customers/partials/state_change_refused.html", extra)
    return reswap(response, "none")


def _state_change_response(
    request: HttpRequest, customer: Customer, active_accounts: int | None, extra: dict[str, Any]
) -> HttpResponse:
    if not request.htmx:
        _flash(request, extra)
        return redirect("customers:customer_detail", customer_id=customer.id)
    context = _status_context(request, customer, active_accounts, timezone.now())
    context.update(extra)
    context["customer_id"] = customer.id
    context["history"] = entry_page(customer_history(customer_id=customer.id), size=HISTORY_RECENT)
    context["oob"] = True
    return render(request, "customers/partials/customer_status_response.html", context)


def _flash(request: HttpRequest, extra: dict[str, Any]) -> None:
    if extra.get("notice"):
        messages.success(request, extra["notice"])
    if extra.get("error"):
        level = messages.WARNING if extra["error"].level == "warning" else messages.ERROR
        messages.add_message(request, level, str(extra["error"]))


def _state_change_confirm_page(
    request: HttpRequest,
    customer_id: str,
    action: str,
    form: StateChangeForm | None = None,
    status: int = 200,
) -> HttpResponse:
    """The confirmation page (without JavaScript): the customer and its accounts, as Tatum holds them."""
    try:
        if looks_internal(customer_id):
            detail = customer_detail_get(customer_id=customer_id)
        else:
            # Accounts belong to the internal id: learn it first.
            snapshot = customer_get(customer_id=customer_id)
            detail = customer_detail_get(customer_id=snapshot.customer.id, known=snapshot)
    except TatumError as exc:
        return upstream_error_page(request, customer_id, exc)
    accounts = None if detail.accounts is None else len(detail.accounts)
    return _render_confirm(request, detail.customer, accounts, action, form=form, status=status)


def _render_confirm(
    request: HttpRequest,
    customer: Customer,
    active_accounts: int | None,
    action: str,
    form: StateChangeForm | None = None,
    status: int = 200,
) -> HttpResponse:
    option = next(o for o in action_options(customer, active_accounts) if o.name == action)
    form = form or StateChangeForm(reason_required=option.reason_required)
    context = {"customer": customer, "option": option, "form": form, "active_accounts": active_accounts}
    return render(request, "customers/customer_state_confirm.html", context, status=status)


def _state_change_invalid(
    request: HttpRequest, customer_id: str, action: str, form: StateChangeForm
) -> HttpResponse:
    """A refused form: nothing was read or sent. The dialog (htmx) gets a missing reason on its field,
    any other problem in the status area's message; the confirmation page gets it on its field."""
    if request.htmx and "reason" in form.errors:
        return _reason_again(request, form, field_id=action)
    problem = next(iter(form.errors.values()))[0]
    if request.htmx:
        message = UserMessage(problem, f"Open {action} again and correct it; nothing was sent.")
        return _state_change_refused(request, customer_id, {"error": message})
    return _state_change_confirm_page(request, customer_id, action, form=form, status=400)


# --- Account actions -----------------------------------------------------------------------------


def _accounts_context(request: HttpRequest, detail: CustomerDetail) -> dict[str, Any]:
    """What the accounts area shows: the active accounts with their actions, the inactive ones this
    dashboard deactivated (which it may activate), and the guided deactivation of the customer."""
    accounts, customer = detail.accounts, detail.customer
    can_change = request.user.has_perm(permissions.CHANGE_ACCOUNT_STATE)
    # Only a whole list shows which deactivated accounts are still inactive.
    complete = accounts is not None and not detail.accounts_may_continue
    inactive = (
        accounts_deactivated_here(customer_id=customer.id, active_ids={a.id for a in accounts or []})
        if complete
        else []
    )
    return {
        "detail": detail,
        "customer": customer,
        "accounts": accounts,
        "accounts_error": message_for(detail.accounts_error) if detail.accounts_error else None,
        "can_change_accounts": can_change,
        "account_rows": [(a, account_options(a) if can_change else []) for a in accounts or []],
        "inactive_rows": [(a, inactive_account_options(customer, a) if can_change else []) for a in inactive],
        "guide": deactivation_guide(accounts) if accounts and customer.active else None,
        "writes_paused": circuit_is_open(),
    }


def _account_ids(customer_id: str, account_id: str = "") -> None:
    """Accounts belong to the internal id; both ids must be internal ones (404 otherwise)."""
    if id_problem(customer_id, internal=True) or (account_id and id_problem(account_id, internal=True)):
        raise Http404("That is not a valid customer or account id.")


def _account_audited_action(action: str = "", **_: Any) -> str:
    change = ACCOUNT_CHANGES.get(action)
    return change.action if change else AuditEntry.Action.ACCOUNT_DEACTIVATE


@require_http_methods(["GET", "POST"])
@permission_required(permissions.CHANGE_ACCOUNT_STATE, audited_action=_account_audited_action)
def account_action_view(request: HttpRequest, customer_id: str, account_id: str, action: str) -> HttpResponse:
    """Activate, deactivate, freeze or unfreeze one account: the confirmation page (GET) or the change."""
    _account_ids(customer_id, account_id)
    if action not in ACCOUNT_CHANGES:
        raise Http404("No such action.")
    if request.method == "GET":
        return _account_confirm_page(request, customer_id, account_id, action)
    form = StateChangeForm(request.POST, reason_required=action in ACCOUNT_REASON_REQUIRED)
    if not form.is_valid():
        return _account_form_invalid(request, customer_id, form, action, account_id)
    try:
        result = account_state_change(
            actor=Actor.from_request(request),
            customer_id=customer_id,
            account_id=account_id,
            action=action,
            reason=form.cleaned_data["reason"],
        )
    except (CustomerBusy, CustomerUnsettled) as exc:
        return _state_change_refused(request, customer_id, {"error": UserMessage(_not_now(exc), "")})
    except TatumError as exc:
        return _state_change_refused(request, customer_id, _refusal_context(exc))
    return _account_action_response(request, result, _account_outcome(action, account_id, result))


@require_http_methods(["GET", "POST"])
@permission_required(permissions.CHANGE_ACCOUNT_STATE, audited_action=AuditEntry.Action.ACCOUNT_DEACTIVATE)
def customer_accounts_deactivate_view(request: HttpRequest, customer_id: str) -> HttpResponse:
    """The guided deactivation of a customer: which accounts block it (GET), and deactivating those
    with a zero balance (POST); the customer's own Deactivate follows."""
    _account_ids(customer_id)
    if request.method == "GET":
        return _guide_page(request, customer_id)
    form = StateChangeForm(request.POST, reason_required=True)
    if not form.is_valid():
        return _account_form_invalid(request, customer_id, form)
    try:
        result = customer_accounts_deactivate(
            actor=Actor.from_request(request), customer_id=customer_id, reason=form.cleaned_data["reason"]
        )
    except (CustomerBusy, CustomerUnsettled) as exc:
        return _state_change_refused(request, customer_id, {"error": UserMessage(_not_now(exc), "")})
    except TatumError as exc:
        return _state_change_refused(request, customer_id, _refusal_context(exc))
    return _account_action_response(request, result, _guide_outcome(result))


def _refusal_context(error: TatumError) -> dict[str, Any]:
    """A Tatum error in plain words, with Tatum's own message beside a refusal."""
    context = error_context(error)
    if error.status == 403 and error.message:
        message = context["error"]
        context["error"] = replace(message, next_step=f'{message.next_step} Tatum said: "{error.message}"')
    return context


def _account_outcome(action: str, account_id: str, result: AccountActionResult) -> dict[str, Any]:
    past = ACCOUNT_CHANGES[action].past
    if result.error is not None:
        return _refusal_context(result.error)
    if result.refused:
        return {"error": UserMessage(f"Nothing was sent to Tatum: {result.refused}", "", level="warning")}
    if result.already:
        return {"notice": f"Account {account_id} was already {past}; nothing was changed."}
    extra: dict[str, Any] = {"notice": f"Account {account_id} is now {past}."}
    if action == "unfreeze":
        extra.update(balances_changed_by="unfreeze", read_credits=DETAIL_READ_CREDITS)
    return extra


def _guide_outcome(result: AccountActionResult) -> dict[str, Any]:
    done = sum(1 for entry in result.entries if entry.outcome == AuditEntry.Outcome.SUCCEEDED)
    extra: dict[str, Any] = _refusal_context(result.error) if result.error is not None else {}
    left = len(result.detail.accounts or [])
    noun = "account" if done == 1 else "accounts"
    if left:
        extra["notice"] = (
            f"Deactivated {done} {noun}. {left} still active: the customer cannot be deactivated yet."
        )
    else:
        extra["notice"] = f"Deactivated {done} {noun}. No active account is left: deactivate the customer."
    return extra


def _account_action_response(
    request: HttpRequest, result: AccountActionResult, extra: dict[str, Any]
) -> HttpResponse:
    """The accounts area as known after the action, with the status and history it changed (htmx);
    without JavaScript, the customer's page with the outcome in its messages."""
    detail = result.detail
    if not request.htmx:
        _flash(request, extra)
        return redirect("customers:customer_detail", customer_id=detail.customer.id)
    active = None if detail.accounts is None else len(detail.accounts)
    context = _status_context(request, detail.customer, active, timezone.now())
    context.update(_accounts_context(request, detail))
    context.update(extra)
    context.update(
        customer_id=detail.customer.id,
        history=entry_page(customer_history(customer_id=detail.customer.id), size=HISTORY_RECENT),
        oob=True,
        oob_status=True,
    )
    return render(request, "customers/partials/account_action_response.html", context)


def _account_form_invalid(
    request: HttpRequest, customer_id: str, form: StateChangeForm, action: str = "", account_id: str = ""
) -> HttpResponse:
    """A refused form: nothing was read or sent."""
    if request.htmx and "reason" in form.errors:
        return _reason_again(
            request, form, field_id=f"{action}-{account_id}" if action else "deactivate-accounts"
        )
    problem = next(iter(form.errors.values()))[0]
    if request.htmx:
        message = UserMessage(problem, "Open the action again and correct it; nothing was sent.")
        return _state_change_refused(request, customer_id, {"error": message})
    if action:
        return _account_confirm_page(request, customer_id, account_id, action, form=form, status=400)
    return _guide_page(request, customer_id, form=form, status=400)


def _read_accounts_page(request: HttpRequest, customer_id: str) -> CustomerDetail | HttpResponse:
    """The customer and its accounts for a confirmation page (2 credits), or the error page."""
    try:
        detail = customer_detail_get(customer_id=customer_id)
    except TatumError as exc:
        return upstream_error_page(request, customer_id, exc)
    if detail.accounts_error is not None:
        return upstream_error_page(request, customer_id, detail.accounts_error)
    return detail


def _account_confirm_page(
    request: HttpRequest,
    customer_id: str,
    account_id: str,
    action: str,
    form: StateChangeForm | None = None,
    status: int = 200,
) -> HttpResponse:
    """The confirmation page (without JavaScript): the account as Tatum lists it, and the action."""
    detail = _read_accounts_page(request, customer_id)
    if isinstance(detail, HttpResponse):
        return detail
    context = _accounts_context(request, detail)
    rows = context["account_rows"] + context["inactive_rows"]
    account, options = next(((a, o) for a, o in rows if a.id == account_id), (None, []))
    option = next((o for o in options if o.name == action), None)
    context.update(
        account=account,
        account_id=account_id,
        action=action,
        option=option,
        form=form or StateChangeForm(reason_required=action in ACCOUNT_REASON_REQUIRED),
    )
    return render(request, "customers/account_action_confirm.html", context, status=status)


def _guide_page(
    request: HttpRequest, customer_id: str, form: StateChangeForm | None = None, status: int = 200
) -> HttpResponse:
    """The guided deactivation as a page of its own (without JavaScript)."""
    detail = _read_accounts_page(request, customer_id)
    if isinstance(detail, HttpResponse):
        return detail
    context = _accounts_context(request, detail)
    context["form"] = form or StateChangeForm(reason_required=True)
    return render(request, "customers/customer_deactivate_accounts.html", context, status=status)
