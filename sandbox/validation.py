"""Request validation that answers like Tatum's (NestJS + class-validator) `validation.failed` 400.

Each failed field gives one item: `target` (the validated object), `property`, `value` (left out when
the field is missing, as JSON.stringify drops `undefined`) and `constraints` (rule name -> sentence).
The checks follow JavaScript's semantics, since that is what the real service runs: a query value is
converted with `Number()`, "is an integer" means a finite whole number, and so on.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from django.http import QueryDict

from sandbox.reference import COUNTRIES, CURRENCIES


class _Missing:
    """JavaScript's `undefined`: a field that is not there at all."""

    def __repr__(self) -> str:
        return "MISSING"


MISSING: Any = _Missing()

# A rule looks at (property, value) and returns (constraint name, sentence) when the value fails.
Rule = Callable[[str, Any], tuple[str, str] | None]

_JS_DECIMAL = re.compile(r"^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$")
_JS_PREFIXED_INT = re.compile(r"^0([xX][0-9a-fA-F]+|[oO][0-7]+|[bB][01]+)$")
_PRESENTATION_SELECTORS = ("\ufe0f", "\ufe0e")


@dataclass(frozen=True)
class Field:
    rules: tuple[Rule, ...]
    optional: bool = False


@dataclass
class Schema:
    fields: dict[str, Field] = field(default_factory=dict)

    def validate(self, target: Mapping[str, Any], prefix: str = "") -> list[dict[str, Any]]:
        items = []
        for name, spec in self.fields.items():
            value = target.get(name, MISSING)
            if spec.optional and (value is MISSING or value is None):
                continue
            constraints = dict(rule_result for rule in spec.rules if (rule_result := rule(name, value)))
            if constraints:
                items.append(validation_item(target, prefix + name, value, constraints))
        return items


def validation_item(target: Any, prop: str, value: Any, constraints: dict[str, str]) -> dict[str, Any]:
    item: dict[str, Any] = {"target": _json_safe(target)}
    if value is not MISSING:
        item["value"] = _json_safe(value)
    item["property"] = prop
    item["constraints"] = constraints
    return item


def _json_safe(value: Any) -> Any:
    """NaN and the infinities become null, as JSON.stringify writes them."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {key: _json_safe(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_json_safe(item) for item in value]
    return value


# --- JavaScript semantics ---------------------------------------------------------------------


def js_number(text: str) -> int | float:
    """JavaScript's `Number(text)` for a query-string value (NaN when it is not a number)."""
    stripped = text.strip()
    if not stripped:
        return 0
    if _JS_DECIMAL.match(stripped):
        number = float(stripped)
        return int(number) if number.is_integer() and abs(number) < 2**53 else number
    if _JS_PREFIXED_INT.match(stripped):
        return int(stripped, 0)
    if stripped.lstrip("+-") == "Infinity":
        return -math.inf if stripped.startswith("-") else math.inf
    return math.nan


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _js_falsy(value: Any) -> bool:
    if value is MISSING or value is None or value is False or value == "":
        return True
    return _is_number(value) and (value == 0 or math.isnan(value))


def _js_length(value: Any) -> int | None:
    """`value.length`: UTF-16 code units for a string, items for an array, else undefined."""
    if isinstance(value, str):
        return len(value.encode("utf-16-le")) // 2
    if isinstance(value, list):
        return len(value)
    return None


def _text_length(value: str) -> int:
    """validator.js's isLength count: code points, not counting emoji presentation selectors."""
    return len(value) - sum(value.count(selector) for selector in _PRESENTATION_SELECTORS)


# --- Rules (named and worded as class-validator names and words them) ---------------------------


def length(minimum: int, maximum: int) -> Rule:
    def rule(prop: str, value: Any) -> tuple[str, str] | None:
        if isinstance(value, str) and minimum <= _text_length(value) <= maximum:
            return None
        size = _js_length(value)
        if _js_falsy(value) or (size is not None and size < minimum):
            return "isLength", f"{prop} must be longer than or equal to {minimum} characters"
        if size is not None and size > maximum:
            return "isLength", f"{prop} must be shorter than or equal to {maximum} characters"
        sentence = f"longer than or equal to {minimum} and shorter than or equal to {maximum} characters"
        return "isLength", f"{prop} must be {sentence}"

    return rule


def min_length(minimum: int) -> Rule:
    def rule(prop: str, value: Any) -> tuple[str, str] | None:
        if isinstance(value, str) and _text_length(value) >= minimum:
            return None
        return "minLength", f"{prop} must be longer than or equal to {minimum} characters"

    return rule


def max_length(maximum: int) -> Rule:
    def rule(prop: str, value: Any) -> tuple[str, str] | None:
        if isinstance(value, str) and _text_length(value) <= maximum:
            return None
        return "maxLength", f"{prop} must be shorter than or equal to {maximum} characters"

    return rule


def is_in(allowed: Iterable[str]) -> Rule:
    allowed = tuple(allowed)
    allowed_set = frozenset(allowed)
    listing = ", ".join(allowed)

    def rule(prop: str, value: Any) -> tuple[str, str] | None:
        if isinstance(value, str) and value in allowed_set:
            return None
        return "isIn", f"{prop} must be one of the following values: {listing}"

    return rule


def is_int(prop: str, value: Any) -> tuple[str, str] | None:
    if _is_number(value) and math.isfinite(value) and float(value).is_integer():
        return None
    return "isInt", f"{prop} must be an integer number"


def min_value(minimum: int) -> Rule:
    def rule(prop: str, value: Any) -> tuple[str, str] | None:
        if _is_number(value) and value >= minimum:
            return None
        return "min", f"{prop} must not be less than {minimum}"

    return rule


def max_value(maximum: int) -> Rule:
    def rule(prop: str, value: Any) -> tuple[str, str] | None:
        if _is_number(value) and value <= maximum:
            return None
        return "max", f"{prop} must not be greater than {maximum}"

    return rule


def is_boolean(prop: str, value: Any) -> tuple[str, str] | None:
    if isinstance(value, bool):
        return None
    return "isBoolean", f"{prop} must be a boolean value"


def is_not_empty(prop: str, value: Any) -> tuple[str, str] | None:
    if value is not MISSING and value is not None and value != "":
        return None
    return "isNotEmpty", f"{prop} should not be empty"


def is_nested_object(prop: str, value: Any) -> tuple[str, str] | None:
    if isinstance(value, dict):
        return None
    return "nestedValidation", f"nested property {prop} must be either object or array"


# --- The request shapes of the endpoints ----------------------------------------------------------

PAGING_QUERY = Schema(
    {
        "pageSize": Field((is_int, min_value(1), max_value(50))),
        "offset": Field((is_int, min_value(0)), optional=True),
    }
)
LOOKUP_ID = Schema({"id": Field((min_length(1), max_length(100)))})
INTERNAL_ID = Schema({"id": Field((min_length(10), max_length(50)))})
CUSTOMER_UPDATE = Schema(
    {
        "externalId": Field((length(1, 100),)),
        "accountingCurrency": Field((is_in(CURRENCIES),), optional=True),
        "customerCountry": Field((length(2, 2), is_in(COUNTRIES)), optional=True),
        "providerCountry": Field((length(2, 2), is_in(COUNTRIES)), optional=True),
    }
)
ACCOUNT_CREATE = Schema(
    {
        "currency": Field((is_not_empty, length(2, 40))),
        "customer": Field((is_nested_object,), optional=True),
        "compliant": Field((is_boolean,), optional=True),
        "accountingCurrency": Field((is_in(CURRENCIES),), optional=True),
        "accountCode": Field((length(1, 50),), optional=True),
        "accountNumber": Field((length(1, 50),), optional=True),
    }
)
# The nested `customer` of an account: the same rules as the customer update.
CUSTOMER_REGISTRATION = CUSTOMER_UPDATE


def paging_query(params: QueryDict) -> dict[str, Any]:
    """The query object the service validates: present parameters converted with `Number()`."""
    query: dict[str, Any] = {}
    for name in ("pageSize", "offset"):
        values = params.getlist(name)
        if values:
            # A repeated parameter arrives as an array, which Number() turns into NaN.
            query[name] = js_number(values[0]) if len(values) == 1 else math.nan
    return query


def account_create_errors(body: Mapping[str, Any]) -> list[dict[str, Any]]:
    items = ACCOUNT_CREATE.validate(body)
    customer = body.get("customer")
    if isinstance(customer, dict):
        items += CUSTOMER_REGISTRATION.validate(customer, prefix="customer.")
    return items
