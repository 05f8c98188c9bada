"""User journeys against the live sandbox while it fails the ways Tatum fails.

Each test injects one fault kind into exactly the calls it means to fail, then checks what the user
sees (the dashboard's own message, never an error page), what the audit trail says (a final outcome
or `unknown`, never `pending`, and never a success that did not happen) and what reached the sandbox
(each write sent once, never retried; every call the sandbox charged is one the dashboard recorded).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import pytest
from django.conf import settings
from django.test import Client

from customers.audit.models import AuditEntry
from customers.credits.circuit import FAILURE_THRESHOLD, circuit_is_open
from sandbox.faults import AFTER_KINDS, BASIC_KINDS, fault_next
from tests.customers.conftest import html_ids
from tests.faults.conftest import (
    STALL_SECONDS,
    CallTally,
    LedgerCustomerRef,
    ledger_customer,
    ledger_state,
    queued_faults,
)

pytestmark = pytest.mark.django_db(transaction=True)

HTMX = {"HX-Request": "true"}
# Kinds the client retries a read on; a 500 or an unreadable answer is shown at once.
RETRIED_KINDS = ("429", "timeout", "drop")
WRITE_KINDS = BASIC_KINDS + AFTER_KINDS
# Only these kinds let the sandbox apply the write before it fails.
APPLIED_KINDS = AFTER_KINDS

UNREACHABLE = "Tatum cannot be reached right now."
UNKNOWN = "we do not know whether the change happened"
UNREADABLE = "Tatum sent an answer the dashboard cannot read."
READ_FAILURE_MESSAGES = {
    "500": "Tatum had an internal error.",
    "429": "Tatum is rate limiting the dashboard.",
    "timeout": UNREACHABLE,
    "drop": UNREACHABLE,
    "malformed": UNREADABLE,
}
# Any one of these tells the user plainly what happened.
WRITE_FAILURE_MESSAGES = {
    "500": ("Tatum had an internal error.",),
    "429": ("Tatum is rate limiting the dashboard.",),
    "timeout": (UNKNOWN,),
    "drop": (UNKNOWN,),
    "malformed": (UNREADABLE, UNKNOWN),
    "timeout_after": (UNKNOWN,),
    "drop_after": (UNKNOWN,),
}
# What the audit trail may say right after the call. A client that got no answer cannot know what
# happened; an answer it cannot read does not prove a change either.
OUTCOMES_AFTER_THE_CALL = {
    "500": {"failed"},
    "429": {"failed"},
    "timeout": {"unknown"},
    "drop": {"unknown"},
    "malformed": {"failed", "unknown"},
    "timeout_after": {"unknown"},
    "drop_after": {"unknown"},
}
# action -> (the state it starts from, the flag it changes, the flag's value afterwards)
STATE_CHANGES = {
    "activate": ("inactive", "active", True),
    "deactivate": ("bare", "active", False),
    "enable": ("disabled", "enabled", True),
    "disable": ("active", "enabled", False),
}


@dataclass(frozen=True)
class ReadJourney:
    path: Callable[[LedgerCustomerRef], str]
    reads: int  # upstream reads the page makes when nothing fails
    failed_status: int
    ok_status: int
    htmx: bool = False


READ_JOURNEYS = {
    "list page": ReadJourney(lambda c: "/customers/live/?size=10&page=1", 1, 200, 200),
    "list table over htmx": ReadJourney(lambda c: "/customers/live/?size=10&page=1", 1, 200, 200, htmx=True),
    "lookup": ReadJourney(lambda c: f"/customers/lookup/?q={c.external_id}", 1, 200, 302),
    "detail page": ReadJourney(lambda c: f"/customers/{c.id}/", 2, 503, 200),
    "edit form": ReadJourney(lambda c: f"/customers/{c.id}/edit/", 1, 503, 200),
    "state change confirmation": ReadJourney(lambda c: f"/customers/{c.id}/disable/", 2, 503, 200),
}


def read_attempts(kind: str) -> int:
    return settings.TATUM_MAX_RETRIES + 1 if kind in RETRIED_KINDS else 1


def text(response) -> str:
    return response.content.decode()


def assert_dashboard_page(response, status: int) -> None:
    """The dashboard answered with one of its own pages: no crash, no error page."""
    templates = [template.name for template in response.templates]
    assert response.status_code != 500
    assert "500.html" not in templates
    assert "Something went wrong on our side" not in text(response)
    assert response.status_code == status, text(response)[:2000]
    if status in (200, 502, 503):
        assert templates, "the response was not rendered from the dashboard's templates"


def open_page(client: Client, journey: ReadJourney, customer: LedgerCustomerRef):
    return client.get(journey.path(customer), headers=HTMX if journey.htmx else {})


def state_form(customer: LedgerCustomerRef) -> dict[str, str]:
    """What the detail page's state change form posts: a reason, and the active accounts it showed."""
    stored = ledger_state(customer)
    return {"active_accounts": str(stored.accounts.filter(active=True).count()), "reason": "Fault drill"}


def edit_form(customer: LedgerCustomerRef, form_page) -> dict[str, str]:
    """The edit form as opened, with the customer's country changed from DE to FR."""
    return {
        "external_id": customer.external_id,
        "accounting_currency": "EUR",
        "customer_country": "FR",
        "provider_country": "MT",
        "fingerprint": form_page.context["form"].initial["fingerprint"],
    }


def verify_url(entry: AuditEntry) -> str:
    return f"/audit/unknown/{entry.pk}/verify/"


def verify_from_the_customer_page(client: Client, customer: LedgerCustomerRef, entry: AuditEntry):
    """What the customer page's Verify button does: settle the entry, then come back to the page."""
    return client.post(verify_url(entry), {"next": f"/customers/{customer.id}/"}, follow=True)


def assert_recorded_as_tatum_holds_it(
    entry: AuditEntry, customer: LedgerCustomerRef, flag: str, before
) -> None:
    """The entry names the customer and its state as the dashboard read them, never as posted."""
    assert (entry.customer_id, entry.customer_external_id) == (customer.id, customer.external_id)
    assert entry.changes == {flag: [before, not before]}


def assert_settles_to_the_truth(
    client: Client, customer: LedgerCustomerRef, entry: AuditEntry, applied: bool
) -> None:
    """An unknown outcome is settled by Verify; every outcome ends final and true to the ledger."""
    entry.refresh_from_db()
    if entry.outcome == AuditEntry.Outcome.UNKNOWN:
        response = verify_from_the_customer_page(client, customer, entry)
        assert response.redirect_chain == [(f"/customers/{customer.id}/", 302)]
        assert_dashboard_page(response, 200)
        assert "message-success" in text(response)
        # Settled: the page no longer offers to verify it.
        assert verify_url(entry) not in text(response)
        entry.refresh_from_db()
    expected = AuditEntry.Outcome.SUCCEEDED if applied else AuditEntry.Outcome.FAILED
    assert entry.outcome == expected, f"the audit trail says {entry.outcome}; the change applied={applied}"
    assert entry.is_final


def assert_every_call_accounted_for(tally: CallTally) -> None:
    """The sandbox charged exactly the calls the dashboard recorded: nothing sent behind its back."""
    assert tally.sandbox_credits == tally.dashboard_credits


# --- Reads ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", BASIC_KINDS)
@pytest.mark.parametrize("journey", READ_JOURNEYS)
def test_a_read_that_keeps_failing_shows_the_dashboards_own_message(support_client, journey, kind):
    customer = ledger_customer()
    route = READ_JOURNEYS[journey]
    calls = route.reads * read_attempts(kind)
    before = CallTally.now()
    fault_next(kind, count=calls)

    response = open_page(support_client, route, customer)

    assert_dashboard_page(response, route.failed_status)
    assert READ_FAILURE_MESSAGES[kind] in text(response)
    assert queued_faults() == 0
    tally = CallTally.now().since(before)
    assert (tally.gets, tally.puts) == (calls, 0)
    assert_every_call_accounted_for(tally)
    assert not AuditEntry.objects.exists()


@pytest.mark.parametrize("kind", RETRIED_KINDS)
@pytest.mark.parametrize("journey", READ_JOURNEYS)
def test_a_single_transient_read_fault_is_invisible_to_the_user(support_client, journey, kind):
    customer = ledger_customer()
    route = READ_JOURNEYS[journey]
    before = CallTally.now()
    fault_next(kind, count=1)

    response = open_page(support_client, route, customer)

    assert_dashboard_page(response, route.ok_status)
    if route.ok_status == 302:
        assert response["Location"] == f"/customers/{customer.id}/"
    else:
        assert customer.external_id in text(response)
    for message in READ_FAILURE_MESSAGES.values():
        assert message not in text(response)
    assert queued_faults() == 0
    tally = CallTally.now().since(before)
    assert tally.gets == route.reads + 1
    assert_every_call_accounted_for(tally)


# --- Writes --------------------------------------------------------------------------------------


@pytest.mark.parametrize("transport", ["htmx", "plain"])
@pytest.mark.parametrize("kind", WRITE_KINDS)
@pytest.mark.parametrize("action", STATE_CHANGES)
def test_a_state_change_under_a_fault_is_audited_truthfully_and_sent_once(
    support_client, fault_before_write, server_requests, action, kind, transport
):
    start, flag, after = STATE_CHANGES[action]
    customer = ledger_customer(start)
    form = state_form(customer)
    url = f"/customers/{customer.id}/{action}/"
    applied = kind in APPLIED_KINDS
    before = CallTally.now()
    fault_before_write(kind)

    if transport == "htmx":
        response = support_client.post(url, form, headers=HTMX)
        assert_dashboard_page(response, 200)
        assert "customer-status" in html_ids(text(response))
    else:
        response = support_client.post(url, form)
        assert response.status_code == 302 and response["Location"] == f"/customers/{customer.id}/"
        server_requests.wait_until_idle(limit=STALL_SECONDS + 2)
        response = support_client.get(response["Location"])
        assert_dashboard_page(response, 200)
    server_requests.wait_until_idle(limit=STALL_SECONDS + 2)

    assert queued_faults() == 0
    entry = AuditEntry.objects.get(customer_id=customer.id, action=action)
    assert entry.outcome in OUTCOMES_AFTER_THE_CALL[kind], (
        f"{kind}: the audit trail says {entry.outcome}, yet the sandbox applied={applied}"
    )
    assert_recorded_as_tatum_holds_it(entry, customer, flag, not after)
    assert any(message in text(response) for message in WRITE_FAILURE_MESSAGES[kind])
    if entry.outcome == AuditEntry.Outcome.UNKNOWN:
        assert verify_url(entry) in text(response)
    assert getattr(ledger_state(customer), flag) == (after if applied else not after)
    tally = CallTally.now().since(before)
    assert tally.puts == 1
    if transport == "htmx":
        assert tally.gets == 1  # the customer, read once before the write
    assert_every_call_accounted_for(tally)

    assert_settles_to_the_truth(support_client, customer, entry, applied)
    assert CallTally.now().since(before).puts == 1
    assert AuditEntry.objects.filter(customer_id=customer.id, action=action).count() == 1


@pytest.mark.parametrize("kind", BASIC_KINDS)
def test_a_state_change_whose_read_fails_sends_nothing_and_records_that(support_client, kind):
    customer = ledger_customer()
    before = CallTally.now()
    fault_next(kind, count=read_attempts(kind))

    response = support_client.post(f"/customers/{customer.id}/disable/", state_form(customer), headers=HTMX)

    assert_dashboard_page(response, 200)
    assert READ_FAILURE_MESSAGES[kind] in text(response)
    assert queued_faults() == 0
    entry = AuditEntry.objects.get(customer_id=customer.id, action=AuditEntry.Action.DISABLE)
    assert (entry.outcome, entry.is_final) == (AuditEntry.Outcome.FAILED, True)
    # Nothing was read, so nothing but the id in the address is recorded about the customer.
    assert (entry.customer_external_id, entry.changes) == ("", {})
    assert entry.error_message.startswith(
        "Reading the customer before the change failed, so nothing was sent"
    )
    assert ledger_state(customer).enabled
    tally = CallTally.now().since(before)
    assert (tally.gets, tally.puts) == (read_attempts(kind), 0)
    assert_every_call_accounted_for(tally)


@pytest.mark.parametrize("kind", WRITE_KINDS)
def test_an_edit_under_a_fault_is_audited_truthfully_and_sent_once(
    support_client, fault_before_write, server_requests, kind
):
    customer = ledger_customer()
    url = f"/customers/{customer.id}/edit/"
    form_page = support_client.get(url)
    assert_dashboard_page(form_page, 200)
    applied = kind in APPLIED_KINDS
    before = CallTally.now()
    fault_before_write(kind)

    response = support_client.post(url, edit_form(customer, form_page))
    server_requests.wait_until_idle(limit=STALL_SECONDS + 2)

    assert_dashboard_page(response, 502)
    assert queued_faults() == 0
    entry = AuditEntry.objects.get(customer_id=customer.id, action=AuditEntry.Action.UPDATE)
    assert entry.outcome in OUTCOMES_AFTER_THE_CALL[kind], (
        f"{kind}: the audit trail says {entry.outcome}, yet the sandbox applied={applied}"
    )
    assert entry.customer_external_id == customer.external_id
    assert entry.changes == {"customerCountry": ["DE", "FR"]}
    assert any(message in text(response) for message in WRITE_FAILURE_MESSAGES[kind])
    assert ledger_state(customer).customer_country == ("FR" if applied else "DE")
    tally = CallTally.now().since(before)
    assert tally.puts == 1
    assert_every_call_accounted_for(tally)

    if entry.outcome == AuditEntry.Outcome.UNKNOWN:
        detail = support_client.get(f"/customers/{customer.id}/")
        assert_dashboard_page(detail, 200)
        assert verify_url(entry) in text(detail)
    assert_settles_to_the_truth(support_client, customer, entry, applied)
    assert CallTally.now().since(before).puts == 1


@pytest.mark.parametrize("kind", ["500", "malformed"])
def test_an_edit_whose_fresh_read_fails_sends_and_records_no_change(support_client, kind):
    customer = ledger_customer()
    url = f"/customers/{customer.id}/edit/"
    form_page = support_client.get(url)
    before = CallTally.now()
    fault_next(kind)

    response = support_client.post(url, edit_form(customer, form_page))

    assert_dashboard_page(response, 503)
    assert READ_FAILURE_MESSAGES[kind] in text(response)
    assert not AuditEntry.objects.exists()
    assert ledger_state(customer).customer_country == "DE"
    tally = CallTally.now().since(before)
    assert (tally.gets, tally.puts) == (1, 0)
    assert_every_call_accounted_for(tally)


def test_verifying_while_tatum_still_fails_keeps_the_change_unknown_until_a_read_succeeds(
    support_client, fault_before_write, server_requests
):
    customer = ledger_customer()
    before = CallTally.now()
    fault_before_write("drop_after")
    support_client.post(f"/customers/{customer.id}/disable/", state_form(customer), headers=HTMX)
    server_requests.wait_until_idle(limit=STALL_SECONDS + 2)
    entry = AuditEntry.objects.get(customer_id=customer.id, action=AuditEntry.Action.DISABLE)
    assert entry.outcome == AuditEntry.Outcome.UNKNOWN

    fault_next("500")
    response = verify_from_the_customer_page(support_client, customer, entry)

    assert response.redirect_chain == [(f"/customers/{customer.id}/", 302)]
    assert_dashboard_page(response, 200)
    assert "Tatum had an internal error." in text(response)
    entry.refresh_from_db()
    assert entry.outcome == AuditEntry.Outcome.UNKNOWN and not entry.is_final
    assert verify_url(entry) in text(response)

    assert_settles_to_the_truth(support_client, customer, entry, applied=True)
    again = verify_from_the_customer_page(support_client, customer, entry)
    assert "is already settled, or is not waiting for verification" in text(again)
    tally = CallTally.now().since(before)
    assert tally.puts == 1
    assert_every_call_accounted_for(tally)


def test_after_repeated_failures_a_change_sends_nothing_until_its_own_read_is_answered(support_client):
    customer = ledger_customer()
    form = state_form(customer)
    url = f"/customers/{customer.id}/disable/"
    fault_next("500", count=FAILURE_THRESHOLD)
    for _ in range(FAILURE_THRESHOLD):
        assert "Tatum had an internal error." in text(support_client.get("/customers/live/"))
    assert circuit_is_open()
    before = CallTally.now()
    fault_next("500")

    response = support_client.post(url, form, headers=HTMX)

    assert_dashboard_page(response, 200)
    assert "Tatum had an internal error." in text(response)
    refused = AuditEntry.objects.get(customer_id=customer.id, action=AuditEntry.Action.DISABLE)
    assert (refused.outcome, refused.is_final) == ("failed", True)
    assert (CallTally.now().since(before).gets, CallTally.now().since(before).puts) == (1, 0)
    assert ledger_state(customer).enabled

    # The change's own read is an answer from Tatum: it closes the circuit, and the change goes
    # through, once.
    response = support_client.post(url, form, headers=HTMX)
    assert "The customer is now disabled." in text(response)
    assert not circuit_is_open()
    assert not ledger_state(customer).enabled
    entries = AuditEntry.objects.filter(customer_id=customer.id, action=AuditEntry.Action.DISABLE)
    outcomes = list(entries.values_list("outcome", flat=True))
    assert outcomes == ["succeeded", "failed"]
    tally = CallTally.now().since(before)
    assert tally.puts == 1
    assert_every_call_accounted_for(tally)
