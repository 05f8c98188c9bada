"""Which state changes are possible for a customer and its accounts, and what each one means, in
words."""

from __future__ import annotations

from dataclasses import dataclass

from customers.screens.selectors import InactiveAccount
from customers.screens.services import STATE_CHANGES
from customers.tatum import CREDIT_COSTS, Account, Customer

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
    # Deactivating is impossible only because accounts are active: the guided job can clear the way.
    blocked_by_accounts: bool = False


def action_options(customer: Customer, active_accounts: int | None) -> list[ActionOption]:
    return [_option(name, customer, active_accounts) for name in STATE_CHANGES]


def _option(name: str, customer: Customer, active_accounts: int | None) -> ActionOption:
    why_not = _why_not(name, customer)
    blocked = not why_not and name == "deactivate" and bool(active_accounts)
    if blocked:
        noun = "account is" if active_accounts == 1 else "accounts are"
        why_not = (
            f"{active_accounts} {noun} still active: Tatum refuses to deactivate the customer until every "
            "account is deactivated."
        )
    return ActionOption(
        name=name,
        label=name.capitalize(),
        possible=not why_not,
        why_not=why_not,
        consequence=_consequence(name, active_accounts),
        reason_required=name in REASON_REQUIRED,
        danger=name in REASON_REQUIRED,
        blocked_by_accounts=blocked,
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


# --- Account actions ------------------------------------------------------------------------------

ACCOUNT_REASON_REQUIRED = frozenset({"deactivate", "freeze"})
# The customer and its accounts are read again before the change (see `account_state_change`).
ACCOUNT_ACTION_CREDITS = CREDIT_COSTS["GET"] * 2 + CREDIT_COSTS["PUT"]
# Activating reads the accounts once more afterwards: Tatum lists the account again.
ACCOUNT_ACTIVATE_CREDITS = ACCOUNT_ACTION_CREDITS + CREDIT_COSTS["GET"]
# The guided deactivation reads the customer and its accounts once, then deactivates each account.
ACCOUNTS_READ_CREDITS = CREDIT_COSTS["GET"] * 2
ACCOUNT_DEACTIVATE_CREDITS = CREDIT_COSTS["PUT"]

_ACCOUNT_CONSEQUENCES = {
    "deactivate": (
        "The account leaves the customer's active accounts and can make no transfers; its history is "
        "kept. It can be activated again from this page."
    ),
    "freeze": (
        "Every outgoing transaction of the account is blocked, and its available balance is set to 0 "
        "(the account balance is kept) until it is unfrozen."
    ),
    "unfreeze": "Outgoing transactions are allowed again, and the available balance is restored.",
    "activate": "The account is usable again and is listed among the customer's active accounts.",
}


@dataclass(frozen=True)
class AccountOption(ActionOption):
    """An action on one account; `account_id` names it."""

    account_id: str = ""


def account_options(account: Account) -> list[AccountOption]:
    """The actions on an active account: freeze or unfreeze, and deactivate."""
    toggle = "unfreeze" if account.frozen else "freeze"
    balance = account.balance.account_balance
    holds = f"Holds a balance of {balance} {account.currency}: move it out first." if balance else ""
    return [_account_option(toggle, account.id), _account_option("deactivate", account.id, why_not=holds)]


def inactive_account_options(customer: Customer, account: InactiveAccount) -> list[AccountOption]:
    """Activate, for an account this dashboard deactivated; only an active customer's."""
    why_not = "" if customer.active else "The customer is inactive: activate the customer first."
    return [_account_option("activate", account.id, why_not=why_not, credits=ACCOUNT_ACTIVATE_CREDITS)]


def _account_option(
    name: str, account_id: str, *, why_not: str = "", credits: int = ACCOUNT_ACTION_CREDITS
) -> AccountOption:
    return AccountOption(
        name=name,
        label=name.capitalize(),
        possible=not why_not,
        why_not=why_not,
        consequence=_ACCOUNT_CONSEQUENCES[name],
        reason_required=name in ACCOUNT_REASON_REQUIRED,
        credits=credits,
        danger=name == "deactivate",
        account_id=account_id,
    )


@dataclass(frozen=True)
class DeactivationGuide:
    """What stands between an active customer and its deactivation: its active accounts, split into
    those this page can deactivate (zero balance) and those it cannot (a balance to move out first)."""

    zero_balance: list[Account]
    with_balance: list[Account]

    @property
    def credits(self) -> int:
        return ACCOUNTS_READ_CREDITS + ACCOUNT_DEACTIVATE_CREDITS * len(self.zero_balance)

    @property
    def blocking(self) -> list[Account]:
        return self.zero_balance + self.with_balance


def deactivation_guide(accounts: list[Account]) -> DeactivationGuide:
    return DeactivationGuide(
        zero_balance=[a for a in accounts if not a.balance.account_balance],
        with_balance=[a for a in accounts if a.balance.account_balance],
    )
