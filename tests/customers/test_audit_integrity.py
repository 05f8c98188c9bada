"""The audit trail records only what the server knows: what a browser posts beside the reason (hidden
fields, forged or stale) never reaches an entry, so it can neither misname the customer nor poison a
search; and chains sealed before the change still verify, with new entries linked onto them.
"""

from __future__ import annotations

import io
import json
from datetime import UTC, datetime

import pytest
import requests
from django.core.management import call_command
from django.db import connection

from customers.audit.chain import audit_chain_verify
from customers.audit.models import AuditChainHead, AuditEntry
from customers.credits.client import tatum_client
from customers.screens.selectors import customer_fingerprint, customer_get
from customers.tatum import Customer
from sandbox.faults import fault_plan_clear
from tests.customers.conftest import CUSTOMER_ID, customer_json, html_ids, url
from tests.users import make_user

Action = AuditEntry.Action
Outcome = AuditEntry.Outcome
OTHER_ID = "6f00000000000000000000aa"
OTHER_EXTERNAL_ID = "SOMEONE-ELSE-999"
BASE = f"/v3/ledger/customer/{CUSTOMER_ID}"
# Everything the old state change form posted beside the reason, each value a lie.
FORGED = {
    "external_id": OTHER_EXTERNAL_ID,
    "active": "False",
    "enabled": "True",
    "customer_country": "XX",
    "provider_country": "XX",
    "active_accounts": "999",
}
# action -> (the customer as Tatum holds it, so that the action is possible; the flag it changes)
HELD = {
    "activate": ({"active": False, "enabled": True}, "active"),
    "deactivate": ({"active": True, "enabled": False}, "active"),
    "enable": ({"active": True, "enabled": False}, "enabled"),
    "disable": ({"active": True, "enabled": True}, "enabled"),
}


def entry_ids(response) -> list[int]:
    rows = html_ids(response.content.decode(), "tr")
    return [int(row.removeprefix("entry-")) for row in rows if row.startswith("entry-")]


def assert_nothing_posted_was_recorded(entry: AuditEntry) -> None:
    recorded = json.dumps(
        [entry.customer_id, entry.customer_external_id, entry.changes, entry.reason, entry.error_message]
    )
    for value in (OTHER_EXTERNAL_ID, "XX", "999"):
        assert value not in recorded, f"{value!r} was posted, and recorded: {recorded}"


# --- Forged fields, against a faked Tatum ---------------------------------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize("transport", ["htmx", "plain"])
@pytest.mark.parametrize("action", HELD)
def test_forged_fields_posted_to_a_state_change_change_nothing_in_the_trail(
    support_client, tatum, action, transport
):
    held, flag = HELD[action]
    tatum.get(url(BASE), json=customer_json(**held))
    tatum.put(url(f"{BASE}/{action}"), status=204)
    if transport == "plain":  # the customer page the change redirects to
        tatum.get(url(BASE), json=customer_json(**{**held, flag: not held[flag]}))
        tatum.get(url(f"/v3/ledger/account/customer/{CUSTOMER_ID}"), json=[])
    headers = {"HX-Request": "true"} if transport == "htmx" else {}

    response = support_client.post(
        f"/customers/{CUSTOMER_ID}/{action}/", {**FORGED, "reason": "Ticket 77"}, headers=headers, follow=True
    )

    assert response.status_code == 200
    entry = AuditEntry.objects.get(action=action)
    assert (entry.outcome, entry.is_final) == (Outcome.SUCCEEDED, True)
    assert (entry.customer_id, entry.customer_external_id) == (CUSTOMER_ID, "cust-001")
    assert entry.changes == {flag: [held[flag], not held[flag]]}
    assert entry.reason == "Ticket 77"
    assert_nothing_posted_was_recorded(entry)
    assert [call.request.method for call in tatum.calls][:2] == ["GET", "PUT"]


@pytest.mark.django_db
def test_a_forged_before_state_cannot_make_a_change_look_needed_when_tatum_says_it_is_done(
    support_client, tatum
):
    # The browser claims the customer is enabled; Tatum says it is disabled already: nothing is sent.
    tatum.get(url(BASE), json=customer_json(enabled=False))

    support_client.post(
        f"/customers/{CUSTOMER_ID}/disable/", {**FORGED, "enabled": "True", "reason": "Ticket 78"}
    )

    entry = AuditEntry.objects.get(action=Action.DISABLE)
    assert (entry.outcome, entry.is_final) == (Outcome.FAILED, True)
    assert entry.changes == {"enabled": [False, False]}
    assert entry.customer_external_id == "cust-001"
    assert entry.error_message == "Nothing was sent: reading the customer showed it already disabled."
    assert [call.request.method for call in tatum.calls] == ["GET"]


# --- Forged fields, against the live sandbox ----------------------------------------------------


@pytest.fixture
def sandbox(live_server, settings):
    settings.TATUM_API_URL = f"{live_server.url}/sandbox"
    settings.TATUM_TIMEOUT = (1.0, 2.0)
    fault_plan_clear()
    yield live_server
    fault_plan_clear()


@pytest.mark.django_db(transaction=True)
def test_forged_fields_change_nothing_in_the_trail_on_the_live_sandbox(client, sandbox):
    client.force_login(make_user("Support", "sam"))
    account = tatum_client().create_account(
        currency="BTC", external_id="integrity-live-1", customer_country="DE", provider_country="MT"
    )
    customer_id = account.customer_id

    response = client.post(
        f"/customers/{customer_id}/disable/",
        {**FORGED, "reason": "Ticket 79"},
        headers={"HX-Request": "true"},
    )

    assert "The customer is now disabled." in response.content.decode()
    entry = AuditEntry.objects.get(action=Action.DISABLE)
    assert (entry.outcome, entry.is_final) == (Outcome.SUCCEEDED, True)
    assert (entry.customer_id, entry.customer_external_id) == (customer_id, "integrity-live-1")
    assert entry.changes == {"enabled": [True, False]}
    assert_nothing_posted_was_recorded(entry)
    assert customer_get(customer_id=customer_id).customer.enabled is False


# --- Search cannot be poisoned -----------------------------------------------------------------


@pytest.mark.django_db
def test_a_forged_external_id_does_not_put_one_customers_entries_in_anothers_search(
    client, support_client, tatum
):
    other = f"/v3/ledger/customer/{OTHER_ID}"
    tatum.get(url(other), json=customer_json(id=OTHER_ID, externalId=OTHER_EXTERNAL_ID))
    tatum.put(url(f"{other}/disable"), status=204)
    tatum.get(url(BASE), json=customer_json())
    tatum.put(url(f"{BASE}/disable"), status=204)
    headers = {"HX-Request": "true"}
    support_client.post(f"/customers/{OTHER_ID}/disable/", {"reason": "Theirs"}, headers=headers)
    theirs = AuditEntry.objects.get(customer_id=OTHER_ID)
    # A post about the first customer that names the other one's external id.
    support_client.post(f"/customers/{CUSTOMER_ID}/disable/", {**FORGED, "reason": "Mine"}, headers=headers)
    mine = AuditEntry.objects.get(customer_id=CUSTOMER_ID)
    client.force_login(make_user("Compliance", "olivia"))

    found = client.get("/audit/", {"customer": OTHER_EXTERNAL_ID})
    found_mine = client.get("/audit/", {"customer": "cust-001"})
    exported = b"".join(client.get("/audit/export/", {"customer": OTHER_EXTERNAL_ID}).streaming_content)

    assert entry_ids(found) == [theirs.pk]
    assert entry_ids(found_mine) == [mine.pk]
    assert [line.split(",")[0] for line in exported.decode().splitlines()[1:]] == [str(theirs.pk)]


# --- Chains sealed before still verify, with new entries linked on -----------------------------

# Two entries as an earlier release sealed them, with the hashes it computed: if the hash of an
# entry were computed any differently now, every chain already in a database would fail to verify.
SEALED_BEFORE = [
    {
        "sequence": 1,
        "actor_username": "sam",
        "action": "disable",
        "customer_id": CUSTOMER_ID,
        "customer_external_id": "cust-001",
        "changes": {"enabled": [True, False]},
        "reason": "Ticket 1",
        "outcome": "succeeded",
        "http_status": 204,
        "request_id": "req-old-0001",
        "client_ip": "10.0.0.7",
        "user_agent": "Firefox",
        "started_at": datetime(2024, 5, 1, 9, 0, tzinfo=UTC),
        "finished_at": datetime(2024, 5, 1, 9, 0, 1, tzinfo=UTC),
        "prev_hash": "",
        "entry_hash": "0ca9fd545b54a1dc405c348450c195c600303240b1bf385346a673d01a8ead59",
    },
    {
        "sequence": 2,
        "actor_username": "sue",
        "action": "update",
        "customer_id": CUSTOMER_ID,
        "customer_external_id": "cust-001",
        "changes": {"customerCountry": [None, "DE"]},
        "outcome": "failed",
        "http_status": 400,
        "error_code": "validation.failed",
        "error_message": "Request validation failed.",
        "request_id": "req-old-0002",
        "started_at": datetime(2024, 5, 2, 10, 0, tzinfo=UTC),
        "finished_at": datetime(2024, 5, 2, 10, 0, 0, 500000, tzinfo=UTC),
        "prev_hash": "0ca9fd545b54a1dc405c348450c195c600303240b1bf385346a673d01a8ead59",
        "entry_hash": "2c631afa30d289c63b5aee52a71ec2ac435950635fc603ca9102e06e03d49f75",
    },
]


def _insert_sealed(fields: dict) -> None:
    entry = AuditEntry(**fields)
    columns = [f for f in AuditEntry._meta.concrete_fields if not f.primary_key]
    values = []
    for field in columns:
        value = getattr(entry, field.attname)
        if field.name == "changes":
            value = json.dumps(value)
        elif value is not None and field.get_internal_type() == "DateTimeField":
            value = connection.ops.adapt_datetimefield_value(value)
        values.append(value)
    names = ", ".join(connection.ops.quote_name(field.column) for field in columns)
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {AuditEntry._meta.db_table} ({names}) VALUES ({', '.join(['%s'] * len(columns))})",
            values,
        )


@pytest.fixture
def sealed_before(db) -> None:
    for fields in SEALED_BEFORE:
        _insert_sealed(fields)
    AuditChainHead.objects.create(pk=1, last_sequence=2, last_hash=SEALED_BEFORE[-1]["entry_hash"])


def test_a_chain_sealed_by_an_earlier_release_still_verifies(sealed_before):
    report = audit_chain_verify()

    assert report.ok, report.problem
    assert (report.sealed, report.head_hash) == (2, SEALED_BEFORE[-1]["entry_hash"])


@pytest.mark.django_db
def test_the_chain_verifies_after_state_changes_edits_denials_and_verifications(
    client, support_client, tatum, sealed_before
):
    htmx = {"HX-Request": "true"}
    # A disable that goes through, then one that finds the customer already disabled.
    tatum.get(url(BASE), json=customer_json())
    tatum.put(url(f"{BASE}/disable"), status=204)
    support_client.post(f"/customers/{CUSTOMER_ID}/disable/", {"reason": "Ticket 2"}, headers=htmx)
    tatum.replace("GET", url(BASE), json=customer_json(enabled=False))
    support_client.post(f"/customers/{CUSTOMER_ID}/disable/", {"reason": "Ticket 3"}, headers=htmx)
    # An enable whose read fails, then one whose write times out (unknown), settled by Verify.
    tatum.replace("GET", url(BASE), status=500, json={"statusCode": 500, "message": "Internal server error"})
    support_client.post(f"/customers/{CUSTOMER_ID}/enable/", {"reason": ""}, headers=htmx)
    tatum.replace("GET", url(BASE), json=customer_json(enabled=False))
    tatum.put(url(f"{BASE}/enable"), body=requests.ReadTimeout("read timed out"))
    support_client.post(f"/customers/{CUSTOMER_ID}/enable/", {"reason": ""}, headers=htmx)
    unknown = AuditEntry.objects.get(outcome=Outcome.UNKNOWN)
    tatum.replace("GET", url(BASE), json=customer_json(enabled=True))
    support_client.post(f"/audit/unknown/{unknown.pk}/verify/", {"next": f"/customers/{CUSTOMER_ID}/"})
    # An edit, saved from the edit page.
    tatum.put(url(BASE), json=customer_json(customerCountry="FR"))
    edit = {
        "external_id": "cust-001",
        "accounting_currency": "EUR",
        "customer_country": "FR",
        "provider_country": "CZ",
        "fingerprint": customer_fingerprint(Customer.from_json(customer_json(enabled=True))),
    }
    assert support_client.post(f"/customers/{CUSTOMER_ID}/edit/", edit).status_code == 302
    # Refusals: a compliance officer may neither disable nor verify.
    client.force_login(make_user("Compliance", "olivia"))
    client.post(f"/customers/{CUSTOMER_ID}/disable/", {"reason": "Not mine to do"})
    client.post(f"/audit/unknown/{unknown.pk}/verify/")

    outcomes = list(AuditEntry.objects.order_by("sequence").values_list("action", "outcome"))
    assert outcomes == [
        ("disable", "succeeded"),  # sealed before
        ("update", "failed"),  # sealed before
        ("disable", "succeeded"),
        ("disable", "failed"),  # already disabled: nothing sent
        ("enable", "failed"),  # the read failed: nothing sent
        ("enable", "succeeded"),  # unknown, then verified
        ("verify", "succeeded"),
        ("update", "succeeded"),
        ("disable", "denied"),
        ("verify", "denied"),
    ]
    report = audit_chain_verify()
    assert report.ok, report.problem
    assert (report.sealed, report.open) == (10, 0)
    out = io.StringIO()
    call_command("verify_audit", "--anchor", f"2:{SEALED_BEFORE[-1]['entry_hash']}", stdout=out)
    assert out.getvalue().startswith("Audit chain intact: 10 sealed entries verified, 0 not sealed yet")
