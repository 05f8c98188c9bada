"""The audit log's filter form."""

from __future__ import annotations

from typing import Any

from django import forms

from customers.audit.models import AuditEntry
from customers.audit.selectors import AuditFilters

Action = AuditEntry.Action
Outcome = AuditEntry.Outcome


class AuditLogFilterForm(forms.Form):
    """The audit log's filters, read from the query string; every field is optional."""

    actor = forms.CharField(
        label="Who (username)",
        max_length=150,
        required=False,
        strip=True,
        # The log's search box: "/" focuses it (static/js/dashboard.js).
        widget=forms.TextInput(
            attrs={"list": "audit-actor-suggestions", "autocomplete": "off", "aria-keyshortcuts": "/"}
        ),
    )
    action = forms.ChoiceField(label="Action", choices=[("", "Any action"), *Action.choices], required=False)
    outcome = forms.ChoiceField(
        label="Outcome", choices=[("", "Any outcome"), *Outcome.choices], required=False
    )
    customer = forms.CharField(
        label="Customer (external or internal id)",
        max_length=100,
        required=False,
        strip=True,
        error_messages={"max_length": "Customer ids are at most 100 characters long."},
    )
    date_from = forms.DateField(
        label="From (UTC)",
        required=False,
        input_formats=["%Y-%m-%d"],
        widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d"),
        error_messages={"invalid": "Enter the date as YYYY-MM-DD, for example 2024-05-31."},
    )
    date_to = forms.DateField(
        label="To (UTC, inclusive)",
        required=False,
        input_formats=["%Y-%m-%d"],
        widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d"),
        error_messages={"invalid": "Enter the date as YYYY-MM-DD, for example 2024-05-31."},
    )

    def clean_customer(self) -> str:
        value = self.cleaned_data["customer"]
        if any(ord(ch) < 32 or ord(ch) == 127 for ch in value):
            raise forms.ValidationError("That is not a valid customer id.")
        return value

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        start, end = data.get("date_from"), data.get("date_to")
        if start and end and start > end:
            self.add_error("date_to", "The 'to' date is before the 'from' date.")
        return data

    def filters(self) -> AuditFilters:
        return AuditFilters(**{name: self.cleaned_data.get(name) or None for name in AuditFilters.NAMES})
