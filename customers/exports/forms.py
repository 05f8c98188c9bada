"""The export request form."""

from __future__ import annotations

from typing import Any

from django import forms

from customers.exports.filters import ExportFilter
from customers.tatum.reference import COUNTRY_CHOICES

_TRISTATE = {"": None, "yes": True, "no": False}
_FILTER_FIELDS = ("active", "enabled", "customer_country", "compliance_gap")


class ExportRequestForm(forms.Form):
    """What to export. The filters apply only with the "matching" scope, and then at least one must."""

    scope = forms.ChoiceField(
        label="Customers",
        choices=[("all", "All customers"), ("filtered", "Only customers matching the filters below")],
        widget=forms.RadioSelect,
        initial="all",
    )
    active = forms.ChoiceField(
        label="Active", required=False, choices=[("", "Any"), ("yes", "Active only"), ("no", "Inactive only")]
    )
    enabled = forms.ChoiceField(
        label="Enabled",
        required=False,
        choices=[("", "Any"), ("yes", "Enabled only"), ("no", "Disabled only")],
    )
    customer_country = forms.ChoiceField(
        label="Customer country", required=False, choices=[("", "Any country"), *COUNTRY_CHOICES]
    )
    compliance_gap = forms.ChoiceField(
        label="Compliance",
        required=False,
        choices=[("", "Any"), ("yes", "Missing a country (compliance gap)"), ("no", "Both countries set")],
    )

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        chosen = any(data.get(name) for name in _FILTER_FIELDS)
        if data.get("scope") == "filtered" and not chosen:
            raise forms.ValidationError("Choose at least one filter, or export all customers.")
        if data.get("scope") == "all" and chosen:
            raise forms.ValidationError(
                "You chose filters but asked for all customers: choose “Only customers matching” or "
                "set the filters back to Any."
            )
        return data

    def export_filter(self) -> ExportFilter:
        data = self.cleaned_data
        if data.get("scope") == "all":
            return ExportFilter()
        return ExportFilter(
            active=_TRISTATE[data.get("active") or ""],
            enabled=_TRISTATE[data.get("enabled") or ""],
            customer_country=data.get("customer_country") or None,
            compliance_gap=_TRISTATE[data.get("compliance_gap") or ""],
        )
