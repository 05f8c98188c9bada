"""Plain-language messages for every Tatum error: the one place the wording lives."""

from __future__ import annotations

from dataclasses import dataclass

from customers.tatum import (
    TatumAuthError,
    TatumError,
    TatumInvalidInput,
    TatumNotFound,
    TatumOutcomeUnknown,
    TatumProtocolError,
    TatumRateLimited,
    TatumServerError,
    TatumUnavailable,
    TatumValidationError,
)


@dataclass(frozen=True)
class UserMessage:
    title: str
    next_step: str
    # "upstream" problems get their own banner: Tatum unreachable, bad key, rate limited.
    banner: str = ""
    level: str = "error"

    def __str__(self) -> str:
        return f"{self.title} {self.next_step}"


ERROR_CODE_MESSAGES: dict[str, UserMessage] = {
    "customer.not.exists": UserMessage(
        "No customer has that id.", "Check the external or internal id and try again."
    ),
    "customer.internal.not.exists": UserMessage(
        "Tatum no longer knows this customer.", "Search for the customer again from the customer list."
    ),
    "customer.active": UserMessage(
        "The customer is already active.",
        "Nothing was changed; the page now shows the current state.",
        level="info",
    ),
    "customer.inactive": UserMessage(
        "The customer is inactive, so this is not possible.",
        "An inactive customer cannot be enabled, disabled or deactivated. Activate the customer first.",
    ),
    "customer.deactivate.account.active": UserMessage(
        "The customer still has active accounts.",
        "Deactivate the customer's accounts first (each needs a zero balance), then deactivate the customer.",
    ),
    "customer.enabled": UserMessage(
        "The customer is already enabled.",
        "Nothing was changed; the page now shows the current state.",
        level="info",
    ),
    "customer.disabled": UserMessage(
        "The customer is already disabled.",
        "Nothing was changed; the page now shows the current state.",
        level="info",
    ),
    "customer.not.active": UserMessage(
        "The customer is inactive.", "Activate the customer before creating accounts for it."
    ),
    "validation.failed": UserMessage(
        "Tatum rejected some of the values.", "Correct the fields marked below and save again."
    ),
    "customer.external.id.exists": UserMessage(
        "Another customer already has that external id.",
        "Choose a different external id and save again; nothing was changed.",
    ),
    "subscription.invalid": UserMessage(
        "Tatum does not accept the dashboard's API key.",
        "An administrator must set a valid TATUM_API_KEY. Nothing was changed.",
        banner="auth",
    ),
    "subscription.not.active": UserMessage(
        "The Tatum subscription is no longer active.",
        "An administrator must renew the plan or set another TATUM_API_KEY. Nothing was changed.",
        banner="auth",
    ),
    "ip-address-key.unauthorized": UserMessage(
        "Tatum refused the request: no valid API key was sent.",
        "An administrator must set TATUM_API_KEY. Nothing was changed.",
        banner="auth",
    ),
    "account.balance.non.zero": UserMessage(
        "The account still holds a balance.", "Move the balance out of the account before deactivating it."
    ),
    "account.not.exists": UserMessage(
        "Tatum does not know that account.", "Reload the customer and try again."
    ),
    "account.inactive": UserMessage(
        "The account is not active.",
        "An inactive account cannot be frozen or deactivated. Reload the customer to see its accounts.",
    ),
    "account.active": UserMessage(
        "The account is already active.",
        "Nothing was changed; the page now shows the current accounts.",
        level="info",
    ),
    "account.frozen": UserMessage(
        "The account is already frozen.",
        "Nothing was changed; the page now shows the current accounts.",
        level="info",
    ),
    "account.customer.inactive": UserMessage(
        "The customer is inactive, so its accounts cannot be activated.", "Activate the customer first."
    ),
    "circuit.open": UserMessage(
        "Changes are paused because Tatum has been failing.",
        "Nothing was sent. Changes resume by themselves once Tatum answers again; try again in a minute.",
        banner="unavailable",
    ),
}

ALREADY_IN_STATE_CODES = frozenset({"customer.active", "customer.enabled", "customer.disabled"})

_UNAVAILABLE = UserMessage(
    "Tatum cannot be reached right now.",
    "Nothing was changed. Wait a moment and try again.",
    banner="unavailable",
)
_OUTCOME_UNKNOWN = UserMessage(
    "Tatum did not answer in time, so we do not know whether the change happened.",
    "Use Verify to read the customer once and settle it. Do not repeat the change blindly.",
    level="warning",
)
_RATE_LIMITED = UserMessage(
    "Tatum is rate limiting the dashboard.",
    "Too many requests reached Tatum at once. Wait a few seconds and try again.",
    banner="rate_limited",
)
_SERVER = UserMessage(
    "Tatum had an internal error.",
    "Nothing is known to have changed. Try again in a minute.",
    banner="unavailable",
)
_PROTOCOL = UserMessage(
    "Tatum sent an answer the dashboard cannot read.",
    "Try again; if it keeps happening, report it with the request id below.",
    banner="unavailable",
)
_GENERIC = UserMessage("Tatum refused the request.", "Check the details and try again.")


def message_for(error: TatumError) -> UserMessage:
    """The message and next step to show a user for any Tatum error."""
    if error.error_code in ERROR_CODE_MESSAGES:
        return ERROR_CODE_MESSAGES[error.error_code]
    for error_class, message in _BY_CLASS:
        if isinstance(error, error_class):
            return message
    return _GENERIC


_BY_CLASS: list[tuple[type[TatumError], UserMessage]] = [
    (TatumInvalidInput, UserMessage("That value is not valid.", "Correct it and try again.")),
    (TatumOutcomeUnknown, _OUTCOME_UNKNOWN),
    (TatumUnavailable, _UNAVAILABLE),
    (TatumRateLimited, _RATE_LIMITED),
    (TatumServerError, _SERVER),
    (TatumProtocolError, _PROTOCOL),
    (
        TatumAuthError,
        UserMessage(
            "Tatum does not accept the dashboard's API key.",
            "An administrator must set a valid TATUM_API_KEY.",
            banner="auth",
        ),
    ),
    (TatumNotFound, ERROR_CODE_MESSAGES["customer.internal.not.exists"]),
    (TatumValidationError, ERROR_CODE_MESSAGES["validation.failed"]),
]
