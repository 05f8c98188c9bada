"""Forms of the customer screens: they validate input and never call Tatum."""

from __future__ import annotations

from collections.abc import Callable

from django import forms

from customers.tatum import Customer, external_id_problem, id_problem, tatum_length
from customers.tatum.reference import COUNTRY_CHOICES, CURRENCY_CHOICES, country_label, currency_label

PAGE_SIZES = (10, 20, 50)
DEFAULT_PAGE_SIZE = 20
ID_MAX_LENGTH = 100
# Browsers count an input's `maxlength` in UTF-16 units (an emoji is 2, with its presentation selector
# 3), Tatum counts characters (`tatum_length`): leave room for any id Tatum accepts; the form checks it.
ID_INPUT_MAXLENGTH = 3 * ID_MAX_LENGTH


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
        strip=True,
        widget=forms.TextInput(attrs={"maxlength": ID_INPUT_MAXLENGTH}),
        error_messages={"required": "Enter a customer's external or internal id."},
    )

    def clean_q(self) -> str:
        value = self.cleaned_data["q"]
        if tatum_length(value) > ID_MAX_LENGTH:
            raise forms.ValidationError(f"Ids are at most {ID_MAX_LENGTH} characters long.")
        if id_problem(value):
            raise forms.ValidationError("That is not a valid customer id.")
        return value


def code_choices(
    label: str, choices: list[tuple[str, str]], current: str | None, named: Callable[[str], str]
) -> list[tuple[str, str]]:
    """Choices for a code that can be set but never cleared. The blank choice sends nothing, so keeps
    the code as it is: it is offered while the code is unset, or is one outside Tatum's published list
    (which Tatum may hold, and which the form then shows, named as everywhere else, rather than lie)."""
    if current in dict(choices):
        return list(choices)
    keep = (
        f"{named(current)}: not in Tatum's published list, kept as it is"
        if current
        else f"(not set: choose a {label})"
    )
    return [("", keep), *choices]


# Each code field: its kind (in the blank choice's words), its choices, and how a code is named.
_CODE_FIELDS = (
    ("accounting_currency", "currency", CURRENCY_CHOICES, currency_label),
    ("customer_country", "country", COUNTRY_CHOICES, country_label),
    ("provider_country", "country", COUNTRY_CHOICES, country_label),
)


class CustomerEditForm(forms.Form):
    external_id = forms.CharField(
        label="External id",
        strip=False,
        # Its length is Tatum's (`clean_external_id`), not Django's count of code points.
        widget=forms.TextInput(attrs={"maxlength": ID_INPUT_MAXLENGTH}),
        help_text="Your anonymised id for the customer, 1 to 100 characters.",
    )
    accounting_currency = forms.ChoiceField(label="Accounting currency", required=False)
    customer_country = forms.ChoiceField(label="Customer country", required=False)
    provider_country = forms.ChoiceField(label="Provider country", required=False)
    fingerprint = forms.CharField(widget=forms.HiddenInput, max_length=64)

    def __init__(self, *args, customer: Customer | None = None, **kwargs) -> None:
        """`customer` is the customer as the form shows it; a posted form is checked without it (a
        blank code keeps the customer's, whatever it is), so saving needs no read of its own."""
        super().__init__(*args, **kwargs)
        for name, _, choices, _ in _CODE_FIELDS:
            self.fields[name].choices = [("", ""), *choices]
        if customer is not None:
            self.show_codes_of(customer)

    @staticmethod
    def initial_codes(customer: Customer) -> dict[str, str]:
        """The codes the form starts with: the customer's, or the blank choice (which keeps a code
        Tatum holds outside its published list)."""
        codes = {}
        for name, _, choices, _ in _CODE_FIELDS:
            code = getattr(customer, name)
            codes[name] = code if code in dict(choices) else ""
        return codes

    def show_codes_of(self, customer: Customer) -> None:
        """Offer the codes as they are for `customer`: a blank choice only where it keeps its code."""
        for name, label, choices, named in _CODE_FIELDS:
            self.fields[name].choices = code_choices(label, choices, getattr(customer, name), named)

    def clean_external_id(self) -> str:
        value = self.cleaned_data["external_id"]
        if not value.strip():
            raise forms.ValidationError("The external id cannot be blank.")
        problem = external_id_problem(value)
        if problem:
            raise forms.ValidationError(problem)
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
        help_text="Recorded in the audit log.",
    )
    active_accounts = forms.IntegerField(required=False, min_value=0, max_value=1_000_000)

    def __init__(self, *args, reason_required: bool, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["reason"].required = reason_required
        if reason_required:
            self.fields["reason"].error_messages["required"] = "Give a reason: it goes into the audit log."

    def clean_reason(self) -> str:
        reason = self.cleaned_data["reason"].strip()
        if self.fields["reason"].required and not reason:
            raise forms.ValidationError("Give a reason: it goes into the audit log.")
        return reason
