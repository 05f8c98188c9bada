"""Services write the right audit entry for every way a Tatum call can end, from what Tatum said."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator

import pytest
import requests
from django.db import connections

from customers.audit.models import AuditEntry
from customers.audit.trail import Actor
from customers.screens.selectors import customer_fingerprint
from customers.screens.services import CustomerConflict, customer_state_change, customer_update
from customers.tatum import (
    Customer,
    TatumNotFound,
    TatumOutcomeUnknown,
    TatumRateLimited,
    TatumRuleError,
    TatumServerError,
    TatumUnavailable,
)
from tests.customers.conftest import CUSTOMER_ID, customer_json, url

pytestmark = pytest.mark.django_db

CUSTOMER = f"/v3/ledger/customer/{CUSTOMER_ID}"
DISABLE = f"{CUSTOMER}/disable"


@pytest.fixture
def actor(support):
    return Actor(user=support, ip="203.0.113.9", user_agent="pytest", request_id="req-123456789")


def disable(actor: Actor, reason: str = "chargeback"):
    return customer_state_change(actor=actor, customer_id=CUSTOMER_ID, action="disable", reason=reason)


def test_a_state_change_reads_the_customer_then_opens_a_pending_entry_before_the_write(actor, tatum):
    tatum.get(url(CUSTOMER), json=customer_json(externalId="as-tatum-has-it"))
    seen = {}

    def callback(request):
        seen["entry"] = AuditEntry.objects.values("outcome", "reason", "customer_external_id").get()
        return (204, {}, "")

    tatum.add_callback("PUT", url(DISABLE), callback=callback)
    disable(actor)
    assert seen["entry"] == {
        "outcome": "pending",
        "reason": "chargeback",
        "customer_external_id": "as-tatum-has-it",
    }
    assert [call.request.method for call in tatum.calls] == ["GET", "PUT"]


def test_disable_records_a_succeeded_entry_with_everything_compliance_needs(actor, tatum):
    tatum.get(url(CUSTOMER), json=customer_json())
    tatum.put(url(DISABLE), status=204)
    result = disable(actor)
    entry = AuditEntry.objects.get()
    assert result.customer.enabled is False and not result.already and result.error is None
    assert entry.outcome == "succeeded" and entry.http_status == 204
    assert entry.actor_username == "support" and entry.client_ip == "203.0.113.9"
    assert entry.user_agent == "pytest" and entry.request_id == "req-123456789"
    assert entry.customer_external_id == "cust-001" and entry.changes == {"enabled": [True, False]}
    assert entry.started_at <= entry.finished_at
    assert entry.sequence == 1 and len(entry.entry_hash) == 64


def test_the_before_state_is_the_one_tatum_gave(actor, tatum):
    """Activating an inactive customer records active: false -> true, as read."""
    tatum.get(url(CUSTOMER), json=customer_json(active=False, enabled=False))
    tatum.put(url(f"{CUSTOMER}/activate"), status=204)
    result = customer_state_change(actor=actor, customer_id=CUSTOMER_ID, action="activate", reason="")
    entry = AuditEntry.objects.get()
    assert entry.changes == {"active": [False, True]}
    assert result.customer.active is True and result.customer.enabled is False


def test_a_customer_already_in_the_target_state_is_not_written_and_the_entry_says_so(actor, tatum):
    tatum.get(url(CUSTOMER), json=customer_json(enabled=False))
    result = disable(actor)
    entry = AuditEntry.objects.get()
    assert result.already and result.customer.enabled is False
    assert [call.request.method for call in tatum.calls] == ["GET"]
    assert entry.outcome == "failed" and entry.is_final
    assert entry.changes == {"enabled": [False, False]}
    assert "Nothing was sent" in entry.error_message and "already disabled" in entry.error_message


def test_a_failed_read_is_recorded_and_nothing_is_written(actor, tatum):
    tatum.get(
        url(CUSTOMER),
        status=403,
        json={"statusCode": 403, "errorCode": "customer.not.exists", "message": "No customer."},
    )
    with pytest.raises(TatumNotFound):
        disable(actor)
    entry = AuditEntry.objects.get()
    assert entry.outcome == "failed" and entry.is_final and entry.customer_id == CUSTOMER_ID
    assert entry.customer_external_id == "" and entry.error_code == "customer.not.exists"
    assert [call.request.method for call in tatum.calls] == ["GET"]


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
def test_disable_records_a_failed_entry_when_tatum_refuses(actor, tatum, status, payload, error):
    tatum.get(url(CUSTOMER), json=customer_json())
    tatum.put(url(DISABLE), status=status, json=payload)
    result = disable(actor, reason="r")
    assert isinstance(result.error, error)
    assert result.customer.enabled is True  # as read: the change did not happen
    entry = AuditEntry.objects.get()
    assert entry.outcome == "failed" and entry.http_status == status
    assert entry.error_code == payload.get("errorCode", "")
    assert entry.error_message == payload["message"]
    assert entry.is_final
    assert [call.request.method for call in tatum.calls] == ["GET", "PUT"]  # writes are never retried


def test_disable_records_an_unknown_entry_when_tatum_times_out(actor, tatum):
    tatum.get(url(CUSTOMER), json=customer_json())
    tatum.put(url(DISABLE), body=requests.ReadTimeout("read timed out"))
    result = disable(actor, reason="r")
    assert isinstance(result.error, TatumOutcomeUnknown)
    entry = AuditEntry.objects.get()
    assert entry.outcome == "unknown" and not entry.is_final and entry.finished_at is not None


def test_disable_records_a_failed_entry_when_tatum_cannot_be_reached(actor, tatum):
    tatum.get(url(CUSTOMER), json=customer_json())
    tatum.put(url(DISABLE), body=requests.ConnectTimeout("connect timed out"))
    result = disable(actor, reason="r")
    assert isinstance(result.error, TatumUnavailable)
    assert not isinstance(result.error, TatumOutcomeUnknown)
    assert AuditEntry.objects.get().outcome == "failed"


def test_update_reads_the_customer_again_and_refuses_a_stale_fingerprint_without_writing(actor, tatum):
    tatum.get(url(CUSTOMER), json=customer_json(customerCountry="AT"))
    stale = customer_fingerprint(Customer.from_json(customer_json()))
    with pytest.raises(CustomerConflict) as raised:
        customer_update(
            actor=actor,
            customer_id=CUSTOMER_ID,
            fingerprint=stale,
            external_id="cust-001",
            accounting_currency=None,
            customer_country="FR",
            provider_country=None,
        )
    assert raised.value.intended["customer_country"] == "FR"
    assert raised.value.current.customer.customer_country == "AT"
    assert AuditEntry.objects.count() == 0
    assert [call.request.method for call in tatum.calls] == ["GET"]


def test_update_with_nothing_changed_sends_nothing(actor, tatum):
    tatum.get(url(CUSTOMER), json=customer_json())
    result = customer_update(
        actor=actor,
        customer_id=CUSTOMER_ID,
        fingerprint=customer_fingerprint(Customer.from_json(customer_json())),
        external_id="cust-001",
        accounting_currency="EUR",
        customer_country="DE",
        provider_country=None,
    )
    assert result.entry is None
    assert [call.request.method for call in tatum.calls] == ["GET"]


def test_update_records_the_change_from_the_value_tatum_held(actor, tatum):
    tatum.get(url(CUSTOMER), json=customer_json())
    tatum.put(url(CUSTOMER), json=customer_json(customerCountry="FR"))
    result = customer_update(
        actor=actor,
        customer_id=CUSTOMER_ID,
        fingerprint=customer_fingerprint(Customer.from_json(customer_json())),
        external_id="cust-001",
        accounting_currency=None,
        customer_country="FR",
        provider_country=None,
    )
    entry = AuditEntry.objects.get()
    assert result.customer.customer_country == "FR"
    assert entry.changes == {"customerCountry": ["DE", "FR"]} and entry.outcome == "succeeded"
    assert entry.customer_external_id == "cust-001"


def test_finalised_entries_cannot_be_changed_or_deleted(actor, tatum):
    tatum.get(url(CUSTOMER), json=customer_json())
    tatum.put(url(DISABLE), status=204)
    disable(actor, reason="r")
    entry = AuditEntry.objects.get()
    with pytest.raises(Exception, match="cannot be"):
        AuditEntry.objects.filter(pk=entry.pk).update(reason="edited")
    with pytest.raises(Exception, match="cannot be"):
        entry.delete()
    with pytest.raises(Exception, match="cannot be"):
        AuditEntry.objects.all().delete()


def test_a_change_waits_for_another_change_to_the_same_customer_and_sends_nothing_if_it_cannot(
    actor, tatum, settings
):
    from customers.audit.locks import CustomerBusy

    settings.CUSTOMER_LOCK_WAIT_SECONDS = 0.2
    with another_change_running(CUSTOMER_ID), pytest.raises(CustomerBusy):
        customer_state_change(actor=actor, customer_id=CUSTOMER_ID, action="disable", reason="r")
    assert len(tatum.calls) == 0 and AuditEntry.objects.count() == 0


@contextlib.contextmanager
def another_change_running(customer_id: str) -> Iterator[None]:
    """The customer's write lock held by another thread (so another database connection), as a
    change served by another request would hold it."""
    from customers.audit.locks import customer_lock

    held, done = threading.Event(), threading.Event()

    def hold() -> None:
        try:
            with customer_lock(customer_id):
                held.set()
                done.wait(10)
        finally:
            connections.close_all()

    holder = threading.Thread(target=hold)
    holder.start()
    assert held.wait(10)
    try:
        yield
    finally:
        done.set()
        holder.join(10)


def test_no_change_is_sent_while_an_earlier_one_is_unsettled(actor, tatum):
    from customers.audit.trail import audit_entry_record
    from customers.screens.services import CustomerUnsettled

    unknown = audit_entry_record(
        actor=actor,
        action="enable",
        outcome=AuditEntry.Outcome.UNKNOWN,
        customer_id=CUSTOMER_ID,
        changes={"enabled": [False, True]},
    )
    with pytest.raises(CustomerUnsettled) as refused:
        disable(actor)
    assert refused.value.entry == unknown
    with pytest.raises(CustomerUnsettled):
        customer_update(
            actor=actor,
            customer_id=CUSTOMER_ID,
            fingerprint="x",
            external_id="cust-001",
            accounting_currency=None,
            customer_country="FR",
            provider_country=None,
        )
    assert len(tatum.calls) == 0 and AuditEntry.objects.count() == 1
