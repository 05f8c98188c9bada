"""Tatum's business-rule errors (all answered with 403): the one place their codes and wording live."""

from __future__ import annotations

from typing import Final

CUSTOMER_NOT_EXISTS: Final = "customer.not.exists"
CUSTOMER_INTERNAL_NOT_EXISTS: Final = "customer.internal.not.exists"
CUSTOMER_ACTIVE: Final = "customer.active"
CUSTOMER_INACTIVE: Final = "customer.inactive"
CUSTOMER_DEACTIVATE_ACCOUNT_ACTIVE: Final = "customer.deactivate.account.active"
CUSTOMER_ENABLED: Final = "customer.enabled"
CUSTOMER_DISABLED: Final = "customer.disabled"
CUSTOMER_NOT_ACTIVE: Final = "customer.not.active"
CUSTOMER_EXTERNAL_ID_EXISTS: Final = "customer.external.id.exists"
ACCOUNT_NOT_EXISTS: Final = "account.not.exists"
ACCOUNT_BALANCE_NON_ZERO: Final = "account.balance.non.zero"
ACCOUNT_ACTIVE: Final = "account.active"
ACCOUNT_INACTIVE: Final = "account.inactive"
ACCOUNT_FROZEN: Final = "account.frozen"
ACCOUNT_CUSTOMER_INACTIVE: Final = "account.customer.inactive"

# `{id}` is replaced by the id from the request path (or body, for a clashing external id).
MESSAGES: Final[dict[str, str]] = {
    CUSTOMER_NOT_EXISTS: "No customer with given external ID {id} exists.",
    CUSTOMER_INTERNAL_NOT_EXISTS: "No such customer.",
    CUSTOMER_ACTIVE: "Unable to activate active customer.",
    CUSTOMER_INACTIVE: "Unable to perform operation on inactive customer.",
    CUSTOMER_DEACTIVATE_ACCOUNT_ACTIVE: "Unable to deactivate customer, accounts not deactivated.",
    CUSTOMER_ENABLED: "Unable to enable enabled customer.",
    CUSTOMER_DISABLED: "Unable to disable disabled customer.",
    # Not worded by the contract: written in the style of the ones above.
    CUSTOMER_NOT_ACTIVE: "Unable to create account for inactive customer.",
    CUSTOMER_EXTERNAL_ID_EXISTS: "Customer with given external ID {id} already exists.",
    ACCOUNT_NOT_EXISTS: "No such account.",
    ACCOUNT_BALANCE_NON_ZERO: "Unable to deactivate account with non-zero balance.",
    ACCOUNT_CUSTOMER_INACTIVE: "Unable to activate account, customer inactive.",
    # Not worded by the contract: written in the style of the ones above.
    ACCOUNT_ACTIVE: "Unable to activate active account.",
    ACCOUNT_INACTIVE: "Unable to perform operation on inactive account.",
    ACCOUNT_FROZEN: "Unable to freeze frozen account.",
}
# Creating an account for a disabled customer: the contract says it is refused, not with which code.
DISABLED_CUSTOMER_ACCOUNT_MESSAGE: Final = "Unable to create account for disabled customer."


class LedgerError(Exception):
    """A business rule refused the operation; the API answers 403 with this code and message."""

    def __init__(self, error_code: str, *, subject: str = "", message: str = "") -> None:
        self.error_code = error_code
        self.message = message or MESSAGES[error_code].format(id=subject)
        super().__init__(f"{error_code}: {self.message}")
