"""Writes: one function per user action on a customer. Each takes the customer's write lock, reads the
customer from Tatum, refuses while an earlier change is unsettled, opens an audit entry holding what
that read showed, calls Tatum, and closes the entry, whatever happens (see customers/audit/trail.py).
Nothing a browser posts is recorded as fact: only the action, the reason typed and, for an edit, the
values asked for.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

from customers.audit.locks import customer_lock
from customers.audit.models import AuditEntry
from customers.audit.selectors import unsettled_entry_list
from customers.audit.trail import Actor, audit_entry_close, audit_entry_open, audit_entry_record
from customers.credits.circuit import circuit_check_writes
from customers.credits.client import tatum_client
from customers.index.models import CustomerRecord
from customers.index.services import records_seen
from customers.screens.selectors import (
    CustomerDetail,
    CustomerSnapshot,
    InactiveAccount,
    accounts_deactivated_here,
    customer_detail_get,
    customer_fingerprint,
    customer_get,
)
from customers.tatum import (
    CUSTOMER_JSON_NAMES,
    Account,
    Balance,
    Customer,
    TatumClient,
    TatumError,
    TatumOutcomeUnknown,
)
from customers.user_messages import ALREADY_IN_STATE_CODES

Outcome = AuditEntry.Outcome
Action = AuditEntry.Action
SeenBy = CustomerRecord.SeenBy


@dataclass(frozen=True)
class StateChange:
    """What a state action does: the flag it sets, the value it sets it to, and the Tatum call."""

    flag: str
    value: bool
    call: Callable[[TatumClient, str], None]
    past: str


STATE_CHANGES: dict[str, StateChange] = {
    Action.ACTIVATE: StateChange("active", True, TatumClient.activate_customer, "activated"),
    Action.DEACTIVATE: StateChange("active", False, TatumClient.deactivate_customer, "deactivated"),
    Action.ENABLE: StateChange("enabled", True, TatumClient.enable_customer, "enabled"),
    Action.DISABLE: StateChange("enabled", False, TatumClient.disable_customer, "disabled"),
}


class CustomerUnsettled(Exception):
    """An earlier change to the customer has an unknown outcome: settle it before changing more."""

    def __init__(self, entry: AuditEntry) -> None:
        super().__init__(f"Entry #{entry.pk} is unsettled.")
        self.entry = entry


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
    customer: Customer  # the state known after the call: as read before it, unless it succeeded
    entry: AuditEntry
    already: bool = False  # the customer was already in that state: nothing changed
    error: TatumError | None = None  # the write failed, or its outcome is unknown (`TatumOutcomeUnknown`)


def customer_update(
    *,
    actor: Actor,
    customer_id: str,
    fingerprint: str,
    external_id: str,
    accounting_currency: str | None,
    customer_country: str | None,
    provider_country: str | None,
) -> UpdateResult:
    """Read the customer again, refuse if it changed since the form read it (`fingerprint`), else
    send only what changed: a read and a write, 3 credits.

    Raises `CustomerBusy` (another change is running), `CustomerUnsettled`, `CustomerConflict`, the
    read's `TatumError`, or the write's `TatumError` after recording it.
    """
    intended = {
        "external_id": external_id,
        "accounting_currency": accounting_currency,
        "customer_country": customer_country,
        "provider_country": provider_country,
    }
    with customer_lock(customer_id):
        _refuse_while_unsettled(customer_id)
        current = customer_get(customer_id=customer_id)
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
            changes={CUSTOMER_JSON_NAMES[name]: pair for name, pair in changes.items()},
        )
        sent = {name: pair[1] for name, pair in changes.items() if name != "external_id"}
        updated = _call_closing_entry(
            entry,
            lambda: tatum_client().update_customer(current.customer.id, external_id=external_id, **sent),
        )
        audit_entry_close(entry, outcome=Outcome.SUCCEEDED, http_status=200)
    records_seen([updated], seen_by=CustomerRecord.SeenBy.WRITE)
    return UpdateResult(customer=updated, entry=entry)


def _refuse_while_unsettled(customer_id: str) -> None:
    unsettled = unsettled_entry_list(customer_id=customer_id).last()
    if unsettled is not None:
        raise CustomerUnsettled(unsettled)


def _field_changes(customer: Customer, intended: dict[str, Any]) -> dict[str, list[Any]]:
    changes = {}
    for name, value in intended.items():
        before = getattr(customer, name)
        # An optional field can only be set, never cleared (the API has no way to clear it).
        if value is not None and value != before:
            changes[name] = [before, value]
    return changes


def customer_state_change(*, actor: Actor, customer_id: str, action: str, reason: str) -> StateChangeResult:
    """Activate, deactivate, enable or disable a customer (by internal id): 3 credits.

    Reads the customer first, so that the audit entry holds its external id and its state as Tatum
    gave them. When the read shows the customer already in the target state, nothing is sent and the
    result says so. A failed write is recorded and returned on the result, with the customer as read;
    a failed read is recorded and raised (nothing was sent). Raises `CustomerBusy` and
    `CustomerUnsettled` before reading anything.
    """
    change = STATE_CHANGES[action]
    client = tatum_client()
    with customer_lock(customer_id):
        _refuse_while_unsettled(customer_id)
        try:
            customer = client.get_customer(customer_id)
        except TatumError as exc:
            _record_failed_read(actor, action, customer_id, reason, exc, "the customer")
            raise
        result = _state_change_send(actor, customer, action, change, client, reason)
    if result.error is None:
        # The index learns the state Tatum now holds (after a failed write, or one of unknown outcome,
        # the state is uncertain: the next read or sync tells).
        succeeded = result.entry.outcome == Outcome.SUCCEEDED
        records_seen([result.customer], seen_by=SeenBy.WRITE if succeeded else SeenBy.READ)
    return result


def _state_change_send(
    actor: Actor, customer: Customer, action: str, change: StateChange, client: TatumClient, reason: str
) -> StateChangeResult:
    """The state change of a customer just read (under its lock): recorded, and sent if needed."""
    before = getattr(customer, change.flag)
    fields = {
        "actor": actor,
        "action": action,
        "customer_id": customer.id,
        "customer_external_id": customer.external_id,
        "changes": {change.flag: [before, change.value]},
        "reason": reason,
    }
    if before == change.value:
        entry = audit_entry_record(
            outcome=Outcome.FAILED,
            error_message=f"Nothing was sent: reading the customer showed it already {change.past}.",
            **fields,
        )
        return StateChangeResult(customer=customer, entry=entry, already=True)
    entry = audit_entry_open(**fields)
    changed = replace(customer, **{change.flag: change.value})
    try:
        _call_closing_entry(entry, lambda: change.call(client, customer.id))
    except TatumError as exc:
        if exc.error_code in ALREADY_IN_STATE_CODES:
            # Changed by someone else between the read and the write.
            return StateChangeResult(customer=changed, entry=entry, already=True)
        return StateChangeResult(customer=customer, entry=entry, error=exc)
    audit_entry_close(entry, outcome=Outcome.SUCCEEDED, http_status=204)
    return StateChangeResult(customer=changed, entry=entry)


def _call_closing_entry(entry: AuditEntry, call: Callable[[], Any]) -> Any:
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


# --- Account actions ------------------------------------------------------------------------------


@dataclass(frozen=True)
class AccountChange:
    """What an account action does: the flag it sets, the value it sets it to, and the Tatum call."""

    action: str
    flag: str
    value: bool
    call: Callable[[TatumClient, str], None]
    past: str
    # Tatum's refusal when the account is already in that state.
    already_code: str


ACCOUNT_CHANGES: dict[str, AccountChange] = {
    "activate": AccountChange(
        Action.ACCOUNT_ACTIVATE, "active", True, TatumClient.activate_account, "activated", "account.active"
    ),
    "deactivate": AccountChange(
        Action.ACCOUNT_DEACTIVATE,
        "active",
        False,
        TatumClient.deactivate_account,
        "deactivated",
        "account.inactive",
    ),
    "freeze": AccountChange(
        Action.ACCOUNT_FREEZE, "frozen", True, TatumClient.freeze_account, "frozen", "account.frozen"
    ),
    # Unfreezing an account that is not frozen changes nothing and is not refused.
    "unfreeze": AccountChange(
        Action.ACCOUNT_UNFREEZE, "frozen", False, TatumClient.unfreeze_account, "unfrozen", ""
    ),
}


@dataclass(frozen=True)
class AccountActionResult:
    """The customer and its active accounts as known after the action (as read before it, with what
    succeeded applied), and the entries written."""

    detail: CustomerDetail
    entries: list[AuditEntry]
    already: bool = False  # the account was already in that state: nothing changed
    refused: str = ""  # why nothing was sent: the read showed that Tatum would refuse
    error: TatumError | None = None  # the last write failed, or its outcome is unknown


def account_state_change(
    *, actor: Actor, customer_id: str, account_id: str, action: str, reason: str
) -> AccountActionResult:
    """Activate, deactivate, freeze or unfreeze one of a customer's accounts: 4 credits (5 to activate,
    which reads the accounts again afterwards).

    Reads the customer and its active accounts first (2 credits), so that the audit entry holds the
    account as Tatum shows it, and sends nothing when that read shows Tatum would refuse (a balance
    to deactivate, an inactive customer to activate) or the account is already in that state. An
    inactive account is visible only where this dashboard's audit trail shows it deactivated it.
    Raises `CustomerBusy`, `CustomerUnsettled`, and the read's `TatumError` after recording it.
    """
    change = ACCOUNT_CHANGES[action]
    client = tatum_client()
    with customer_lock(customer_id):
        _refuse_while_unsettled(customer_id)
        detail = _read_before_account_change(actor, customer_id, change.action, reason)
        listed = next((a for a in detail.accounts or [] if a.id == account_id), None)
        gone = None if listed else _deactivated_here(detail, account_id)
        facts = _account_facts(account_id, listed, gone)
        fields = {
            "actor": actor,
            "action": change.action,
            "customer_id": detail.customer.id,
            "customer_external_id": detail.customer.external_id,
            "reason": reason,
        }
        before = getattr(listed, change.flag) if listed else (False if gone else None)
        fields["changes"] = {**facts, change.flag: [before, change.value]}
        if before == change.value:
            entry = audit_entry_record(
                outcome=Outcome.FAILED,
                error_message=f"Nothing was sent: reading the accounts showed it already {change.past}.",
                **fields,
            )
            return AccountActionResult(detail=detail, entries=[entry], already=True)
        refusal = _account_refusal(change, detail.customer, listed, gone)
        if refusal:
            entry = audit_entry_record(
                outcome=Outcome.FAILED, error_message=f"Nothing was sent: {refusal}", **fields
            )
            return AccountActionResult(detail=detail, entries=[entry], refused=refusal)
        entry = audit_entry_open(**fields)
        error = _account_change_send(entry, change, client, account_id)
        if error is not None and error.error_code != change.already_code:
            return AccountActionResult(detail=detail, entries=[entry], error=error)
        if change.action == Action.ACCOUNT_ACTIVATE:
            # Tatum lists the account again, with a balance only a read shows (1 credit more).
            after = customer_detail_get(customer_id=customer_id, known=detail.snapshot)
        else:
            after = _accounts_after(detail, account_id, change)
        return AccountActionResult(detail=after, entries=[entry], already=error is not None)


def customer_accounts_deactivate(*, actor: Actor, customer_id: str, reason: str) -> AccountActionResult:
    """Deactivate every active account of the customer that has a zero balance, each with its own
    audit entry and call: 2 credits to read the customer and its accounts, then 2 an account.

    Accounts holding a balance are left alone (Tatum refuses them). Stops at the first call that
    fails for another reason than the account being inactive already, so that an unknown outcome is
    settled before anything more is sent. Raises as `account_state_change`.
    """
    change = ACCOUNT_CHANGES["deactivate"]
    client = tatum_client()
    with customer_lock(customer_id):
        _refuse_while_unsettled(customer_id)
        detail = _read_before_account_change(actor, customer_id, change.action, reason)
        entries: list[AuditEntry] = []
        for account in [a for a in detail.accounts or [] if not a.balance.account_balance]:
            entry = audit_entry_open(
                actor=actor,
                action=change.action,
                customer_id=detail.customer.id,
                customer_external_id=detail.customer.external_id,
                changes={**_account_facts(account.id, account, None), "active": [True, False]},
                reason=reason,
            )
            entries.append(entry)
            error = _account_change_send(entry, change, client, account.id)
            if error is not None and error.error_code != change.already_code:
                return AccountActionResult(detail=detail, entries=entries, error=error)
            detail = _accounts_after(detail, account.id, change)
        return AccountActionResult(detail=detail, entries=entries)


def _read_before_account_change(actor: Actor, customer_id: str, action: str, reason: str) -> CustomerDetail:
    """The customer and its active accounts; a failed read is recorded (nothing was sent) and raised."""
    try:
        detail = customer_detail_get(customer_id=customer_id)
        if detail.accounts_error is not None:
            raise detail.accounts_error
    except TatumError as exc:
        _record_failed_read(actor, action, customer_id, reason, exc, "the accounts")
        raise
    return detail


def _record_failed_read(
    actor: Actor, action: str, customer_id: str, reason: str, exc: TatumError, what: str
) -> None:
    """The entry of a change whose read beforehand failed: nothing was sent."""
    audit_entry_record(
        actor=actor,
        action=action,
        outcome=Outcome.FAILED,
        customer_id=customer_id,
        reason=reason,
        http_status=exc.status,
        error_code=exc.error_code,
        error_message=f"Reading {what} before the change failed, so nothing was sent: {exc}",
    )


def _deactivated_here(detail: CustomerDetail, account_id: str) -> InactiveAccount | None:
    known = accounts_deactivated_here(
        customer_id=detail.customer.id, active_ids={a.id for a in detail.accounts or []}
    )
    return next((account for account in known if account.id == account_id), None)


def _account_facts(account_id: str, listed: Account | None, gone: InactiveAccount | None) -> dict[str, Any]:
    """The account as the server knows it: as Tatum listed it, or as the audit trail recorded it."""
    if listed is not None:
        return {
            "account": account_id,
            "currency": listed.currency,
            "accountBalance": str(listed.balance.account_balance),
            "availableBalance": str(listed.balance.available_balance),
            "frozen": listed.frozen,
        }
    return {"account": account_id, "currency": gone.currency} if gone else {"account": account_id}


def _account_refusal(
    change: AccountChange, customer: Customer, listed: Account | None, gone: InactiveAccount | None
) -> str:
    """Why Tatum would certainly refuse, in words ("" when the read shows no reason)."""
    if change.action == Action.ACCOUNT_ACTIVATE:
        if gone is None:
            return (
                "the account is not among the customer's active accounts, and the audit log shows no "
                "deactivation of it from this dashboard, so it cannot be told to be this customer's."
            )
        if not customer.active:
            return "the customer is inactive, and Tatum activates no account of an inactive customer."
        return ""
    if listed is None:
        return "the account is not among the customer's active accounts."
    if change.action == Action.ACCOUNT_DEACTIVATE and listed.balance.account_balance:
        return (
            f"the account holds a balance of {listed.balance.account_balance} {listed.currency}, and Tatum "
            "deactivates only accounts with a zero balance."
        )
    return ""


def _account_change_send(
    entry: AuditEntry, change: AccountChange, client: TatumClient, account_id: str
) -> TatumError | None:
    """Send the change and close its entry; the failure, if any, is returned (already recorded)."""
    try:
        _call_closing_entry(entry, lambda: change.call(client, account_id))
    except TatumError as exc:
        return exc
    audit_entry_close(entry, outcome=Outcome.SUCCEEDED, http_status=204)
    return None


def _accounts_after(detail: CustomerDetail, account_id: str, change: AccountChange) -> CustomerDetail:
    """The accounts read before the change, with the change applied: a deactivated account leaves the
    list; freezing blocks the whole available balance; unfreezing restores it, by an amount only a new
    read shows."""
    accounts = []
    for account in detail.accounts or []:
        if account.id != account_id:
            accounts.append(account)
        elif change.flag == "frozen":
            balance = Balance(account.balance.account_balance, 0) if change.value else account.balance
            accounts.append(replace(account, frozen=change.value, balance=balance))
    return replace(detail, accounts=accounts)


# --- Compliance review ---------------------------------------------------------------------------


def customer_record_for_review(*, customer_id: str) -> CustomerRecord:
    """The customer's row in the index, to open a compliance case on. When the index does not hold it
    yet, the customer is read from Tatum (1 credit) and written through. Raises the read's `TatumError`."""
    record = CustomerRecord.objects.filter(tatum_id=customer_id).first()
    if record is not None:
        return record
    customer = customer_get(customer_id=customer_id).customer
    records_seen([customer], seen_by=CustomerRecord.SeenBy.READ)
    return CustomerRecord.objects.get(tatum_id=customer.id)
