"""Unknown outcomes: which entries wait for verification, settling them from the page or the command,
against a faked Tatum and against the live sandbox with injected timeouts.
"""

from __future__ import annotations

import io
import re
from datetime import timedelta
from unittest import mock

import pytest
import requests
from django.core.management import call_command
from django.core.management.base import CommandError
from django.utils import timezone
from pytest_django.asserts import assertInHTML

from customers.audit.models import AuditEntry
from customers.audit.selectors import pending_grace
from customers.audit.services import audit_entry_verify
from customers.audit.trail import Actor, audit_entry_close, audit_entry_open, audit_entry_record
from customers.credits.client import tatum_client
from customers.screens import services
from customers.screens.selectors import customer_get
from customers.screens.services import customer_state_change
from customers.tatum import TatumOutcomeUnknown
from sandbox.faults import fault_next, fault_plan_clear, fault_plan_set
from tests.customers.conftest import CUSTOMER_ID, account_json, customer_json, html_ids, url
from tests.users import make_user

Action = AuditEntry.Action
Outcome = AuditEntry.Outcome
GET_CUSTOMER = f"/v3/ledger/customer/{CUSTOMER_ID}"


def unknown_entry(
    user, *, customer_id: str = CUSTOMER_ID, external_id: str = "cust-001", **changes
) -> AuditEntry:
    """A disable whose call timed out: closed as unknown, not sealed."""
    entry = audit_entry_open(
        actor=Actor(user=user, request_id="req-unknown-0001"),
        action=Action.DISABLE,
        customer_id=customer_id,
        customer_external_id=external_id,
        changes=changes or {"enabled": [True, False]},
        reason="chargeback",
    )
    return audit_entry_close(entry, outcome=Outcome.UNKNOWN, error_message="Tatum did not answer in time.")


def pending_entry(user, *, seconds_ago: float, customer_id: str = CUSTOMER_ID) -> AuditEntry:
    """A disable left pending `seconds_ago` seconds ago (the call's answer was never recorded)."""
    started = timezone.now() - timedelta(seconds=seconds_ago)
    with mock.patch("customers.audit.trail.timezone.now", return_value=started):
        return audit_entry_open(
            actor=Actor(user=user),
            action=Action.DISABLE,
            customer_id=customer_id,
            customer_external_id="cust-001",
            changes={"enabled": [True, False]},
        )


def listed_ids(response) -> set[int]:
    rows = html_ids(response.content.decode(), "tr")
    return {int(row.removeprefix("entry-")) for row in rows if re.fullmatch(r"entry-\d+", row)}


# --- Against a faked Tatum ---------------------------------------------------------------------------


@pytest.mark.django_db
def test_unknown_and_stale_pending_changes_are_listed_but_not_fresh_or_settled_ones(
    support_client, support, tatum
):
    unknown = unknown_entry(support)
    # Pending past the client's timeouts: its request can no longer be running.
    stale = pending_entry(support, seconds_ago=pending_grace().total_seconds() + 1)
    pending_entry(support, seconds_ago=pending_grace().total_seconds() - 2)  # may still be running
    audit_entry_record(actor=Actor(user=support), action=Action.ENABLE, outcome=Outcome.SUCCEEDED)
    export = audit_entry_open(actor=Actor(user=support), action=Action.EXPORT_CUSTOMERS)
    audit_entry_close(
        export, outcome=Outcome.UNKNOWN
    )  # not a customer change: reading a customer cannot settle it

    response = support_client.get("/audit/unknown/")

    assert response.status_code == 200
    assert listed_ids(response) == {unknown.pk, stale.pk}
    page = response.content.decode()
    assert f'action="/audit/unknown/{unknown.pk}/verify/"' in page
    assert "Outcome unknown" in page and "Pending" in page
    assert len(tatum.calls) == 0


@pytest.mark.django_db
def test_the_navigation_names_the_page_as_its_title_does(support_client):
    page = support_client.get("/audit/unknown/").content.decode()
    assertInHTML('<a href="/audit/unknown/" aria-current="page">Unknown outcomes</a>', page)
    assertInHTML("<h1>Unknown outcomes</h1>", page)
    assert "<title>Unknown outcomes ·" in page


@pytest.mark.django_db
def test_verify_reads_the_customer_once_and_seals_the_change_as_done(support_client, support, tatum):
    entry = unknown_entry(support)
    tatum.get(url(GET_CUSTOMER), json=customer_json(enabled=False))

    response = support_client.post(f"/audit/unknown/{entry.pk}/verify/", follow=True)

    assert response.redirect_chain == [("/audit/unknown/", 302)]
    assert (
        f"Entry #{entry.pk} (disable of cust-001): verified, the change is in place."
        in response.content.decode()
    )
    assert len(tatum.calls) == 1
    entry.refresh_from_db()
    assert entry.outcome == Outcome.SUCCEEDED and entry.is_final
    assert "the change is in place" in entry.error_message
    check = AuditEntry.objects.get(action=Action.VERIFY)
    assert (check.actor, check.outcome, check.customer_id) == (support, Outcome.SUCCEEDED, CUSTOMER_ID)
    assert f"Entry #{entry.pk}" in check.reason
    assert listed_ids(response) == set()


@pytest.mark.django_db
def test_the_customer_pages_verify_button_settles_the_change_and_comes_back_to_the_customer(
    support_client, support, tatum
):
    entry = unknown_entry(support)
    tatum.get(url(GET_CUSTOMER), json=customer_json(enabled=True))
    tatum.get(url(f"/v3/ledger/account/customer/{CUSTOMER_ID}"), json=[account_json()])
    page = support_client.get(f"/customers/{CUSTOMER_ID}/").content.decode()
    back = f"/customers/{CUSTOMER_ID}/"
    assertInHTML(f'<input type="hidden" name="next" value="{back}">', page)
    assert f'action="/audit/unknown/{entry.pk}/verify/"' in page
    tatum.get(url(GET_CUSTOMER), json=customer_json(enabled=False))
    tatum.get(url(f"/v3/ledger/account/customer/{CUSTOMER_ID}"), json=[account_json()])

    response = support_client.post(f"/audit/unknown/{entry.pk}/verify/", {"next": back}, follow=True)

    assert response.redirect_chain == [(back, 302)]
    assert "verified, the change is in place." in response.content.decode()
    assert f'action="/audit/unknown/{entry.pk}/verify/"' not in response.content.decode()
    entry.refresh_from_db()
    assert entry.outcome == Outcome.SUCCEEDED and entry.is_final


@pytest.mark.django_db
@pytest.mark.parametrize(
    "next_url",
    ["https://evil.example/", "//evil.example/", "http://testserver.evil.example/", "/\\evil.example/"],
)
def test_verify_ignores_a_next_address_on_another_site(support_client, support, tatum, next_url):
    entry = unknown_entry(support)
    tatum.get(url(GET_CUSTOMER), json=customer_json(enabled=False))

    response = support_client.post(f"/audit/unknown/{entry.pk}/verify/", {"next": next_url})

    assert response.status_code == 302
    assert response["Location"] == "/audit/unknown/"
    assert AuditEntry.objects.get(pk=entry.pk).outcome == Outcome.SUCCEEDED


@pytest.mark.django_db
def test_verifying_an_entry_already_settled_goes_back_to_the_customer_it_came_from(
    support_client, support, tatum
):
    entry = audit_entry_record(
        actor=Actor(user=support), action=Action.DISABLE, outcome=Outcome.SUCCEEDED, customer_id=CUSTOMER_ID
    )
    back = f"/customers/{CUSTOMER_ID}/"

    response = support_client.post(f"/audit/unknown/{entry.pk}/verify/", {"next": back})

    assert (response.status_code, response["Location"]) == (302, back)
    assert len(tatum.calls) == 0
    assert not AuditEntry.objects.filter(action=Action.VERIFY).exists()


@pytest.mark.django_db
def test_verify_seals_the_change_as_failed_when_the_customer_is_unchanged(support_client, support, tatum):
    entry = unknown_entry(support)
    tatum.get(url(GET_CUSTOMER), json=customer_json(enabled=True))

    response = support_client.post(f"/audit/unknown/{entry.pk}/verify/", follow=True)

    assert "verified, the change did not happen." in response.content.decode()
    entry.refresh_from_db()
    assert entry.outcome == Outcome.FAILED and entry.is_final


@pytest.mark.django_db
@pytest.mark.parametrize(
    "failure,words",
    [
        (requests.ConnectionError("refused"), "Tatum cannot be reached right now."),
        (
            {"status": 500, "json": {"statusCode": 500, "message": "Internal server error"}},
            "Tatum had an internal error.",
        ),
        (
            {
                "status": 401,
                "json": {"statusCode": 401, "errorCode": "subscription.invalid", "message": "No."},
            },
            "Tatum does not accept the dashboard&#x27;s API key.",
        ),
    ],
)
def test_an_upstream_error_during_verify_is_explained_and_leaves_the_entry_open(
    support_client, support, tatum, monkeypatch, failure, words
):
    monkeypatch.setattr("customers.tatum.TatumClient._retry_delay", lambda *args: 0)
    entry = unknown_entry(support)
    if isinstance(failure, Exception):
        tatum.get(url(GET_CUSTOMER), body=failure)
    else:
        tatum.get(url(GET_CUSTOMER), **failure)

    response = support_client.post(f"/audit/unknown/{entry.pk}/verify/", follow=True)

    assert response.status_code == 200
    page = response.content.decode()
    assert f"Entry #{entry.pk} (disable of cust-001) could not be verified: {words}" in page
    entry.refresh_from_db()
    assert entry.outcome == Outcome.UNKNOWN and not entry.is_final
    assert entry.pk in listed_ids(response)
    check = AuditEntry.objects.get(action=Action.VERIFY)
    assert check.outcome == Outcome.FAILED and check.actor == support


@pytest.mark.django_db
def test_verifying_a_settled_entry_says_so_and_calls_nothing(support_client, support, tatum):
    entry = audit_entry_record(actor=Actor(user=support), action=Action.DISABLE, outcome=Outcome.SUCCEEDED)

    response = support_client.post(f"/audit/unknown/{entry.pk}/verify/", follow=True)

    assert "is already settled, or is not waiting for verification" in response.content.decode()
    assert len(tatum.calls) == 0


@pytest.mark.django_db
def test_a_fresh_pending_entry_cannot_be_settled_while_its_request_may_be_running(
    support_client, support, tatum
):
    entry = pending_entry(support, seconds_ago=5)

    support_client.post(f"/audit/unknown/{entry.pk}/verify/")

    assert len(tatum.calls) == 0
    assert AuditEntry.objects.get(pk=entry.pk).outcome == Outcome.PENDING


@pytest.mark.django_db
def test_compliance_sees_the_list_without_verify_buttons(client, compliance, support, tatum):
    unknown_entry(support)
    client.force_login(compliance)

    page = client.get("/audit/unknown/").content.decode()

    assert "Outcome unknown" in page
    assert "/verify/" not in page
    assert "Support staff settle these" in page


@pytest.mark.django_db
def test_the_command_settles_each_entry_and_carries_on_past_failures(support, tatum, monkeypatch):
    monkeypatch.setattr("customers.tatum.TatumClient._retry_delay", lambda *args: 0)
    other = "6f00000000000000000000aa"
    done = unknown_entry(support)
    broken = unknown_entry(support, customer_id=other, external_id="cust-002")
    third = "6f00000000000000000000bb"
    not_done = pending_entry(support, seconds_ago=1800, customer_id=third)
    tatum.get(url(GET_CUSTOMER), json=customer_json(enabled=False))
    tatum.get(url(f"/v3/ledger/customer/{third}"), json=customer_json(id=third, enabled=True))
    tatum.get(
        url(f"/v3/ledger/customer/{other}"), status=500, json={"statusCode": 500, "message": "Internal error"}
    )
    out, err = io.StringIO(), io.StringIO()

    with pytest.raises(CommandError) as failure:
        call_command("verify_unknown_outcomes", stdout=out, stderr=err)

    assert str(failure.value) == (
        "3 entries to verify: 1 happened, 1 did not happen, 0 could not be determined, 0 already settled, "
        "1 could not be verified."
    )
    lines = out.getvalue().splitlines()
    assert f"Entry #{done.pk} (disable of cust-001): verified, the change is in place." in lines
    assert f"Entry #{not_done.pk} (disable of cust-001): verified, the change did not happen." in lines
    assert (
        f"Entry #{broken.pk} (disable of cust-002) could not be verified: Tatum had an internal error."
        in (err.getvalue())
    )
    assert AuditEntry.objects.get(pk=broken.pk).outcome == Outcome.UNKNOWN
    assert AuditEntry.objects.filter(action=Action.VERIFY, actor_username="(system)").count() == 3


@pytest.mark.django_db
def test_the_command_with_nothing_to_do_says_so(db):
    out = io.StringIO()
    call_command("verify_unknown_outcomes", stdout=out)
    assert out.getvalue().strip() == (
        "0 entries to verify: 0 happened, 0 did not happen, 0 could not be determined, 0 already settled, "
        "0 could not be verified."
    )


# --- Against the live sandbox ------------------------------------------------------------------------

live = pytest.mark.django_db(transaction=True)


@pytest.fixture
def sandbox(live_server, settings):
    """The dashboard's client pointed at the sandbox that the live server serves."""
    settings.TATUM_API_URL = f"{live_server.url}/sandbox"
    settings.TATUM_TIMEOUT = (1.0, 0.5)
    fault_plan_set(timeout_seconds=1.0)
    yield live_server
    fault_plan_clear()


def fault_at_the_write(monkeypatch, kind: str) -> None:
    """Fail the next write with `kind`: armed after the state change has read the customer."""
    check_writes = services.circuit_check_writes

    def check_then_arm() -> None:
        check_writes()
        fault_next(kind)

    monkeypatch.setattr(services, "circuit_check_writes", check_then_arm)


def sandbox_customer(external_id: str):
    account = tatum_client().create_account(currency="BTC", external_id=external_id)
    return customer_get(customer_id=account.customer_id).customer


@live
def test_a_disable_that_timed_out_on_the_live_sandbox_is_verified_as_done(client, sandbox, monkeypatch):
    support = make_user("Support", "sam")
    customer = sandbox_customer("audit-live-timeout")
    fault_at_the_write(
        monkeypatch, "timeout_after"
    )  # the sandbox disables the customer, then answers too late
    result = customer_state_change(
        actor=Actor(user=support), customer_id=customer.id, action=Action.DISABLE, reason="chargeback"
    )
    assert isinstance(result.error, TatumOutcomeUnknown)
    entry = AuditEntry.objects.get(action=Action.DISABLE)
    assert entry.outcome == Outcome.UNKNOWN and not entry.is_final
    client.force_login(support)

    assert entry.pk in listed_ids(client.get("/audit/unknown/"))
    response = client.post(f"/audit/unknown/{entry.pk}/verify/", follow=True)

    assert "verified, the change is in place." in response.content.decode()
    entry.refresh_from_db()
    assert entry.outcome == Outcome.SUCCEEDED and entry.is_final
    assert tatum_client().get_customer(customer.id).enabled is False
    assert AuditEntry.objects.get(action=Action.VERIFY).actor == support
    out = io.StringIO()
    call_command("verify_audit", stdout=out)
    assert out.getvalue().startswith("Audit chain intact: 2 sealed entries verified, 0 not sealed yet")


@live
def test_the_command_settles_a_crashed_change_against_the_live_sandbox_and_survives_its_errors(sandbox):
    support = make_user("Support", "sam")
    customer = sandbox_customer("audit-live-crash")
    crashed = pending_entry(support, seconds_ago=1200, customer_id=customer.id)  # never reached Tatum
    fault_next("500")  # the customer read fails (a 500 is not retried)
    out, err = io.StringIO(), io.StringIO()

    with pytest.raises(CommandError, match="1 could not be verified"):
        call_command("verify_unknown_outcomes", stdout=out, stderr=err)
    assert "could not be verified: Tatum had an internal error." in err.getvalue()
    assert AuditEntry.objects.get(pk=crashed.pk).outcome == Outcome.PENDING

    call_command("verify_unknown_outcomes", stdout=out, stderr=err)

    assert (
        f"Entry #{crashed.pk} (disable of cust-001): verified, the change did not happen." in out.getvalue()
    )
    crashed.refresh_from_db()
    assert crashed.outcome == Outcome.FAILED and crashed.is_final
    assert tatum_client().get_customer(customer.id).enabled is True


@live
def test_an_upstream_failure_while_verifying_on_the_page_is_a_message_not_a_500(client, sandbox):
    support = make_user("Support", "sam")
    customer = sandbox_customer("audit-live-drop")
    entry = unknown_entry(support, customer_id=customer.id, external_id=customer.external_id)
    fault_next("drop", count=4)
    client.force_login(support)

    response = client.post(f"/audit/unknown/{entry.pk}/verify/", follow=True)

    assert response.status_code == 200
    assert (
        f"Entry #{entry.pk} (disable of audit-live-drop) could not be verified:" in response.content.decode()
    )
    assert AuditEntry.objects.get(pk=entry.pk).outcome == Outcome.UNKNOWN


# --- Honest settlement -------------------------------------------------------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("enabled_now", "outcome", "said"),
    [
        (False, Outcome.SUCCEEDED, "the change is in place"),
        (True, Outcome.FAILED, "the change did not happen"),
    ],
)
def test_with_nothing_changed_since_settling_compares_the_state_read_now(
    support, tatum, enabled_now, outcome, said
):
    entry = unknown_entry(support)
    tatum.get(url(GET_CUSTOMER), json=customer_json(enabled=enabled_now))
    settled = services_verify(entry)
    assert settled.outcome == outcome and said in settled.error_message


@pytest.mark.django_db
@pytest.mark.parametrize("later_outcome", [Outcome.SUCCEEDED, Outcome.UNKNOWN])
def test_a_later_change_makes_the_outcome_undetermined_whatever_the_state_reads(
    support, tatum, later_outcome
):
    """The disable reached Tatum, someone then enabled the customer: "enabled" now says nothing about
    whether the disable happened."""
    entry = unknown_entry(support)
    later = audit_entry_record(
        actor=Actor(user=support),
        action=Action.ENABLE,
        outcome=later_outcome,
        customer_id=CUSTOMER_ID,
        changes={"enabled": [False, True]},
    )
    tatum.get(url(GET_CUSTOMER), json=customer_json(enabled=True))
    settled = services_verify(entry)
    assert settled.outcome == Outcome.UNDETERMINED and settled.is_final
    assert f"entry #{later.pk} (enable" in settled.error_message
    assert "Read now: enabled is yes." in settled.error_message


@pytest.mark.django_db
def test_later_refused_or_failed_changes_do_not_make_the_outcome_undetermined(support, tatum):
    entry = unknown_entry(support)
    for outcome in (Outcome.FAILED, Outcome.DENIED):
        audit_entry_record(
            actor=Actor(user=support), action=Action.ENABLE, outcome=outcome, customer_id=CUSTOMER_ID
        )
    tatum.get(url(GET_CUSTOMER), json=customer_json(enabled=False))
    assert services_verify(entry).outcome == Outcome.SUCCEEDED


@pytest.mark.django_db
def test_a_customer_holding_neither_value_is_undetermined(support, tatum):
    entry = unknown_entry(support, customerCountry=["DE", "FR"])
    tatum.get(url(GET_CUSTOMER), json=customer_json(customerCountry="AT"))
    settled = services_verify(entry)
    assert settled.outcome == Outcome.UNDETERMINED
    assert "neither the old nor the new value" in settled.error_message
    assert "customerCountry is AT" in settled.error_message


@pytest.mark.django_db
def test_the_verify_button_says_when_the_outcome_could_not_be_determined(support_client, support, tatum):
    entry = unknown_entry(support)
    audit_entry_record(
        actor=Actor(user=support), action=Action.ENABLE, outcome=Outcome.SUCCEEDED, customer_id=CUSTOMER_ID
    )
    tatum.get(url(GET_CUSTOMER), json=customer_json(enabled=True))
    page = support_client.post(f"/audit/unknown/{entry.pk}/verify/", follow=True).content.decode()
    assert "whether the change happened could not be determined" in page


@pytest.mark.django_db
def test_a_pending_entry_past_the_clients_timeouts_is_offered_for_verify_on_the_customer_page(
    support_client, support, tatum
):
    stale = pending_entry(support, seconds_ago=pending_grace().total_seconds() + 1)
    tatum.get(url(GET_CUSTOMER), json=customer_json())
    tatum.get(url(f"/v3/ledger/account/customer/{CUSTOMER_ID}"), json=[])
    page = support_client.get(f"/customers/{CUSTOMER_ID}/").content.decode()
    assert f'action="/audit/unknown/{stale.pk}/verify/"' in page


def services_verify(entry: AuditEntry) -> AuditEntry:
    return audit_entry_verify(entry=entry)
