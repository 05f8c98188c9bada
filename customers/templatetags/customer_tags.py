from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from django import template
from django.utils.html import format_html, format_html_join
from django.utils.safestring import mark_safe

from customers.tatum import reference

register = template.Library()


@register.filter
def currency_label(code: str | None) -> str:
    return reference.currency_label(code) if code else "Not set"


@register.filter
def country_label(code: str | None) -> str:
    return reference.country_label(code) if code else "Not set"


@register.filter
def clipped(text: str) -> str:
    """Text in a table cell cut to its width, whole in its tooltip: `{{ code|currency_label|clipped }}`."""
    return format_html('<span class="clip" title="{0}">{0}</span>', text)


# What the audit trail's change keys (Tatum's JSON names) are called on the page.
CHANGE_LABELS = {
    "externalId": "External id",
    "accountingCurrency": "Accounting currency",
    "customerCountry": "Customer country",
    "providerCountry": "Provider country",
    "active": "Active",
    "enabled": "Enabled",
    "account": "Account",
    "currency": "Currency",
    "accountBalance": "Balance",
    "availableBalance": "Available balance",
    "frozen": "Frozen",
    "case": "Case",
    "status": "Status",
    "assignee": "Assignee",
    "note": "Note",
}


@register.filter
def change_label(key: str) -> str:
    """An audit change's key in words ("accountBalance" is "Balance"); an unknown key as it is."""
    return CHANGE_LABELS.get(key, key)


@register.filter
def shown_changes(changes: dict[str, Any] | None) -> list[tuple[str, Any]]:
    """An audit entry's changes as its Change column shows them: the compliance case it is about is
    shown beside the action instead."""
    return [(key, value) for key, value in (changes or {}).items() if key != "case"]


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


@register.filter
def change_pair(value: Any) -> list[Any] | None:
    """An audit change's (before, after) pair; None for a value recorded as context (an account's
    currency beside the change of its state)."""
    return list(value) if isinstance(value, list | tuple) and len(value) == 2 else None


@register.filter
def utc_iso(moment: datetime | None) -> str:
    """A moment in ISO 8601, in UTC (for `<time datetime>`)."""
    return moment.astimezone(UTC).isoformat() if moment else ""


@register.filter
def utc_text(moment: datetime | None) -> str:
    """A moment as people read it in tables and exports, in UTC, to the second.

    Plain `strftime`: a table of 50 audit entries shows two of these per row, and Django's `date`
    filter costs several times as much each.
    """
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S") if moment else ""


_UNITS = (("day", 86400), ("hour", 3600), ("minute", 60), ("second", 1))


@register.filter
def duration_words(duration: timedelta | float | None) -> str:
    """A duration (or seconds) in words, its two largest units: "15 minutes", "1 hour 30 minutes";
    "" when None."""
    if duration is None:
        return ""
    seconds = duration.total_seconds() if isinstance(duration, timedelta) else duration
    remaining = max(0, round(seconds))
    parts = []
    for name, size in _UNITS:
        count, remaining = divmod(remaining, size)
        if count:
            parts.append(f"{count} {name}{'' if count == 1 else 's'}")
    return " ".join(parts[:2]) or "0 seconds"


@register.simple_tag
def select_options(field: Any) -> str:
    """A choice field's `<option>`s, the bound value selected, joined in one go: a country list has about
    250, and a template per option (the widget's) costs the customer list a third of its page time."""
    chosen = "" if field.value() is None else str(field.value())
    return format_html_join(
        "",
        '<option value="{}"{}>{}</option>',
        (
            (value, mark_safe(" selected") if str(value) == chosen else "", label)
            for value, label in field.field.choices
        ),
    )
