"""Writes to the sandbox ledger, each in one transaction with the rows it checks locked.

Every function raises `LedgerError` when a business rule refuses the operation; nothing is written
then. The row locks (`select_for_update`) make concurrent calls on one customer take turns, so two
of them can never both pass a check that only one of them should.
"""

from __future__ import annotations

from typing import Any

from django.db import IntegrityError, transaction

from sandbox import errors
from sandbox.amounts import decimal_string, is_zero, to_decimal
from sandbox.errors import LedgerError
from sandbox.ids import new_ledger_id
from sandbox.models import Account, Customer
from sandbox.reference import DEFAULT_ACCOUNTING_CURRENCY

# API field name -> model field name, for the customer fields a request may set.
CUSTOMER_FIELDS = {
    "externalId": "external_id",
    "accountingCurrency": "accounting_currency",
    "customerCountry": "customer_country",
    "providerCountry": "provider_country",
}


def _locked_customer(ledger_id: str) -> Customer:
    customer = Customer.objects.select_for_update().filter(ledger_id=ledger_id).first()
    if customer is None:
        raise LedgerError(errors.CUSTOMER_INTERNAL_NOT_EXISTS)
    return customer


def _apply_fields(customer: Customer, fields: dict[str, Any]) -> list[str]:
    """Sets the given fields; an omitted (or null) field is left unchanged."""
    changed = []
    for api_name, model_name in CUSTOMER_FIELDS.items():
        if fields.get(api_name) is not None:
            setattr(customer, model_name, fields[api_name])
            changed.append(model_name)
    return changed


def _save_fields(customer: Customer, changed: list[str]) -> None:
    try:
        with transaction.atomic():
            customer.save(update_fields=changed)
    except IntegrityError as exc:
        raise LedgerError(errors.CUSTOMER_EXTERNAL_ID_EXISTS, subject=customer.external_id) from exc


@transaction.atomic
def customer_update(*, ledger_id: str, fields: dict[str, Any]) -> Customer:
    """Updates the given fields (`externalId` always given) and returns the customer as stored."""
    customer = _locked_customer(ledger_id)
    changed = _apply_fields(customer, fields)
    if changed:
        _save_fields(customer, changed)
    return customer


@transaction.atomic
def customer_activate(*, ledger_id: str) -> None:
    customer = _locked_customer(ledger_id)
    if customer.active:
        raise LedgerError(errors.CUSTOMER_ACTIVE)
    customer.active = True
    customer.save(update_fields=["active"])


@transaction.atomic
def customer_deactivate(*, ledger_id: str) -> None:
    customer = _locked_customer(ledger_id)
    if not customer.active:
        raise LedgerError(errors.CUSTOMER_INACTIVE)
    if customer.accounts.filter(active=True).exists():
        raise LedgerError(errors.CUSTOMER_DEACTIVATE_ACCOUNT_ACTIVE)
    customer.active = False
    customer.save(update_fields=["active"])


@transaction.atomic
def customer_disable(*, ledger_id: str) -> None:
    """Disables the customer and blocks the whole available balance of every account."""
    customer = _locked_customer(ledger_id)
    if not customer.active:
        raise LedgerError(errors.CUSTOMER_INACTIVE)
    if not customer.enabled:
        raise LedgerError(errors.CUSTOMER_DISABLED)
    accounts = list(customer.accounts.select_for_update())
    for account in accounts:
        blocked = to_decimal(account.disabled_blocked_amount) + to_decimal(account.available_balance)
        account.disabled_blocked_amount = decimal_string(blocked)
        account.available_balance = "0"
    Account.objects.bulk_update(accounts, ["disabled_blocked_amount", "available_balance"])
    customer.enabled = False
    customer.save(update_fields=["enabled"])


@transaction.atomic
def customer_enable(*, ledger_id: str) -> None:
    """Enables the customer and gives back what disabling blocked (the account balance never moved)."""
    customer = _locked_customer(ledger_id)
    if not customer.active:
        raise LedgerError(errors.CUSTOMER_INACTIVE)
    if customer.enabled:
        raise LedgerError(errors.CUSTOMER_ENABLED)
    accounts = list(customer.accounts.select_for_update())
    for account in accounts:
        # A frozen account stays blocked: what disabling took moves to its ACCOUNT_FROZEN blockage.
        kept = "frozen_blocked_amount" if account.frozen else "available_balance"
        restored = to_decimal(getattr(account, kept)) + to_decimal(account.disabled_blocked_amount)
        setattr(account, kept, decimal_string(restored))
        account.disabled_blocked_amount = "0"
    Account.objects.bulk_update(
        accounts, ["disabled_blocked_amount", "available_balance", "frozen_blocked_amount"]
    )
    customer.enabled = True
    customer.save(update_fields=["enabled"])


def _customer_create(fields: dict[str, Any]) -> Customer:
    customer = Customer(ledger_id=new_ledger_id(), accounting_currency=DEFAULT_ACCOUNTING_CURRENCY)
    _apply_fields(customer, fields)
    with transaction.atomic():
        customer.save()
    return customer


def _customer_upsert(fields: dict[str, Any]) -> Customer:
    """The customer with this external id, created if new, else updated with the given fields."""
    existing = Customer.objects.select_for_update().filter(external_id=fields["externalId"]).first()
    if existing is None:
        try:
            return _customer_create(fields)
        except IntegrityError:
            # Created by a concurrent request since the read above: update that one instead.
            existing = Customer.objects.select_for_update().get(external_id=fields["externalId"])
    changed = _apply_fields(existing, fields)
    existing.save(update_fields=changed)
    return existing


def _check_may_open_account(customer: Customer) -> None:
    if not customer.active:
        raise LedgerError(errors.CUSTOMER_NOT_ACTIVE)
    if not customer.enabled:
        raise LedgerError(errors.CUSTOMER_DISABLED, message=errors.DISABLED_CUSTOMER_ACCOUNT_MESSAGE)


@transaction.atomic
def account_create(
    *,
    currency: str,
    customer_fields: dict[str, Any] | None = None,
    accounting_currency: str | None = None,
    account_code: str | None = None,
    account_number: str | None = None,
) -> Account:
    """Opens an account, upserting its customer by external id (the only way customers are made)."""
    customer = _customer_upsert(customer_fields) if customer_fields else None
    if customer is not None:
        _check_may_open_account(customer)
    customer_currency = customer.accounting_currency if customer is not None else ""
    return Account.objects.create(
        ledger_id=new_ledger_id(),
        customer=customer,
        currency=currency,
        accounting_currency=accounting_currency or customer_currency or DEFAULT_ACCOUNTING_CURRENCY,
        account_code=account_code or "",
        account_number=account_number or "",
    )


def _locked_account(ledger_id: str) -> Account:
    account = Account.objects.select_for_update().filter(ledger_id=ledger_id).first()
    if account is None:
        raise LedgerError(errors.ACCOUNT_NOT_EXISTS)
    return account


@transaction.atomic
def account_deactivate(*, ledger_id: str) -> None:
    """Deactivates an active account with a zero balance: it leaves the customer's active accounts."""
    account = _locked_account(ledger_id)
    if not account.active:
        raise LedgerError(errors.ACCOUNT_INACTIVE)
    if not is_zero(account.account_balance):
        raise LedgerError(errors.ACCOUNT_BALANCE_NON_ZERO)
    account.active = False
    account.save(update_fields=["active"])


@transaction.atomic
def account_activate(*, ledger_id: str) -> None:
    """Activates an inactive account; its customer (if it has one) must be active."""
    account = _locked_account(ledger_id)
    if account.active:
        raise LedgerError(errors.ACCOUNT_ACTIVE)
    customer = Customer.objects.select_for_update().filter(pk=account.customer_id).first()
    if customer is not None and not customer.active:
        raise LedgerError(errors.ACCOUNT_CUSTOMER_INACTIVE)
    account.active = True
    account.save(update_fields=["active"])


@transaction.atomic
def account_freeze(*, ledger_id: str) -> None:
    """Freezes an active account: its whole available balance becomes an ACCOUNT_FROZEN blockage."""
    account = _locked_account(ledger_id)
    if not account.active:
        raise LedgerError(errors.ACCOUNT_INACTIVE)
    if account.frozen:
        raise LedgerError(errors.ACCOUNT_FROZEN)
    blocked = to_decimal(account.frozen_blocked_amount) + to_decimal(account.available_balance)
    account.frozen_blocked_amount = decimal_string(blocked)
    account.available_balance = "0"
    account.frozen = True
    account.save(update_fields=["frozen", "frozen_blocked_amount", "available_balance"])


def _account_customer_disabled(account: Account) -> bool:
    return account.customer_id is not None and not account.customer.enabled


@transaction.atomic
def account_unfreeze(*, ledger_id: str) -> None:
    """Removes the ACCOUNT_FROZEN blockage; an account that is not frozen stays as it is.

    While the customer is disabled the amount stays blocked, as the customer's disabled blockage.
    """
    account = _locked_account(ledger_id)
    if not account.frozen:
        return
    freed = to_decimal(account.frozen_blocked_amount)
    kept = "disabled_blocked_amount" if _account_customer_disabled(account) else "available_balance"
    setattr(account, kept, decimal_string(to_decimal(getattr(account, kept)) + freed))
    account.frozen_blocked_amount = "0"
    account.frozen = False
    account.save(update_fields=["frozen", "frozen_blocked_amount", kept])
