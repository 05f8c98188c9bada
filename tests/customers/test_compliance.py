"""Compliance review: cases opened on compliance gaps or flagged by an officer, claimed, noted, moved on
and cleared; the queue with its filters, counts and CSV; who may do what; and every action in the
audit chain."""

from __future__ import annotations

import csv
import io
from datetime import timedelta

import pytest
from django.core.management import call_command
from django.test import Client
from django.utils import timezone

from customers.audit.chain import audit_chain_verify
from customers.audit.models import AuditEntry
from customers.audit.trail import Actor
from customers.compliance.models import CaseNote, CaseNoteImmutable, ComplianceCase
from customers.compliance.services import (
    CaseRefused,
    case_claim,
    case_flag,
    case_note_add,
    case_status_change,
    case_unassign,
    cases_open_for_gaps,
    customer_case_get,
)
from customers.index.models import CustomerRecord
from customers.index.records import READ_AGAIN_WITHIN
from customers.index.services import records_seen
from customers.tatum import Customer
from tests.customers.conftest import CUSTOMER_ID, customer_json, html_elements, index_row, url
from tests.users import make_user

pytestmark = pytest.mark.django_db

Action = AuditEntry.Action
Outcome = AuditEntry.Outcome
Status = ComplianceCase.Status
QUEUE = "/compliance/"


def body(response) -> str:
    return response.content.decode()


def customer(number: int, *, country: str | None = "DE", provider: str | None = "CZ", **fields) -> Customer:
    return Customer(
        id=f"{number:024x}",
        external_id=fields.pop("external_id", f"cust-{number:03d}"),
        active=True,
        enabled=True,
        accounting_currency="EUR",
        customer_country=country,
        provider_country=provider,
        **fields,
    )


def record(number: int, **fields) -> CustomerRecord:
    """A row of the index, written the way a sync writes it (a gap opens its case)."""
    (written,) = records_seen([customer(number, **fields)], seen_by=CustomerRecord.SeenBy.SYNC)
    return CustomerRecord.objects.get(tatum_id=written.tatum_id)


def gap_row(number: int, *, country: str, provider: str, seen_by: str) -> CustomerRecord:
    """A row of the index with a compliance gap, written straight to the table (no case opened)."""
    return index_row(
        f"{number:024x}",
        external_id=f"gap-{number}",
        seen_at=timezone.now(),
        customer_country=country,
        provider_country=provider,
        last_seen_by=seen_by,
    )


def case_on(record_: CustomerRecord, *, by, reason: str = "Sanctions list near-match") -> ComplianceCase:
    return case_flag(record=record_, reason=reason, actor=Actor(user=by))


def entries(action: str):
    return AuditEntry.objects.filter(action=action).order_by("id")


def logged_in(client, user):
    client.force_login(user)
    return client


# --- Who may do what -----------------------------------------------------------------------------


def test_signed_out_visitors_are_sent_to_sign_in(client):
    response = client.get(QUEUE)
    assert response.status_code == 302 and response["Location"].startswith("/accounts/login/")


@pytest.mark.parametrize(("role", "status"), [("Support", 403), ("Compliance", 200), ("Manager", 200)])
def test_the_queue_and_a_case_are_open_to_compliance_and_managers_only(client, role, status):
    case = case_on(record(1), by=make_user("Compliance", "olivia"))
    logged_in(client, make_user(role, "someone"))
    assert client.get(QUEUE).status_code == status
    assert client.get(f"/compliance/{case.pk}/").status_code == status
    assert client.get("/compliance/export/").status_code == status


@pytest.mark.parametrize("role", ["Support", "Manager"])
@pytest.mark.parametrize(
    ("path", "action", "data"),
    [
        ("claim", Action.CASE_CLAIM, {}),
        ("unassign", Action.CASE_UNASSIGN, {}),
        ("notes", Action.CASE_NOTE, {"text": "Looks fine"}),
        ("status", Action.CASE_STATUS, {"status": "in_review"}),
    ],
)
def test_only_compliance_officers_act_on_cases_and_refusals_are_audited(client, role, path, action, data):
    case = case_on(record(1), by=make_user("Compliance", "olivia"))
    logged_in(client, make_user(role, "someone"))
    response = client.post(f"/compliance/{case.pk}/{path}/", data)
    assert response.status_code == 403
    refused = AuditEntry.objects.get(action=action)
    assert refused.outcome == Outcome.DENIED and refused.actor_username == "someone"
    case.refresh_from_db()
    assert case.assignee is None and case.status == Status.OPEN and not case.notes.exists()


def test_managers_see_the_case_without_the_actions(client):
    case = case_on(record(1), by=make_user("Compliance", "olivia"))
    page = body(logged_in(client, make_user("Manager", "mia")).get(f"/compliance/{case.pk}/"))
    assert "Sanctions list near-match" in page
    assert "Claim this case" not in page and "Add a note" not in page
    assert "Compliance</a>" in page  # the navigation item


def test_support_has_no_compliance_navigation(client, tatum):
    page = body(logged_in(client, make_user("Support", "sam")).get("/"))
    assert "/compliance/" not in page


def test_actions_need_a_post_with_a_csrf_token(client):
    case = case_on(record(1), by=make_user("Compliance", "olivia"))
    strict = Client(enforce_csrf_checks=True)
    strict.force_login(make_user("Compliance", "oscar"))
    assert strict.post(f"/compliance/{case.pk}/claim/").status_code == 403
    assert (
        logged_in(client, make_user("Compliance", "otto")).get(f"/compliance/{case.pk}/claim/").status_code
        == 405
    )
    case.refresh_from_db()
    assert case.assignee is None


# --- Cases opened by the dashboard ---------------------------------------------------------------


def test_a_gap_opens_one_case_however_often_it_is_seen():
    gap = customer(1, country=None)
    records_seen([gap, customer(2)], seen_by=CustomerRecord.SeenBy.SYNC)
    records_seen([gap], seen_by=CustomerRecord.SeenBy.READ)
    rows = CustomerRecord.objects.filter(tatum_id=gap.id)
    assert cases_open_for_gaps(rows) == 0

    case = ComplianceCase.objects.get()
    assert case.record.tatum_id == gap.id and case.status == Status.OPEN
    assert case.opened_by is None and case.opened_by_username == ""
    assert case.reason == "Customer country missing (found by a sync)."
    (opened,) = entries(Action.CASE_OPEN)
    assert opened.actor_username == "(system)" and opened.actor is None
    assert opened.outcome == Outcome.SUCCEEDED and opened.is_final
    assert opened.customer_id == gap.id and opened.customer_external_id == "cust-001"
    assert opened.changes == {"case": case.pk}


def test_a_batch_of_gaps_opens_its_cases_each_with_its_own_entry_sealed_in_order():
    rows = [
        gap_row(number, country=country, provider=provider, seen_by=CustomerRecord.SeenBy.SYNC)
        for number, (country, provider) in enumerate(
            [("", "CZ"), ("DE", ""), ("", ""), ("DE", ""), ("", "CZ")], start=1
        )
    ]
    with_case = rows[1]
    assert cases_open_for_gaps([with_case]) == 1
    first_entry = entries(Action.CASE_OPEN).get()

    # The row with a case is left alone; a row given twice gets one case, its second entry failed.
    assert cases_open_for_gaps([*rows, rows[0]]) == 4

    cases = {case.record_id: case for case in ComplianceCase.objects.all()}
    assert set(cases) == {row.pk for row in rows}
    batch = list(entries(Action.CASE_OPEN).exclude(pk=first_entry.pk).order_by("sequence"))
    assert [entry.customer_external_id for entry in batch] == ["gap-1", "gap-3", "gap-4", "gap-5", "gap-1"]
    assert [entry.outcome for entry in batch] == [Outcome.SUCCEEDED] * 4 + [Outcome.FAILED]
    assert batch[-1].error_message == "A case was already open for this customer."
    assert [entry.changes["case"] for entry in batch[:4]] == [
        cases[row.pk].pk for row in (rows[0], rows[2], rows[3], rows[4])
    ]
    assert [entry.reason for entry in batch[:3]] == [
        "Customer country missing (found by a sync).",
        "Both countries missing (found by a sync).",
        "Provider country missing (found by a sync).",
    ]
    assert [entry.sequence for entry in batch] == list(
        range(first_entry.sequence + 1, first_entry.sequence + 6)
    )
    assert audit_chain_verify().ok


def test_each_missing_country_is_named_in_the_reason():
    records_seen(
        [customer(1, provider=None), customer(2, country=None, provider=None)],
        seen_by=CustomerRecord.SeenBy.READ,
    )
    reasons = sorted(ComplianceCase.objects.values_list("reason", flat=True))
    assert reasons == [
        "Both countries missing (found by a read).",
        "Provider country missing (found by a read).",
    ]


def test_the_request_that_found_a_gap_is_kept_on_the_entry_not_its_user():
    olivia = make_user("Compliance", "olivia")
    row = gap_row(1, country="", provider="CZ", seen_by=CustomerRecord.SeenBy.READ)
    assert cases_open_for_gaps([row], actor=Actor(user=olivia, request_id="req-found-it")) == 1
    (opened,) = entries(Action.CASE_OPEN)
    assert opened.actor_username == "(system)" and opened.request_id == "req-found-it"


def test_a_cleared_case_is_final_and_a_gap_still_there_opens_a_new_one():
    olivia = make_user("Compliance", "olivia")
    first = ComplianceCase.objects.get(record=record(1, country=None))
    actor = Actor(user=olivia)
    case_claim(case=first, actor=actor)
    case_status_change(case=first, status=Status.IN_REVIEW, reason="", actor=actor)
    case_status_change(case=first, status=Status.CLEARED, reason="Country on file", actor=actor)

    record(1, country=None)
    second = ComplianceCase.objects.exclude(pk=first.pk).get()
    assert second.status == Status.OPEN
    assert customer_case_get("1".rjust(24, "0")) == second


def test_after_a_case_is_cleared_a_read_within_the_minute_waits_and_the_next_written_read_reopens():
    olivia = make_user("Compliance", "olivia")
    gap = customer(1, country=None)
    (seen,) = records_seen([gap], seen_by=CustomerRecord.SeenBy.READ)
    first = ComplianceCase.objects.get(record=seen)
    actor = Actor(user=olivia)
    case_claim(case=first, actor=actor)
    case_status_change(case=first, status=Status.IN_REVIEW, reason="", actor=actor)
    case_status_change(case=first, status=Status.CLEARED, reason="Country on file", actor=actor)

    # Read again within the minute: the earlier read checked this row's case, nothing is written.
    records_seen([gap], seen_by=CustomerRecord.SeenBy.READ, at=seen.last_seen_at + timedelta(seconds=30))
    assert not ComplianceCase.objects.exclude(pk=first.pk).exists()

    records_seen([gap], seen_by=CustomerRecord.SeenBy.READ, at=seen.last_seen_at + READ_AGAIN_WITHIN)
    assert ComplianceCase.objects.exclude(pk=first.pk).get().status == Status.OPEN


# --- Flagging a customer -------------------------------------------------------------------------


def test_an_officer_flags_a_customer_from_its_page(client):
    olivia = make_user("Compliance", "olivia")
    row = record(1)
    response = logged_in(client, olivia).post(
        f"/customers/{row.tatum_id}/flag/", {"reason": "Adverse media, ticket 55"}
    )
    assert response.status_code == 302 and response["Location"] == f"/customers/{row.tatum_id}/"
    case = ComplianceCase.objects.get()
    assert case.opened_by == olivia and case.opened_by_username == "olivia"
    assert case.reason == "Adverse media, ticket 55"
    (opened,) = entries(Action.CASE_OPEN)
    assert opened.actor_username == "olivia" and opened.reason == "Adverse media, ticket 55"
    assert opened.customer_id == row.tatum_id and opened.changes["case"] == case.pk


def test_flagging_a_customer_with_a_case_under_way_changes_nothing(client):
    olivia = make_user("Compliance", "olivia")
    row = record(1, country=None)  # the sync opened a case
    response = logged_in(client, olivia).post(
        f"/customers/{row.tatum_id}/flag/", {"reason": "Again"}, follow=True
    )
    assert ComplianceCase.objects.count() == 1
    assert "is already open for this customer" in body(response)
    with pytest.raises(CaseRefused):
        case_on(row, by=olivia)


@pytest.mark.parametrize("reason", ["", "   ", "x" * 1001, "null\x00byte"])
def test_flagging_without_a_usable_reason_changes_nothing(client, reason):
    row = record(1)
    response = logged_in(client, make_user("Compliance", "olivia")).post(
        f"/customers/{row.tatum_id}/flag/", {"reason": reason}, follow=True
    )
    assert "Nothing was flagged" in body(response)
    assert not ComplianceCase.objects.exists() and not entries(Action.CASE_OPEN).exists()


def test_flagging_a_customer_the_index_has_not_seen_reads_it_from_tatum_first(client, tatum):
    tatum.get(url(f"/v3/ledger/customer/{CUSTOMER_ID}"), json=customer_json())
    response = logged_in(client, make_user("Compliance", "olivia")).post(
        f"/customers/{CUSTOMER_ID}/flag/", {"reason": "Tip from the bank"}
    )
    assert response.status_code == 302
    case = ComplianceCase.objects.get()
    assert case.record.tatum_id == CUSTOMER_ID and case.record.external_id == "cust-001"


def test_support_cannot_flag_and_the_refusal_is_audited(client):
    row = record(1)
    response = logged_in(client, make_user("Support", "sam")).post(
        f"/customers/{row.tatum_id}/flag/", {"reason": "x"}
    )
    assert response.status_code == 403 and not ComplianceCase.objects.exists()
    denied = AuditEntry.objects.get(action=Action.CASE_OPEN)
    assert denied.outcome == Outcome.DENIED and denied.customer_id == row.tatum_id


# --- Claiming, notes and status ------------------------------------------------------------------


def test_when_two_officers_claim_at_once_one_wins_and_the_other_is_told():
    olivia, oscar = make_user("Compliance", "olivia"), make_user("Compliance", "oscar")
    case = case_on(record(1), by=olivia)
    seen_by_oscar = ComplianceCase.objects.get(pk=case.pk)  # read before olivia's claim lands

    case_claim(case=case, actor=Actor(user=olivia))
    with pytest.raises(CaseRefused, match="Someone claimed this case a moment before you") as refused:
        case_claim(case=seen_by_oscar, actor=Actor(user=oscar))
    assert "assigned to olivia" in str(refused.value)

    case.refresh_from_db()
    assert case.assignee == olivia
    won, lost = entries(Action.CASE_CLAIM)
    assert (won.actor_username, won.outcome) == ("olivia", Outcome.SUCCEEDED)
    assert (lost.actor_username, lost.outcome) == ("oscar", Outcome.FAILED)


def test_a_claimed_case_tells_the_next_officer_who_has_it(client):
    olivia = make_user("Compliance", "olivia")
    case = case_on(record(1), by=olivia)
    case_claim(case=case, actor=Actor(user=olivia))
    response = logged_in(client, make_user("Compliance", "oscar")).post(
        f"/compliance/{case.pk}/claim/", follow=True
    )
    assert "olivia already has this case" in body(response)
    case.refresh_from_db()
    assert case.assignee == olivia


def test_claim_and_unassign_from_the_case_page_record_who_had_it(client):
    olivia = make_user("Compliance", "olivia")
    case = case_on(record(1), by=olivia)
    logged_in(client, make_user("Compliance", "oscar"))
    client.post(f"/compliance/{case.pk}/claim/")
    case.refresh_from_db()
    assert case.assignee.username == "oscar"
    logged_in(client, olivia).post(f"/compliance/{case.pk}/unassign/")
    case.refresh_from_db()
    assert case.assignee is None
    (claim,) = entries(Action.CASE_CLAIM)
    (unassign,) = entries(Action.CASE_UNASSIGN)
    assert claim.changes == {"case": case.pk, "assignee": "oscar"}
    assert unassign.changes == {"case": case.pk, "assignee": ["oscar", None]}
    assert unassign.actor_username == "olivia"


def test_notes_are_appended_and_never_changed():
    olivia = make_user("Compliance", "olivia")
    case = case_on(record(1), by=olivia)
    first = case_note_add(case=case, text="Called the customer", actor=Actor(user=olivia))
    case_note_add(case=case, text="=1+2", actor=Actor(user=olivia))

    assert list(case.notes.values_list("text", flat=True)) == ["Called the customer", "=1+2"]
    first.text = "Something else"
    with pytest.raises(CaseNoteImmutable):
        first.save()
    with pytest.raises(CaseNoteImmutable):
        first.delete()
    assert CaseNote.objects.get(pk=first.pk).text == "Called the customer"
    noted = entries(Action.CASE_NOTE)
    assert [entry.reason for entry in noted] == ["Called the customer", "=1+2"]
    assert noted[0].changes == {"case": case.pk}


def test_a_note_from_the_page_and_an_empty_one(client):
    case = case_on(record(1), by=make_user("Compliance", "olivia"))
    logged_in(client, make_user("Compliance", "oscar"))
    assert (
        client.post(f"/compliance/{case.pk}/notes/", {"text": "  Checked the passport  "}).status_code == 302
    )
    empty = client.post(f"/compliance/{case.pk}/notes/", {"text": "   "}, HTTP_HX_REQUEST="true")
    assert empty.status_code == 422 and "Write the note first." in body(empty)
    assert list(case.notes.values_list("text", "author_username")) == [("Checked the passport", "oscar")]


def test_the_status_moves_on_only_for_the_officer_who_has_the_case():
    olivia, oscar = make_user("Compliance", "olivia"), make_user("Compliance", "oscar")
    case = case_on(record(1), by=olivia)
    with pytest.raises(CaseRefused, match="Claim the case first"):
        case_status_change(case=case, status=Status.IN_REVIEW, reason="", actor=Actor(user=olivia))
    case_claim(case=case, actor=Actor(user=olivia))
    with pytest.raises(CaseRefused, match="Claim the case first"):
        case_status_change(case=case, status=Status.IN_REVIEW, reason="", actor=Actor(user=oscar))
    with pytest.raises(CaseRefused, match="cannot become cleared"):
        case_status_change(case=case, status=Status.CLEARED, reason="ok", actor=Actor(user=olivia))

    case = case_status_change(case=case, status=Status.IN_REVIEW, reason="", actor=Actor(user=olivia))
    case = case_status_change(
        case=case, status=Status.ESCALATED, reason="Needs the MLRO", actor=Actor(user=olivia)
    )
    assert case.status == Status.ESCALATED and case.closed_at is None
    assert customer_case_get(case.record.tatum_id) == case  # escalated is still under way
    case = case_status_change(
        case=case, status=Status.CLEARED, reason="MLRO: no match", actor=Actor(user=olivia)
    )
    assert case.status == Status.CLEARED and case.closed_at is not None
    with pytest.raises(CaseRefused):
        case_unassign(case=case, actor=Actor(user=olivia))
    moves = [entry.changes["status"] for entry in entries(Action.CASE_STATUS)]
    assert moves == [["Open", "In review"], ["In review", "Escalated"], ["Escalated", "Cleared"]]
    assert [entry.reason for entry in entries(Action.CASE_STATUS)] == ["", "Needs the MLRO", "MLRO: no match"]


def test_clearing_from_the_page_needs_a_reason(client):
    olivia = make_user("Compliance", "olivia")
    case = case_on(record(1), by=olivia)
    case_claim(case=case, actor=Actor(user=olivia))
    case_status_change(case=case, status=Status.IN_REVIEW, reason="", actor=Actor(user=olivia))
    logged_in(client, olivia)
    response = client.post(f"/compliance/{case.pk}/status/", {"status": "cleared", "reason": " "})
    assert response.status_code == 422 and "Give a reason for this decision" in body(response)
    bogus = client.post(f"/compliance/{case.pk}/status/", {"status": "deleted"})
    assert bogus.status_code == 422
    case.refresh_from_db()
    assert case.status == Status.IN_REVIEW
    client.post(f"/compliance/{case.pk}/status/", {"status": "cleared", "reason": "Documents match"})
    case.refresh_from_db()
    assert case.status == Status.CLEARED


def test_an_htmx_action_answers_with_the_case_card_and_says_what_happened(client):
    case = case_on(record(1), by=make_user("Compliance", "olivia"))
    response = logged_in(client, make_user("Compliance", "oscar")).post(
        f"/compliance/{case.pk}/claim/", HTTP_HX_REQUEST="true"
    )
    page = body(response)
    assert response.status_code == 200
    ids = [attrs.get("id") for _, attrs in html_elements(page, "section")]
    assert ids == ["case-card", "case-history"]
    assert "The case is assigned to you." in page and "Claim case" in page  # the new audit entry
    assert "<html" not in page


def test_an_unknown_case_is_not_found(client):
    logged_in(client, make_user("Compliance", "olivia"))
    assert client.get("/compliance/999/").status_code == 404
    assert client.post("/compliance/999/claim/").status_code == 404


def test_every_case_action_is_sealed_into_the_audit_chain():
    olivia = make_user("Compliance", "olivia")
    actor = Actor(user=olivia)
    record(1, country=None)
    case = ComplianceCase.objects.get()
    case_claim(case=case, actor=actor)
    case_note_add(case=case, text="Asked for proof of address", actor=actor)
    case_status_change(case=case, status=Status.IN_REVIEW, reason="", actor=actor)
    case_unassign(case=case, actor=actor)
    case_claim(case=case, actor=actor)
    case_status_change(case=case, status=Status.CLEARED, reason="Address confirmed", actor=actor)

    case_entries = AuditEntry.objects.filter(changes__case=case.pk).order_by("sequence")
    assert [entry.action for entry in case_entries] == [
        Action.CASE_OPEN,
        Action.CASE_CLAIM,
        Action.CASE_NOTE,
        Action.CASE_STATUS,
        Action.CASE_UNASSIGN,
        Action.CASE_CLAIM,
        Action.CASE_STATUS,
    ]
    assert all(entry.is_final and entry.outcome == Outcome.SUCCEEDED for entry in case_entries)
    report = audit_chain_verify()
    assert report.ok and report.sealed == AuditEntry.objects.count() and report.open == 0
    out = io.StringIO()
    call_command("verify_audit", stdout=out)
    assert out.getvalue().startswith(f"Audit chain intact: {report.sealed} sealed entries verified")


def test_the_case_page_lists_its_audit_entries(client):
    olivia = make_user("Compliance", "olivia")
    case = case_on(record(1), by=olivia)
    case_note_add(case=case, text="First look", actor=Actor(user=olivia))
    other = case_on(record(2), by=olivia, reason="Unrelated reason")
    page = body(logged_in(client, olivia).get(f"/compliance/{case.pk}/"))
    assert "Case note" in page and "First look" in page
    assert "Unrelated reason" not in page and other.pk != case.pk


# --- The queue -----------------------------------------------------------------------------------


@pytest.fixture
def queue():
    """Five cases: two officers, three countries, ages of 1 to 30 days, one cleared."""
    olivia, oscar = make_user("Compliance", "olivia"), make_user("Compliance", "oscar")
    cases = {
        "de": case_on(record(1, country="DE", provider="MT", external_id="acme-de"), by=olivia),
        "fr": case_on(record(2, country="FR", provider="DE", external_id="bistro-fr"), by=olivia),
        "it": case_on(record(3, country="IT", provider="IT", external_id="caffe-it"), by=olivia),
        "nl": case_on(record(4, country="NL", provider="NL", external_id="dijk-nl"), by=olivia),
        "cz": case_on(record(5, country="CZ", provider="CZ", external_id="praha-cz"), by=olivia),
    }
    case_claim(case=cases["de"], actor=Actor(user=olivia))
    case_claim(case=cases["fr"], actor=Actor(user=oscar))
    case_claim(case=cases["cz"], actor=Actor(user=oscar))
    case_status_change(case=cases["cz"], status=Status.IN_REVIEW, reason="", actor=Actor(user=oscar))
    case_status_change(case=cases["cz"], status=Status.CLEARED, reason="Fine", actor=Actor(user=oscar))
    now = timezone.now()
    for key, days in {"de": 30, "fr": 10, "it": 5, "nl": 1, "cz": 40}.items():
        ComplianceCase.objects.filter(pk=cases[key].pk).update(opened_at=now - timedelta(days=days))
    return {"olivia": olivia, "oscar": oscar, **cases}


def listed(client, query: str = "") -> list[str]:
    page = body(client.get(f"{QUEUE}?{query}"))
    return [attrs["id"] for _, attrs in html_elements(page, "tr") if attrs.get("id", "").startswith("case-")]


def row_ids(queue, *keys: str) -> list[str]:
    return [f"case-{queue[key].pk}" for key in keys]


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("", ["de", "fr", "it", "nl"]),  # not cleared, oldest first
        ("status=all", ["cz", "de", "fr", "it", "nl"]),
        ("status=cleared", ["cz"]),
        ("status=open", ["de", "fr", "it", "nl"]),
        ("assignee=me", ["de"]),
        ("assignee=none", ["it", "nl"]),
        ("assignee=oscar&status=all", ["cz", "fr"]),
        ("country=DE", ["de", "fr"]),  # the customer's country or the provider's
        ("age=7", ["de", "fr"]),
        ("age=7&country=MT&assignee=me", ["de"]),
    ],
)
def test_the_queue_filters(client, queue, query, expected):
    logged_in(client, queue["olivia"])
    assert listed(client, query) == row_ids(queue, *expected)


def test_the_queue_counts_cases_by_status_under_the_other_filters(client, queue):
    logged_in(client, queue["olivia"])
    page = body(client.get(QUEUE))
    assert "4 cases" in page
    links = {attrs.get("aria-label") for _, attrs in html_elements(page, "a") if attrs.get("aria-label")}
    assert {"4 open", "0 in review", "0 escalated", "1 cleared"} <= links
    narrowed = body(client.get(f"{QUEUE}?assignee=oscar"))
    labels = {attrs.get("aria-label") for _, attrs in html_elements(narrowed, "a") if attrs.get("aria-label")}
    assert {"1 open", "1 cleared"} <= labels
    assert "the 1 case shown by these filters" in narrowed


def test_the_queue_pages_fifty_at_a_time(client):
    olivia = make_user("Compliance", "olivia")
    records_seen([customer(n, country=None) for n in range(1, 53)], seen_by=CustomerRecord.SeenBy.SYNC)
    logged_in(client, olivia)
    assert len(listed(client)) == 50
    assert len(listed(client, "page=2")) == 2
    assert len(listed(client, "page=abc")) == 50  # a bad page number shows the first page


@pytest.mark.parametrize(
    "query", ["age=-1", "age=abc", "status=deleted", "country=XX", "assignee=nobody-at-all"]
)
def test_bad_filters_say_what_to_correct_and_list_nothing(client, queue, query):
    logged_in(client, queue["olivia"])
    response = client.get(f"{QUEUE}?{query}")
    assert response.status_code == 200
    assert "These filters cannot be used" in body(response) and listed(client, query) == []
    assert client.get(f"/compliance/export/?{query}").status_code == 302


def test_the_csv_is_safe_to_open_in_a_spreadsheet_and_never_cached(client):
    olivia = make_user("Compliance", "olivia")
    case_on(
        record(1, external_id="=cmd|' /C calc'!A0"), by=olivia, reason='=HYPERLINK("http://evil.example")'
    )
    response = logged_in(client, make_user("Manager", "mia")).get("/compliance/export/?status=all")
    assert response.status_code == 200
    assert response["Cache-Control"] == "private, no-store"
    assert response["Content-Disposition"].startswith('attachment; filename="compliance-cases-')
    rows = list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode())))
    header, (row,) = rows[0], rows[1:]
    assert header[:4] == ["Case", "Status", "Customer external id", "Customer internal id"]
    assert row[2] == "'=cmd|' /C calc'!A0"
    assert row[header.index("Reason")] == '\'=HYPERLINK("http://evil.example")'
    assert row[header.index("Opened by")] == "olivia"


def test_the_csv_holds_what_the_filters_show(client, queue):
    response = logged_in(client, queue["olivia"]).get("/compliance/export/?country=DE")
    rows = list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert [row[2] for row in rows[1:]] == ["acme-de", "bistro-fr"]


def test_each_csv_download_is_in_the_audit_log_with_its_count_and_filters(client, queue):
    manager = make_user("Manager", "mia")
    logged_in(client, manager).get("/compliance/export/?country=DE&status=all")
    logged_in(client, queue["olivia"]).get("/compliance/export/")

    mias, olivias = entries(Action.EXPORT_CASES)
    assert (mias.actor, mias.outcome, mias.is_final) == (manager, Outcome.SUCCEEDED, True)
    assert mias.reason == "Exported 2 cases as CSV. Filters: status = all, country = DE."
    assert olivias.actor == queue["olivia"]
    assert olivias.reason.endswith("Filters: none (cases under way).")
    assert audit_chain_verify().ok


def test_a_refused_csv_download_is_not_recorded_as_one(client, queue):
    response = logged_in(client, queue["olivia"]).get("/compliance/export/?age=soon")
    assert response.status_code == 302
    assert not entries(Action.EXPORT_CASES).exists()


# --- The customer's page -------------------------------------------------------------------------


@pytest.fixture
def detail_page(tatum):
    """The customer's page reads the customer and its accounts from (faked) Tatum."""
    tatum.get(url(f"/v3/ledger/customer/{CUSTOMER_ID}"), json=customer_json())
    tatum.get(url(f"/v3/ledger/account/customer/{CUSTOMER_ID}"), json=[])
    return f"/customers/{CUSTOMER_ID}/"


def customer_case(**fields) -> ComplianceCase:
    row, *_ = records_seen([Customer.from_json(customer_json())], seen_by=CustomerRecord.SeenBy.READ)
    olivia = make_user("Compliance", "olivia")
    case = case_on(CustomerRecord.objects.get(tatum_id=CUSTOMER_ID), by=olivia, **fields)
    case_claim(case=case, actor=Actor(user=olivia))
    case_note_add(case=case, text="Waiting for the bank", actor=Actor(user=olivia))
    return case


def test_compliance_sees_the_case_on_the_customers_page(client, detail_page):
    case = customer_case()
    page = body(logged_in(client, make_user("Compliance", "oscar")).get(detail_page))
    assert f'href="/compliance/{case.pk}/"' in page
    assert "Waiting for the bank" in page and "olivia" in page and "Sanctions list near-match" in page
    assert "Flag for review" not in page  # a case is under way


def test_support_sees_only_the_case_status_on_the_customers_page(client, detail_page):
    case = customer_case()
    page = body(logged_in(client, make_user("Support", "sam")).get(detail_page))
    assert f"Case #{case.pk}" in page and ">Open</span>" in page
    assert f"/compliance/{case.pk}/" not in page
    assert "Waiting for the bank" not in page and "Sanctions list near-match" not in page
    assert "Flag for review" not in page
    history = body(client.get(f"{detail_page}history/"))
    assert "Waiting for the bank" not in history and "Case note" not in history


def test_an_officer_can_flag_a_customer_without_a_case(client, detail_page):
    page = body(logged_in(client, make_user("Compliance", "oscar")).get(detail_page))
    assert "Flag for review" in page and f'action="/customers/{CUSTOMER_ID}/flag/"' in page
    manager_page = body(logged_in(client, make_user("Manager", "mia")).get(detail_page))
    assert "Flag for review" not in manager_page


def test_the_audit_log_links_each_case_entry_to_its_case(client):
    olivia = make_user("Compliance", "olivia")
    case = case_on(record(1), by=olivia)
    case_claim(case=case, actor=Actor(user=olivia))
    page = body(logged_in(client, olivia).get("/audit/"))
    links = [attrs["href"] for _, attrs in html_elements(page, "a")]
    assert links.count(f"/compliance/{case.pk}/") == 2  # the opening and the claim
    assert "Assignee</span>: olivia" in page and "case</span>:" not in page.lower()
    csv_text = b"".join(logged_in(client, olivia).get("/audit/export/").streaming_content).decode()
    assert f"case: {case.pk}; assignee: olivia" in csv_text


def test_the_officer_with_an_escalated_gap_case_sees_the_moves_and_what_clearing_means(client):
    olivia = make_user("Compliance", "olivia")
    case = ComplianceCase.objects.get(record=record(1, provider=None))
    for step in (
        lambda c: case_claim(case=c, actor=Actor(user=olivia)),
        lambda c: case_status_change(case=c, status=Status.IN_REVIEW, reason="", actor=Actor(user=olivia)),
        lambda c: case_status_change(
            case=c, status=Status.ESCALATED, reason="MLRO", actor=Actor(user=olivia)
        ),
    ):
        case = step(case)
    page = body(logged_in(client, olivia).get(f"/compliance/{case.pk}/"))
    buttons = [
        text
        for text in ("Back to review", "Clear", "Escalate", "Start review")
        if f">{text}</button>" in page
    ]
    assert buttons == ["Back to review", "Clear"]
    assert "still lacks a country" in page
    other = body(logged_in(client, make_user("Compliance", "oscar")).get(f"/compliance/{case.pk}/"))
    assert "Only olivia, who has the case, can change its status." in other and "Clear</button>" not in other


def test_a_customer_page_shows_the_case_under_way_before_any_cleared_one_and_else_the_latest():
    row = record(1)
    assert customer_case_get(row.tatum_id) is None
    now = timezone.now()

    def case(status: str, days_ago: int) -> ComplianceCase:
        opened = now - timedelta(days=days_ago)
        return ComplianceCase.objects.create(
            record=row, status=status, reason="r", opened_at=opened, updated_at=opened
        )

    case(Status.CLEARED, days_ago=9)
    latest_cleared = case(Status.CLEARED, days_ago=5)
    assert customer_case_get(row.tatum_id) == latest_cleared
    under_way = case(Status.IN_REVIEW, days_ago=7)  # older than the latest cleared one
    assert customer_case_get(row.tatum_id) == under_way
