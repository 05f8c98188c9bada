"""Balances travel and rest as decimal strings ("0", "12.5"): exact, as Tatum returns them."""

from __future__ import annotations

from decimal import Decimal


def to_decimal(text: str) -> Decimal:
    return Decimal(text or "0")


def decimal_string(value: Decimal) -> str:
    """The canonical text of an amount: no exponent, no trailing zeros, "0" for zero."""
    if value.is_zero():
        return "0"
    text = format(value, "f")
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return text


def is_zero(text: str) -> bool:
    return to_decimal(text).is_zero()
