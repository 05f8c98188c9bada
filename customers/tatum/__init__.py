"""The Tatum client: the only code that speaks HTTP to Tatum (or to the sandbox, which answers alike).

It imports nothing of Django or of the rest of the app: typed values in, typed values or a
`TatumError` out, and each call reported to a callback that the app records (`customers.credits`).
"""

from customers.tatum.client import (
    CREDIT_COSTS,
    MAX_PAGE_SIZE,
    OFFSET_MODES,
    TatumClient,
    external_id_problem,
    id_problem,
    looks_internal,
    new_session,
)
from customers.tatum.errors import (
    TatumAuthError,
    TatumError,
    TatumInvalidInput,
    TatumNotFound,
    TatumOutcomeUnknown,
    TatumProtocolError,
    TatumRateLimited,
    TatumRuleError,
    TatumServerError,
    TatumUnavailable,
    TatumValidationError,
)
from customers.tatum.ratelimit import RateLimiter
from customers.tatum.text import has_control_characters, tatum_length
from customers.tatum.values import (
    CUSTOMER_JSON_NAMES,
    Account,
    Balance,
    CallRecord,
    Customer,
    PlanVersion,
    UsageDay,
)

__all__ = [
    "CREDIT_COSTS",
    "CUSTOMER_JSON_NAMES",
    "MAX_PAGE_SIZE",
    "OFFSET_MODES",
    "Account",
    "Balance",
    "CallRecord",
    "Customer",
    "PlanVersion",
    "RateLimiter",
    "TatumAuthError",
    "TatumClient",
    "TatumError",
    "TatumInvalidInput",
    "TatumNotFound",
    "TatumOutcomeUnknown",
    "TatumProtocolError",
    "TatumRateLimited",
    "TatumRuleError",
    "TatumServerError",
    "TatumUnavailable",
    "TatumValidationError",
    "UsageDay",
    "external_id_problem",
    "has_control_characters",
    "id_problem",
    "looks_internal",
    "new_session",
    "tatum_length",
]
