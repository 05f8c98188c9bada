"""After repeated Tatum failures, writes pause with a banner until Tatum answers again."""

from __future__ import annotations

import pytest
import requests
from django.template.loader import render_to_string

from customers.audit.models import AuditEntry
from customers.credits.circuit import (
    FAILURE_THRESHOLD,
    UpstreamPaused,
    circuit_check_writes,
    circuit_is_open,
    circuit_record,
)
from customers.screens.state import action_options
from customers.tatum import CallRecord, Customer, TatumUnavailable
from tests.customers.conftest import CUSTOMER_ID, account_json, customer_json, url

pytestmark = pytest.mark.django_db

STATE_FORM = {"external_id": "cust-001", "active": "True", "enabled": "True", "reason": "r"}


def _fail_reads_until_open(tatum, support_client) -> None:
    tatum.get(url("/v3/ledger/customer"), body=requests.ConnectionError("refused"))
    while not circuit_is_open():
        support_client.get("/customers/live/")
        assert len(tatum.calls) <= FAILURE_THRESHOLD * 4


def test_repeated_failures_open_the_circuit_and_every_page_shows_the_banner(support_client, tatum):
    _fail_reads_until_open(tatum, support_client)
    page = support_client.get("/").content.decode()
    assert "Tatum is not answering." in page and "Changes are paused" in page


def test_an_open_circuit_refuses_writes_until_tatum_answers_again() -> None:
    failure = CallRecord("GET", "/v3/ledger/customer", None, 3000, 1, "")
    for _ in range(FAILURE_THRESHOLD - 1):
        circuit_record(failure)
    circuit_check_writes()  # one failure short: writes still go

    circuit_record(failure)
    with pytest.raises(UpstreamPaused) as paused:
        circuit_check_writes()
    assert isinstance(paused.value, TatumUnavailable) and paused.value.error_code == "circuit.open"

    circuit_record(CallRecord("GET", "/v3/ledger/customer", 403, 80, 1, "customer.not.exists"))
    circuit_check_writes()


def test_while_tatum_keeps_failing_a_state_change_sends_no_write_and_says_why(support_client, tatum):
    _fail_reads_until_open(tatum, support_client)
    tatum.get(url(f"/v3/ledger/customer/{CUSTOMER_ID}"), body=requests.ConnectionError("refused"))
    response = support_client.post(
        f"/customers/{CUSTOMER_ID}/disable/", STATE_FORM, headers={"HX-Request": "true"}
    )
    assert response.status_code == 200
    page = response.content.decode()
    assert "Tatum cannot be reached right now." in page and "Changes are paused" in page
    assert {call.request.method for call in tatum.calls} == {"GET"}
    entry = AuditEntry.objects.get()
    assert entry.outcome == "failed" and "nothing was sent" in entry.error_message


def test_any_answer_from_tatum_closes_the_circuit(support_client, tatum):
    _fail_reads_until_open(tatum, support_client)
    tatum.get(url(f"/v3/ledger/customer/{CUSTOMER_ID}"), body=requests.ConnectionError("refused"))
    tatum.get(url(f"/v3/ledger/account/customer/{CUSTOMER_ID}"), json=[account_json()])
    # The accounts answer closes the circuit again: a live Tatum is proof enough.
    support_client.get(f"/customers/{CUSTOMER_ID}/")
    assert not circuit_is_open()


def test_a_successful_read_closes_the_circuit(support_client, tatum):
    _fail_reads_until_open(tatum, support_client)
    tatum.replace("GET", url("/v3/ledger/customer"), json=[customer_json()])
    support_client.get("/customers/live/")
    assert not circuit_is_open()
    assert "Changes are paused" not in support_client.get("/").content.decode()


@pytest.mark.parametrize("paused", [True, False])
def test_the_status_offers_no_action_while_writes_are_paused(paused):
    customer = Customer.from_json(customer_json(enabled=False))
    context = {
        "customer": customer,
        "can_change_state": True,
        "options": action_options(customer, 0),
        "writes_paused": paused,
    }
    status = render_to_string("customers/partials/customer_status.html", context)
    assert ("Paused while Tatum is failing." in status) is paused
    assert ("data-dialog-open" in status) is not paused


def test_the_list_page_whose_read_opens_the_circuit_already_says_changes_are_paused(support_client, tatum):
    tatum.get(url("/v3/ledger/customer"), body=requests.ConnectionError("refused"))
    while True:
        page = support_client.get("/customers/live/").content.decode()
        if circuit_is_open():
            break
        assert "Changes are paused" not in page
        assert len(tatum.calls) <= FAILURE_THRESHOLD * 4
    # The banner is rendered after the page's own read, which is the one that opened the circuit.
    assert "Changes are paused" in page
