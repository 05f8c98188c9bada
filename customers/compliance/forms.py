"""Forms of compliance review: the queue's filters, a note, a status change and flagging a customer."""

from __future__ import annotations

from typing import Any

from django import forms

from customers.compliance.models import ComplianceCase
from customers.compliance.selectors import (
    ANY_STATUS,
    ASSIGNEE_ME,
    ASSIGNEE_NONE,
    CaseFilters,
    case_workers,
)
from customers.tatum import has_control_characters
from customers.tatum.reference import COUNTRY_CHOICES

Status = ComplianceCase.Status
MAX_AGE_DAYS = 3650
NOTE_MAX_LENGTH = 4000
REASON_MAX_LENGTH = 1000


class CaseQueueFilterForm(forms.Form):
    """The queue's filters, read from the query string; every field is optional."""

    status = forms.ChoiceField(
        label="Status",
        required=False,
        choices=[
            ("", "Not cleared (open, in review, escalated)"),
            *Status.choices,
            (ANY_STATUS, "Any status"),
        ],
    )
    assignee = forms.ChoiceField(label="Assignee", required=False)
    country = forms.ChoiceField(
        label="Country (customer or provider)",
        required=False,
        choices=[("", "Any country"), *COUNTRY_CHOICES],
    )
    age = forms.IntegerField(
        label="Opened more than … days ago",
        required=False,
        min_value=0,
        max_value=MAX_AGE_DAYS,
        widget=forms.TextInput(attrs={"inputmode": "numeric", "size": 6}),
        error_messages={
            "invalid": "Enter a whole number of days, for example 7.",
            "min_value": "Enter 0 days or more.",
            "max_value": f"Enter at most {MAX_AGE_DAYS} days.",
        },
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        workers = [(name, name) for name in case_workers().values_list("username", flat=True)]
        self.fields["assignee"].choices = [
            ("", "Anyone or nobody"),
            (ASSIGNEE_ME, "Me"),
            (ASSIGNEE_NONE, "Unassigned"),
            *workers,
        ]

    def filters(self) -> CaseFilters:
        data = self.cleaned_data
        return CaseFilters(
            status=data.get("status") or "",
            assignee=data.get("assignee") or "",
            country=data.get("country") or "",
            age=data.get("age"),
        )


def _no_control_characters(value: str) -> str:
    if has_control_characters(value.replace("\n", "").replace("\r", "").replace("\t", "")):
        raise forms.ValidationError("Remove the control characters from the text.")
    return value


class CaseNoteForm(forms.Form):
    text = forms.CharField(
        label="Note",
        max_length=NOTE_MAX_LENGTH,
        strip=True,
        widget=forms.Textarea(attrs={"rows": 3}),
        error_messages={
            "required": "Write the note first.",
            "max_length": f"A note is at most {NOTE_MAX_LENGTH} characters long.",
        },
    )

    def clean_text(self) -> str:
        return _no_control_characters(self.cleaned_data["text"])


class CaseStatusForm(forms.Form):
    status = forms.ChoiceField(
        choices=Status.choices, error_messages={"invalid_choice": "That is not a status."}
    )
    reason = forms.CharField(
        label="Reason",
        required=False,
        max_length=REASON_MAX_LENGTH,
        strip=True,
        widget=forms.Textarea(attrs={"rows": 2}),
        error_messages={"max_length": f"A reason is at most {REASON_MAX_LENGTH} characters long."},
    )

    def clean_reason(self) -> str:
        return _no_control_characters(self.cleaned_data["reason"])


class CaseFlagForm(forms.Form):
    reason = forms.CharField(
        label="Why this customer needs a review",
        max_length=REASON_MAX_LENGTH,
        strip=True,
        widget=forms.Textarea(attrs={"rows": 2}),
        error_messages={
            "required": "Say why the customer needs a review.",
            "max_length": f"A reason is at most {REASON_MAX_LENGTH} characters long.",
        },
    )

    def clean_reason(self) -> str:
        return _no_control_characters(self.cleaned_data["reason"])
