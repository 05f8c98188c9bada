"""Template filters for the dashboard's own pages (sign-in and the like)."""

from __future__ import annotations

from datetime import timedelta

from django import template

register = template.Library()

_UNITS = (("day", 86400), ("hour", 3600), ("minute", 60), ("second", 1))


@register.filter
def duration_words(duration: timedelta | None) -> str:
    """A duration in words, largest units first: "15 minutes", "1 hour 30 minutes"; "" when None."""
    if duration is None:
        return ""
    seconds = max(0, round(duration.total_seconds()))
    parts = []
    for name, size in _UNITS:
        count, seconds = divmod(seconds, size)
        if count:
            parts.append(f"{count} {name}{'' if count == 1 else 's'}")
    return " ".join(parts) or "a moment"
