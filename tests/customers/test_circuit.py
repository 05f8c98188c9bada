"""After repeated Tatum failures, writes pause with a banner until Tatum answers again."""

from __future__ import annotations

import pytest
import requests

from customers.circuit import FAILURE_THRESHOLD, circuit_is_open
from customers.models import AuditEntry
from tests.customers.conftest import CUSTOMER_ID, account_json, customer_json, url

pytestmark = pytest.mark.django_db

STATE_FORM = {"external_id": "cust-001", "active": "True", "enabled": "True", "reason": "r"}


def _fail_reads_until_open(tatum, support_client) -> None:
    tatum.get(url("/v3/ledger/customer"), body=requests.ConnectionError("refused"))
    while not circuit_is_open():
        support_client.get("/customers/")
        assert len(tatum.calls) <= FAILURE_THRESHOLD * 4


def test_repeated_failures_open_the_circuit_and_every_page_shows_the_banner(support_client, tatum):
    _fail_reads_until_open(tatum, support_client)
    page = support_client.get("/").content.decode()
    assert "Tatum is not answering." in page and "Changes are paused" in page


def test_an_open_circuit_refuses_writes_without_calling_tatum_and_records_them(support_client, tatum):
    _fail_reads_until_open(tatum, support_client)
    calls_before = len(tatum.calls)
    response = support_client.post(
        f"/customers/{CUSTOMER_ID}/disable/", STATE_FORM, headers={"HX-Request": "true"}
    )
    assert response.status_code == 200
    assert "Changes are paused because Tatum has been failing." in response.content.decode()
    assert len(tatum.calls) == calls_before
    entry = AuditEntry.objects.get()
    assert (entry.outcome, entry.error_code) == ("failed", "circuit.open")


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
    support_client.get("/customers/")
    assert not circuit_is_open()
    assert "Changes are paused" not in support_client.get("/").content.decode()


def test_rendered_status_disables_actions_while_writes_are_paused(support_client, tatum):
    _fail_reads_until_open(tatum, support_client)
    response = support_client.post(
        f"/customers/{CUSTOMER_ID}/enable/",
        {**STATE_FORM, "enabled": "False"},
        headers={"HX-Request": "true"},
    )
    page = response.content.decode()
    assert "Paused while Tatum is failing." in page
    assert "data-dialog-open" not in page


def test_the_list_page_whose_read_opens_the_circuit_already_says_changes_are_paused(support_client, tatum):
    tatum.get(url("/v3/ledger/customer"), body=requests.ConnectionError("refused"))
    while True:
        page = support_client.get("/customers/").content.decode()
        if circuit_is_open():
            break
        assert "Changes are paused" not in page
        assert len(tatum.calls) <= FAILURE_THRESHOLD * 4
    # The banner is rendered after the page's own read, which is the one that opened the circuit.
    assert "Changes are paused" in page
