"""Services write the right audit entry for every way a Tatum call can end."""

from __future__ import annotations

import pytest
import requests

from customers.audit import Actor
from customers.models import AuditEntry
from customers.selectors import CustomerSnapshot, customer_fingerprint
from customers.services import (
    CustomerConflict,
    audit_entry_verify,
    customer_action_denied,
    customer_disable,
    customer_update,
)
from customers.tatum import (
    Customer,
    TatumOutcomeUnknown,
    TatumRateLimited,
    TatumRuleError,
    TatumServerError,
    TatumUnavailable,
)
from tests.customers.conftest import CUSTOMER_ID, customer_json, url

pytestmark = pytest.mark.django_db

DISABLE = f"/v3/ledger/customer/{CUSTOMER_ID}/disable"


@pytest.fixture
def actor(support):
    return Actor(user=support, ip="203.0.113.9", user_agent="pytest", request_id="req-123456789")


@pytest.fixture
def customer():
    return Customer.from_json(customer_json())


def test_disable_opens_a_pending_entry_before_calling_tatum(actor, customer, tatum):
    seen = {}

    def callback(request):
        seen["entry"] = AuditEntry.objects.values("outcome", "reason").get()
        return (204, {}, "")

    tatum.add_callback("PUT", url(DISABLE), callback=callback)
    customer_disable(actor=actor, customer=customer, reason="chargeback")
    assert seen["entry"] == {"outcome": "pending", "reason": "chargeback"}


def test_disable_records_a_succeeded_entry_with_everything_compliance_needs(actor, customer, tatum):
    tatum.put(url(DISABLE), status=204)
    result = customer_disable(actor=actor, customer=customer, reason="chargeback")
    entry = AuditEntry.objects.get()
    assert result.customer.enabled is False
    assert entry.outcome == "succeeded" and entry.http_status == 204
    assert entry.actor_username == "support" and entry.client_ip == "203.0.113.9"
    assert entry.user_agent == "pytest" and entry.request_id == "req-123456789"
    assert entry.customer_external_id == "cust-001" and entry.changes == {"enabled": [True, False]}
    assert entry.started_at <= entry.finished_at
    assert entry.sequence == 1 and len(entry.entry_hash) == 64


@pytest.mark.parametrize(
    "status,payload,error",
    [
        (
            403,
            {
                "statusCode": 403,
                "errorCode": "customer.inactive",
                "message": "Unable to perform operation on inactive customer.",
            },
            TatumRuleError,
        ),
        (500, {"statusCode": 500, "message": "Internal server error"}, TatumServerError),
        (429, {"statusCode": 429, "message": "Too many"}, TatumRateLimited),
    ],
)
def test_disable_records_a_failed_entry_when_tatum_refuses(actor, customer, tatum, status, payload, error):
    tatum.put(url(DISABLE), status=status, json=payload)
    with pytest.raises(error):
        customer_disable(actor=actor, customer=customer, reason="r")
    entry = AuditEntry.objects.get()
    assert entry.outcome == "failed" and entry.http_status == status
    assert entry.error_code == payload.get("errorCode", "")
    assert entry.error_message == payload["message"]
    assert entry.is_final
    assert len(tatum.calls) == 1  # writes are never retried


def test_disable_records_an_unknown_entry_when_tatum_times_out(actor, customer, tatum):
    tatum.put(url(DISABLE), body=requests.ReadTimeout("read timed out"))
    with pytest.raises(TatumOutcomeUnknown):
        customer_disable(actor=actor, customer=customer, reason="r")
    entry = AuditEntry.objects.get()
    assert entry.outcome == "unknown" and not entry.is_final and entry.finished_at is not None


def test_disable_records_a_failed_entry_when_tatum_cannot_be_reached(actor, customer, tatum):
    tatum.put(url(DISABLE), body=requests.ConnectTimeout("connect timed out"))
    with pytest.raises(TatumUnavailable) as raised:
        customer_disable(actor=actor, customer=customer, reason="r")
    assert not isinstance(raised.value, TatumOutcomeUnknown)
    assert AuditEntry.objects.get().outcome == "failed"


def test_verify_settles_an_unknown_entry_as_failed_when_the_change_did_not_happen(actor, customer, tatum):
    tatum.put(url(DISABLE), body=requests.ReadTimeout("read timed out"))
    with pytest.raises(TatumOutcomeUnknown):
        customer_disable(actor=actor, customer=customer, reason="r")
    tatum.get(url(f"/v3/ledger/customer/{CUSTOMER_ID}"), json=customer_json(enabled=True))
    entry = audit_entry_verify(entry=AuditEntry.objects.get())
    assert entry.outcome == "failed" and entry.is_final
    assert "did not happen" in entry.error_message


def test_denied_writes_are_recorded_without_calling_tatum(actor, tatum):
    entry = customer_action_denied(actor=actor, action="disable", customer_id=CUSTOMER_ID)
    assert (entry.outcome, entry.http_status, entry.is_final) == ("denied", 403, True)
    assert len(tatum.calls) == 0


def test_update_refuses_a_stale_fingerprint_without_writing(actor, tatum):
    current = CustomerSnapshot(Customer.from_json(customer_json(customerCountry="AT")), read_at=None)
    stale = customer_fingerprint(Customer.from_json(customer_json()))
    with pytest.raises(CustomerConflict) as raised:
        customer_update(
            actor=actor,
            current=current,
            fingerprint=stale,
            external_id="cust-001",
            accounting_currency=None,
            customer_country="FR",
            provider_country=None,
        )
    assert raised.value.intended["customer_country"] == "FR"
    assert AuditEntry.objects.count() == 0 and len(tatum.calls) == 0


def test_update_with_nothing_changed_sends_nothing(actor, tatum):
    current = CustomerSnapshot(Customer.from_json(customer_json()), read_at=None)
    result = customer_update(
        actor=actor,
        current=current,
        fingerprint=current.fingerprint,
        external_id="cust-001",
        accounting_currency="EUR",
        customer_country="DE",
        provider_country=None,
    )
    assert result.entry is None and len(tatum.calls) == 0


def test_finalised_entries_cannot_be_changed_or_deleted(actor, customer, tatum):
    tatum.put(url(DISABLE), status=204)
    customer_disable(actor=actor, customer=customer, reason="r")
    entry = AuditEntry.objects.get()
    with pytest.raises(Exception, match="cannot be"):
        AuditEntry.objects.filter(pk=entry.pk).update(reason="edited")
    with pytest.raises(Exception, match="cannot be"):
        entry.delete()
    with pytest.raises(Exception, match="cannot be"):
        AuditEntry.objects.all().delete()
