"""Tatum's refusals of an edit's values come back on their fields, in Tatum's words, with the form (422);
an upstream failure stays a message for the page."""

from __future__ import annotations

import pytest
import requests
from pytest_django.asserts import assertInHTML

from customers.audit.models import AuditEntry
from customers.credits.client import tatum_client
from tests.customers.conftest import CUSTOMER_ID, customer_json, url
from tests.users import make_user

pytestmark = pytest.mark.django_db

CUSTOMER_PATH = f"/v3/ledger/customer/{CUSTOMER_ID}"
HTMX = {"HX-Request": "true"}
DUPLICATE = {
    "statusCode": 403,
    "errorCode": "customer.external.id.exists",
    "message": "Customer with given external ID taken-1 already exists.",
}


def validation_failed(prop: str, sentence: str) -> dict:
    return {
        "statusCode": 400,
        "errorCode": "validation.failed",
        "message": "Request validation failed. Please see data for additional information.",
        "data": [{"target": {}, "property": prop, "value": "x", "constraints": {"rule": sentence}}],
    }


def save(client, tatum, *, headers: dict | None = None, **changed):
    """Open the edit form on `customer_json()` and post it with `changed`."""
    tatum.get(url(CUSTOMER_PATH), json=customer_json())
    form = client.get(f"/customers/{CUSTOMER_ID}/edit/").context["form"]
    data = {**form.initial, **changed}
    return client.post(f"/customers/{CUSTOMER_ID}/edit/", data, headers=headers or {})


def field_error(response, field: str) -> list[str]:
    return response.context["form"].errors.get(field, [])


@pytest.mark.parametrize("headers", [{}, HTMX], ids=["page", "htmx"])
def test_a_taken_external_id_comes_back_on_its_field_in_tatums_words(support_client, tatum, headers):
    tatum.put(url(CUSTOMER_PATH), status=403, json=DUPLICATE)
    response = save(support_client, tatum, headers=headers, external_id="taken-1")
    page = response.content.decode()
    assert response.status_code == 422
    assert field_error(response, "external_id") == [
        "Tatum: Customer with given external ID taken-1 already exists."
    ]
    assertInHTML(
        '<p class="error" id="id_external_id-error">'
        "Tatum: Customer with given external ID taken-1 already exists.</p>",
        page,
    )
    assert "Another customer already has that external id." in page
    assert "Tatum refused the request" not in page
    # The form keeps what was typed, to be corrected.
    assert response.context["form"]["external_id"].value() == "taken-1"


def test_a_taken_external_id_is_recorded_as_a_failed_change(support_client, tatum):
    tatum.put(url(CUSTOMER_PATH), status=403, json=DUPLICATE)
    save(support_client, tatum, external_id="taken-1")
    entry = AuditEntry.objects.get()
    assert (entry.outcome, entry.http_status, entry.error_code) == (
        "failed",
        403,
        "customer.external.id.exists",
    )
    assert entry.error_message == DUPLICATE["message"]
    assert entry.changes == {"externalId": ["cust-001", "taken-1"]}


@pytest.mark.parametrize(
    ("prop", "field"),
    [
        ("externalId", "external_id"),
        ("accountingCurrency", "accounting_currency"),
        ("customerCountry", "customer_country"),
    ],
)
def test_a_validation_failure_goes_on_the_field_tatum_named(support_client, tatum, prop, field):
    tatum.put(url(CUSTOMER_PATH), status=400, json=validation_failed(prop, f"{prop} is not acceptable"))
    response = save(support_client, tatum, external_id="renamed", customer_country="FR")
    assert response.status_code == 422
    assert field_error(response, field) == [f"Tatum: {prop} is not acceptable"]
    assert "Correct the fields marked below" in response.content.decode()
    assert AuditEntry.objects.get().outcome == "failed"


def test_a_validation_failure_of_no_field_of_the_form_is_said_above_the_fields(support_client, tatum):
    tatum.put(
        url(CUSTOMER_PATH), status=400, json=validation_failed("somethingElse", "somethingElse is wrong")
    )
    response = save(support_client, tatum, external_id="renamed", headers=HTMX)
    assert response.status_code == 422
    assert response.context["form"].non_field_errors() == ["Tatum: somethingElse is wrong"]


@pytest.mark.parametrize(
    ("answer", "words"),
    [
        (
            {"status": 500, "json": {"statusCode": 500, "message": "Internal server error"}},
            "Tatum had an internal error.",
        ),
        ({"status": 429, "json": {}}, "Tatum is rate limiting the dashboard."),
        ({"body": requests.ReadTimeout("no answer")}, "we do not know whether the change happened"),
    ],
    ids=["5xx", "429", "timeout"],
)
@pytest.mark.parametrize("headers", [{}, HTMX], ids=["page", "htmx"])
def test_an_upstream_failure_stays_a_message_for_the_page(support_client, tatum, answer, words, headers):
    tatum.put(url(CUSTOMER_PATH), **answer)
    response = save(support_client, tatum, headers=headers, external_id="renamed")
    assert response.status_code == 502
    assert words in response.content.decode()
    assert not response.context["form"].errors
    assert AuditEntry.objects.get().outcome in ("failed", "unknown")


@pytest.mark.django_db(transaction=True)
def test_the_sandbox_refuses_another_customers_external_id_and_the_form_says_so(
    client, live_server, settings
):
    settings.TATUM_API_URL = f"{live_server.url}/sandbox"
    tatum = tatum_client()
    tatum.create_account(currency="BTC", external_id="field-taken")
    mine = tatum.get_customer(tatum.create_account(currency="BTC", external_id="field-mine").customer_id)
    client.force_login(make_user("Support"))
    form = client.get(f"/customers/{mine.id}/edit/").context["form"]

    response = client.post(f"/customers/{mine.id}/edit/", {**form.initial, "external_id": "field-taken"})

    assert response.status_code == 422
    [error] = field_error(response, "external_id")
    assert error.startswith("Tatum: ") and "field-taken" in error and "already exists" in error
    entry = AuditEntry.objects.get()
    assert (entry.outcome, entry.error_code) == ("failed", "customer.external.id.exists")
    assert tatum.get_customer(mine.id).external_id == "field-mine"
