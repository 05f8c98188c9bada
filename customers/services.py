"""Writes: one function per user action. Each opens an audit entry before calling Tatum and closes it
after, whatever happens (see customers/audit.py)."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

from customers.audit import Actor, audit_entry_close, audit_entry_open, audit_entry_record
from customers.circuit import circuit_check_writes
from customers.errors import ALREADY_IN_STATE_CODES
from customers.models import AuditEntry
from customers.selectors import CustomerSnapshot, customer_fingerprint, customer_get
from customers.tatum import Customer, TatumError, TatumOutcomeUnknown, tatum_client

Outcome = AuditEntry.Outcome
Action = AuditEntry.Action

EDITABLE_FIELDS = ("external_id", "accounting_currency", "customer_country", "provider_country")
# Tatum's JSON names, for the audit trail's `changes` (what compliance officers read).
FIELD_LABELS = {
    "external_id": "externalId",
    "accounting_currency": "accountingCurrency",
    "customer_country": "customerCountry",
    "provider_country": "providerCountry",
    "active": "active",
    "enabled": "enabled",
}

# What each state action does to which flag; a 204 tells us the flag is now `after`.
STATE_ACTIONS: dict[str, tuple[str, bool]] = {
    Action.ACTIVATE: ("active", True),
    Action.DEACTIVATE: ("active", False),
    Action.ENABLE: ("enabled", True),
    Action.DISABLE: ("enabled", False),
}


class CustomerConflict(Exception):
    """Someone changed the customer after the form was read: nothing was written."""

    def __init__(self, current: CustomerSnapshot, intended: dict[str, Any]) -> None:
        super().__init__("The customer changed since the form was opened.")
        self.current = current
        self.intended = intended


@dataclass(frozen=True)
class UpdateResult:
    customer: Customer
    entry: AuditEntry | None  # None when nothing changed and nothing was sent


@dataclass(frozen=True)
class StateChangeResult:
    customer: Customer  # the state known after the call
    entry: AuditEntry
    already: bool = False  # Tatum said it was already in that state


def customer_update(
    *,
    actor: Actor,
    current: CustomerSnapshot,
    fingerprint: str,
    external_id: str,
    accounting_currency: str | None,
    customer_country: str | None,
    provider_country: str | None,
) -> UpdateResult:
    """Refuse if the customer changed since the form read it, else send only what changed.

    `current` is the customer as read again at save time (the caller's one read), so a save costs
    two upstream calls. Raises `CustomerConflict`, or the write's `TatumError` after recording it.
    """
    intended = {
        "external_id": external_id,
        "accounting_currency": accounting_currency,
        "customer_country": customer_country,
        "provider_country": provider_country,
    }
    if customer_fingerprint(current.customer) != fingerprint:
        raise CustomerConflict(current=current, intended=intended)
    changes = _field_changes(current.customer, intended)
    if not changes:
        return UpdateResult(customer=current.customer, entry=None)
    entry = audit_entry_open(
        actor=actor,
        action=Action.UPDATE,
        customer_id=current.customer.id,
        customer_external_id=current.customer.external_id,
        changes={FIELD_LABELS[name]: pair for name, pair in changes.items()},
    )
    sent = {name: pair[1] for name, pair in changes.items() if name != "external_id"}
    updated = _call_closing_entry(
        entry,
        lambda: tatum_client().update_customer(current.customer.id, external_id=external_id, **sent),
    )
    audit_entry_close(entry, outcome=Outcome.SUCCEEDED, http_status=200)
    return UpdateResult(customer=updated, entry=entry)


def _field_changes(customer: Customer, intended: dict[str, Any]) -> dict[str, list[Any]]:
    changes = {}
    for name, value in intended.items():
        before = getattr(customer, name)
        # An optional field can only be set, never cleared (the API has no way to clear it).
        if value is not None and value != before:
            changes[name] = [before, value]
    return changes


def customer_activate(*, actor: Actor, customer: Customer, reason: str = "") -> StateChangeResult:
    return _customer_state_change(actor=actor, customer=customer, action=Action.ACTIVATE, reason=reason)


def customer_deactivate(*, actor: Actor, customer: Customer, reason: str) -> StateChangeResult:
    return _customer_state_change(actor=actor, customer=customer, action=Action.DEACTIVATE, reason=reason)


def customer_enable(*, actor: Actor, customer: Customer, reason: str = "") -> StateChangeResult:
    return _customer_state_change(actor=actor, customer=customer, action=Action.ENABLE, reason=reason)


def customer_disable(*, actor: Actor, customer: Customer, reason: str) -> StateChangeResult:
    return _customer_state_change(actor=actor, customer=customer, action=Action.DISABLE, reason=reason)


STATE_SERVICES = {
    Action.ACTIVATE: customer_activate,
    Action.DEACTIVATE: customer_deactivate,
    Action.ENABLE: customer_enable,
    Action.DISABLE: customer_disable,
}


def _customer_state_change(
    *, actor: Actor, customer: Customer, action: str, reason: str
) -> StateChangeResult:
    """One state PUT. After a 204 the new state is known without reading the customer again."""
    flag, after = STATE_ACTIONS[action]
    entry = audit_entry_open(
        actor=actor,
        action=action,
        customer_id=customer.id,
        customer_external_id=customer.external_id,
        changes={flag: [not after, after]},
        reason=reason,
    )
    client_method = getattr(tatum_client(), f"{action}_customer")
    try:
        _call_closing_entry(entry, lambda: client_method(customer.id))
    except TatumError as exc:
        if exc.error_code in ALREADY_IN_STATE_CODES:
            return StateChangeResult(customer=replace(customer, **{flag: after}), entry=entry, already=True)
        raise
    audit_entry_close(entry, outcome=Outcome.SUCCEEDED, http_status=204)
    return StateChangeResult(customer=replace(customer, **{flag: after}), entry=entry)


def _call_closing_entry(entry: AuditEntry, call):
    """Run the Tatum call; on failure close the entry as failed or unknown and re-raise."""
    try:
        circuit_check_writes()
        return call()
    except TatumOutcomeUnknown as exc:
        audit_entry_close(entry, outcome=Outcome.UNKNOWN, error_code=exc.error_code, error_message=str(exc))
        raise
    except TatumError as exc:
        audit_entry_close(
            entry,
            outcome=Outcome.FAILED,
            http_status=exc.status,
            error_code=exc.error_code,
            error_message=exc.message,
        )
        raise


def customer_action_denied(*, actor: Actor, action: str, customer_id: str = "") -> AuditEntry:
    """Record a write the user was not allowed to make (nothing was sent to Tatum)."""
    return audit_entry_record(
        actor=actor,
        action=action,
        outcome=Outcome.DENIED,
        customer_id=customer_id,
        error_message="Permission denied",
        http_status=403,
    )


def audit_entry_verify(*, entry: AuditEntry) -> AuditEntry:
    """Settle an `unknown` or stale `pending` entry: read the customer once and compare.

    The change happened if every field it meant to change now holds the intended value. Raises the
    read's `TatumError` (the entry stays open).
    """
    current = customer_get(customer_id=entry.customer_id).customer
    happened = all(_current_value(current, field) == pair[1] for field, pair in (entry.changes or {}).items())
    outcome = Outcome.SUCCEEDED if happened else Outcome.FAILED
    note = (
        "Verified by reading the customer: the change is in place."
        if happened
        else ("Verified by reading the customer: the change did not happen.")
    )
    message = "\n".join(filter(None, [entry.error_message, note]))
    return audit_entry_close(
        entry,
        outcome=outcome,
        http_status=entry.http_status,
        error_code=entry.error_code,
        error_message=message,
    )


_JSON_TO_ATTRIBUTE = {label: name for name, label in FIELD_LABELS.items()}


def _current_value(customer: Customer, field: str) -> Any:
    return getattr(customer, _JSON_TO_ATTRIBUTE.get(field, field))
