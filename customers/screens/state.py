"""Which state changes are possible for a customer, and what each one means, in words."""

from __future__ import annotations

from dataclasses import dataclass

from customers.screens.services import STATE_CHANGES
from customers.tatum import CREDIT_COSTS, Customer

REASON_REQUIRED = frozenset({"deactivate", "disable"})
# The customer is read again before the change (see `customer_state_change`).
STATE_CHANGE_CREDITS = CREDIT_COSTS["GET"] + CREDIT_COSTS["PUT"]


@dataclass(frozen=True)
class ActionOption:
    name: str
    label: str
    possible: bool
    why_not: str
    consequence: str
    reason_required: bool
    credits: int = STATE_CHANGE_CREDITS
    danger: bool = False


def action_options(customer: Customer, active_accounts: int | None) -> list[ActionOption]:
    return [_option(name, customer, active_accounts) for name in STATE_CHANGES]


def _option(name: str, customer: Customer, active_accounts: int | None) -> ActionOption:
    why_not = _why_not(name, customer)
    return ActionOption(
        name=name,
        label=name.capitalize(),
        possible=not why_not,
        why_not=why_not,
        consequence=_consequence(name, active_accounts),
        reason_required=name in REASON_REQUIRED,
        danger=name in REASON_REQUIRED,
    )


def _why_not(name: str, customer: Customer) -> str:
    if name == "activate":
        return "Already active." if customer.active else ""
    if not customer.active:
        return {
            "deactivate": "Already inactive.",
            "enable": "An inactive customer cannot be enabled or disabled. Activate it first.",
            "disable": "An inactive customer cannot be enabled or disabled. Activate it first.",
        }[name]
    if name == "enable" and customer.enabled:
        return "Already enabled."
    if name == "disable" and not customer.enabled:
        return "Already disabled."
    return ""


def _consequence(name: str, active_accounts: int | None) -> str:
    if name == "activate":
        return "The customer can be used again: enabled, disabled and given new accounts."
    if name == "enable":
        return (
            "The customer can make end-user operations again, and the available balance of every account "
            "is restored."
        )
    if name == "disable":
        return (
            "The customer can no longer create accounts or send transactions, and the available balance "
            "of every account is set to 0 (account balances are kept)."
        )
    return _deactivate_consequence(active_accounts)


def _deactivate_consequence(active_accounts: int | None) -> str:
    base = "An inactive customer can do nothing; it can only be activated again."
    if active_accounts is None:
        return (
            f"{base} Tatum refuses while any of the customer's accounts is active "
            "(the count could not be read)."
        )
    if active_accounts == 0:
        return f"{base} The customer has no active accounts, so Tatum should accept this."
    noun = "account is" if active_accounts == 1 else "accounts are"
    return (
        f"{base} {active_accounts} {noun} still active: Tatum will refuse until every account is "
        "deactivated (each needs a zero balance)."
    )
