"""Forms of the customer screens: they validate input and never call Tatum."""

from __future__ import annotations

from django import forms

from customers.tatum import Customer, id_problem
from customers.tatum.reference import COUNTRY_CHOICES, CURRENCY_CHOICES

PAGE_SIZES = (10, 20, 50)
DEFAULT_PAGE_SIZE = 20
ID_MAX_LENGTH = 100


class CustomerListParams(forms.Form):
    size = forms.TypedChoiceField(choices=[(n, n) for n in PAGE_SIZES], coerce=int, required=False)
    page = forms.IntegerField(min_value=1, max_value=1_000_000, required=False)

    def page_size(self) -> int:
        return self.cleaned_data.get("size") or DEFAULT_PAGE_SIZE

    def page_number(self) -> int:
        return self.cleaned_data.get("page") or 1


class CustomerLookupForm(forms.Form):
    q = forms.CharField(
        label="External or internal id",
        max_length=ID_MAX_LENGTH,
        strip=True,
        error_messages={
            "required": "Enter a customer's external or internal id.",
            "max_length": "Ids are at most 100 characters long.",
        },
    )

    def clean_q(self) -> str:
        value = self.cleaned_data["q"]
        if id_problem(value):
            raise forms.ValidationError("That is not a valid customer id.")
        return value


def _blank_choice(label: str, choices: list[tuple[str, str]], current: str | None) -> list[tuple[str, str]]:
    """Choices for a field that can be set but never cleared: a blank only while it is unset."""
    options = list(choices)
    if current and current not in dict(options):
        # Tatum may hold a code outside the published list; show it so the form does not lie.
        options.insert(0, (current, f"{current}: (not in Tatum's published list)"))
    if not current:
        options.insert(0, ("", f"(not set: choose a {label})"))
    return options


class CustomerEditForm(forms.Form):
    external_id = forms.CharField(
        label="External id",
        min_length=1,
        max_length=ID_MAX_LENGTH,
        strip=False,
        help_text="Your anonymised id for the customer, 1 to 100 characters.",
    )
    accounting_currency = forms.ChoiceField(label="Accounting currency", required=False)
    customer_country = forms.ChoiceField(label="Customer country", required=False)
    provider_country = forms.ChoiceField(label="Provider country", required=False)
    fingerprint = forms.CharField(widget=forms.HiddenInput, max_length=64)

    def __init__(self, *args, customer: Customer, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.customer = customer
        self.fields["accounting_currency"].choices = _blank_choice(
            "currency", CURRENCY_CHOICES, customer.accounting_currency
        )
        self.fields["customer_country"].choices = _blank_choice(
            "country", COUNTRY_CHOICES, customer.customer_country
        )
        self.fields["provider_country"].choices = _blank_choice(
            "country", COUNTRY_CHOICES, customer.provider_country
        )

    def clean_external_id(self) -> str:
        value = self.cleaned_data["external_id"]
        if not value.strip():
            raise forms.ValidationError("The external id cannot be blank.")
        return value

    def cleaned_values(self) -> dict[str, str | None]:
        data = self.cleaned_data
        return {
            "external_id": data["external_id"],
            "accounting_currency": data["accounting_currency"] or None,
            "customer_country": data["customer_country"] or None,
            "provider_country": data["provider_country"] or None,
        }


class StateChangeForm(forms.Form):
    """What a state change takes from the browser: the reason, and how many active accounts the page
    showed. The count only words the status area shown after the change; it never reaches a service."""

    reason = forms.CharField(
        label="Reason",
        required=False,
        max_length=1000,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text="Recorded in the audit trail.",
    )
    active_accounts = forms.IntegerField(required=False, min_value=0, max_value=1_000_000)

    def __init__(self, *args, reason_required: bool, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["reason"].required = reason_required
        if reason_required:
            self.fields["reason"].error_messages["required"] = "Give a reason: it goes into the audit trail."

    def clean_reason(self) -> str:
        reason = self.cleaned_data["reason"].strip()
        if self.fields["reason"].required and not reason:
            raise forms.ValidationError("Give a reason: it goes into the audit trail.")
        return reason
