from __future__ import annotations

from typing import Any

from django import template

from customers import reference

register = template.Library()


@register.filter
def currency_label(code: str | None) -> str:
    return reference.currency_label(code) if code else "Not set"


@register.filter
def country_label(code: str | None) -> str:
    return reference.country_label(code) if code else "Not set"


@register.filter
def display_value(value: Any) -> str:
    """An audit before/after value in words."""
    if value is None or value == "":
        return "(not set)"
    if value is True:
        return "yes"
    if value is False:
        return "no"
    return str(value)
