"""The credit usage page's period, read from the query string."""

from __future__ import annotations

from collections.abc import Mapping

from django import forms

from customers.usage.selectors import DEFAULT_PERIOD_DAYS, PERIOD_DAYS

_CHOOSE = f"Choose a period of {', '.join(str(days) for days in PERIOD_DAYS[:-1])} or {PERIOD_DAYS[-1]} days."


class UsagePeriodForm(forms.Form):
    """How many days, up to today, the page covers."""

    days = forms.TypedChoiceField(
        label="Period",
        # The empty choice is what the list shows for a period it does not offer (an edited address).
        choices=[("", "Choose a period"), *((days, f"Last {days} days") for days in PERIOD_DAYS)],
        coerce=int,
        error_messages={"required": _CHOOSE, "invalid_choice": _CHOOSE},
    )

    @classmethod
    def from_query(cls, query: Mapping[str, str]) -> UsagePeriodForm:
        """The form bound to the query string, with the default period when it names none."""
        return cls({"days": query.get("days", DEFAULT_PERIOD_DAYS)})
