"""The export request form."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django import forms

from customers.exports.filters import ExportFilter
from customers.exports.models import ExportJob
from customers.exports.selectors import ExportEstimate, export_as_of_text
from customers.tatum.reference import COUNTRY_CHOICES

Source = ExportJob.Source

_TRISTATE = {"": None, "yes": True, "no": False}
_FILTER_FIELDS = ("active", "enabled", "customer_country", "compliance_gap")


class _SourceSelect(forms.RadioSelect):
    """Radio buttons of which some may be shown but not chosen (the index, before its first sync)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.disabled_values: set[str] = set()

    def create_option(self, *args: Any, **kwargs: Any) -> dict[str, Any]:
        option = super().create_option(*args, **kwargs)
        if option["value"] in self.disabled_values:
            option["attrs"]["disabled"] = True
        return option


def _live_label(estimate: ExportEstimate | None) -> str:
    if estimate is None or estimate.credits is None:
        per_page = f"{ExportEstimate.credits_per_page} credit per {ExportEstimate.page_size} customers"
        return f"Live from Tatum ({per_page}, the total is known after the first export)"
    return f"Live from Tatum ({estimate.credits:,} credits, takes about {estimate.duration})"


def _index_label(as_of: datetime | None) -> str:
    if as_of is None:
        return "The customer index (not available: it has never been synced)"
    return f"The customer index (free, instant, as of {export_as_of_text(as_of)})"


class ExportRequestForm(forms.Form):
    """What to export, and from where. The filters apply only with the "matching" scope, and then at
    least one must. The index can be chosen only once it has been synced (`index_as_of`)."""

    source = forms.ChoiceField(
        label="Source", required=False, choices=Source.choices, widget=_SourceSelect, initial=Source.LIVE
    )
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

    def __init__(
        self,
        *args: Any,
        index_as_of: datetime | None = None,
        estimate: ExportEstimate | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        self.index_as_of = index_as_of
        field = self.fields["source"]
        field.choices = [(Source.INDEX, _index_label(index_as_of)), (Source.LIVE, _live_label(estimate))]
        if index_as_of is None:
            field.widget.disabled_values = {Source.INDEX}
        else:
            # Free and instant: the better choice whenever the index has been synced.
            field.initial = Source.INDEX

    def clean_source(self) -> str:
        # A form posted without a source (an older page, a script) exports live, as exports always did.
        source = self.cleaned_data.get("source") or Source.LIVE
        if source == Source.INDEX and self.index_as_of is None:
            raise forms.ValidationError(
                "The customer index has never been synced, so it cannot be exported yet. Export live "
                "from Tatum, or sync the index first."
            )
        return source

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
