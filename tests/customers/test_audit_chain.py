"""Tamper evidence: `verify_audit` names the first entry changed, deleted or inserted behind the app's back,
and no code path changes an entry once it is sealed.
"""

from __future__ import annotations

import io
import json

import pytest
import requests
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection

from customers.audit.chain import audit_chain_verify
from customers.audit.models import AuditChainHead, AuditEntry, AuditEntryImmutable
from customers.audit.services import audit_entry_verify
from customers.audit.trail import (
    Actor,
    audit_entries_close,
    audit_entries_open,
    audit_entry_close,
    audit_entry_denied,
    audit_entry_open,
    audit_entry_record,
)
from customers.screens.services import customer_state_change
from customers.tatum import TatumOutcomeUnknown, TatumRuleError
from tests.customers.conftest import CUSTOMER_ID, customer_json, url

pytestmark = pytest.mark.django_db

Action = AuditEntry.Action
Outcome = AuditEntry.Outcome
TABLE = AuditEntry._meta.db_table


@pytest.fixture
def chain(support) -> list[AuditEntry]:
    """Five sealed entries (sequences 1..5) and one still pending."""
    actor = Actor(user=support, request_id="req-chain-0001")
    entries = [
        audit_entry_record(
            actor=actor,
            action=Action.DISABLE,
            outcome=Outcome.SUCCEEDED,
            customer_id=CUSTOMER_ID,
            changes={"enabled": [True, False]},
            reason=f"Ticket {n}",
        )
        for n in range(1, 6)
    ]
    audit_entry_open(actor=actor, action=Action.ENABLE, customer_id=CUSTOMER_ID)
    assert [entry.sequence for entry in entries] == [1, 2, 3, 4, 5]
    return entries


def verify(*args: str) -> str:
    out = io.StringIO()
    call_command("verify_audit", *args, stdout=out)
    return out.getvalue().strip()


def broken(*args: str) -> str:
    with pytest.raises(CommandError) as failure:
        call_command("verify_audit", *args, stdout=io.StringIO())
    message = str(failure.value)
    assert message.startswith("Audit chain broken: ")
    assert "\n" not in message
    return message


def sql(statement: str, params: list | None = None) -> None:
    with connection.cursor() as cursor:
        cursor.execute(statement, params or [])


def test_a_clean_chain_passes_with_its_counts_and_head(chain):
    assert verify() == (
        "Audit chain intact: 5 sealed entries verified, 1 not sealed yet (outcome pending or unknown). "
        f"Head: 5:{chain[-1].entry_hash}"
    )


def test_an_empty_log_passes(db):
    assert verify().startswith("Audit chain intact: 0 sealed entries verified, 0 not sealed yet")


def test_an_entry_changed_in_the_database_is_named(chain):
    sql(f"UPDATE {TABLE} SET reason = %s WHERE id = %s", ["Nothing happened", chain[2].pk])

    message = broken()

    assert (
        f"entry #{chain[2].pk} (sequence 3, disable by support) was changed after it was sealed"
        in message.lower()
    )


def test_an_outcome_flipped_in_the_database_is_named_even_when_later_entries_are_fine(chain):
    sql(f"UPDATE {TABLE} SET outcome = 'failed' WHERE id = %s", [chain[1].pk])
    sql(f"UPDATE {TABLE} SET reason = 'later edit' WHERE id = %s", [chain[3].pk])

    assert f"Entry #{chain[1].pk} (sequence 2," in broken()


def test_an_entry_changed_and_given_a_fresh_hash_breaks_the_link_to_the_next(chain):
    forged = AuditEntry.objects.get(pk=chain[2].pk)
    forged.reason = "Nothing happened"
    sql(
        f"UPDATE {TABLE} SET reason = %s, entry_hash = %s WHERE id = %s",
        [forged.reason, forged.content_hash(forged.prev_hash), forged.pk],
    )

    message = broken()

    assert (
        f"Entry #{chain[3].pk} (sequence 4, disable by support) does not link to entry #{chain[2].pk}"
        in message
    )


def test_a_deleted_entry_is_named_by_its_missing_sequence(chain):
    sql(f"DELETE FROM {TABLE} WHERE id = %s", [chain[2].pk])

    message = broken()

    assert (
        f"The entry with sequence 3 is missing (deleted, or unsealed) before entry #{chain[3].pk}" in message
    )


def test_deleting_the_newest_entries_is_caught_by_the_chain_head(chain):
    sql(f"DELETE FROM {TABLE} WHERE id IN (%s, %s)", [chain[3].pk, chain[4].pk])

    assert "The newest sealed entries (sequences 4 to 5) are missing" in broken()


def test_unsealing_an_entry_counts_as_removing_it_from_the_chain(chain):
    sql(f"UPDATE {TABLE} SET sequence = NULL WHERE id = %s", [chain[1].pk])

    assert "The entry with sequence 2 is missing" in broken()


@pytest.mark.parametrize("sequence", [6, 9, 0])
def test_an_entry_inserted_directly_in_the_database_is_named(chain, sequence):
    # A careful forger: a plausible row whose own hash is right and which links to the last real entry.
    forged = AuditEntry(
        actor_username="support",
        action=Action.ENABLE,
        customer_id=CUSTOMER_ID,
        changes={"enabled": [False, True]},
        reason="Backdated approval",
        outcome=Outcome.SUCCEEDED,
        started_at=chain[0].started_at,
        finished_at=chain[0].finished_at,
        sequence=sequence,
        prev_hash=chain[-1].entry_hash if sequence else "",
    )
    forged.entry_hash = forged.content_hash(forged.prev_hash)
    forged_id = _insert(forged)

    message = broken()

    assert f"Entry #{forged_id} (sequence {sequence}, enable by support) was inserted out of order" in message


def test_a_rewritten_chain_head_is_caught(chain):
    sql(f"UPDATE {AuditChainHead._meta.db_table} SET last_hash = %s", ["0" * 64])

    assert "The chain head's hash does not match the last sealed entry (sequence 5)" in broken()


def test_a_chain_rewritten_wholesale_passes_alone_but_fails_against_a_recorded_anchor(chain):
    anchor = f"3:{chain[2].entry_hash}"
    assert verify("--anchor", anchor)
    _rewrite_from(chain[1].pk, reason="Nothing happened")

    assert verify().startswith("Audit chain intact")
    assert (
        f"Entry #{chain[2].pk} (sequence 3, disable by support) does not match the hash recorded"
        in broken("--anchor", anchor)
    )


def test_an_anchor_past_the_end_of_the_chain_is_a_failure(chain):
    assert "No sealed entry has the recorded sequence 8" in broken("--anchor", f"8:{'a' * 64}")


def test_a_malformed_anchor_is_refused_with_its_format(chain):
    with pytest.raises(CommandError, match="--anchor must be SEQUENCE:HASH"):
        call_command("verify_audit", "--anchor", "3:not-a-hash")
    with pytest.raises(CommandError, match="--start must be SEQUENCE:HASH"):
        call_command("verify_audit", "--start", "three")


def test_a_chain_whose_oldest_entries_were_archived_verifies_from_the_recorded_start(chain):
    start = f"3:{chain[1].entry_hash}"  # recorded when sequences 1 and 2 were archived
    sql(f"DELETE FROM {TABLE} WHERE sequence <= 2")

    assert "The entry with sequences 1 to 2 is missing" in broken()
    assert verify("--start", start).startswith(
        "Audit chain intact: 3 sealed entries verified from sequence 3"
    )
    assert f"Entry #{chain[2].pk} (sequence 3, disable by support) does not link to the start" in broken(
        "--start", f"3:{'0' * 64}"
    )
    assert "The entry with sequence 2 is missing" in broken("--start", f"2:{chain[0].entry_hash}")


def test_the_walk_reads_a_chunk_at_a_time(chain, django_assert_num_queries):
    # The head, the open count, then chunks of two (2 + 2 + 1) and the empty read that ends the walk.
    with django_assert_num_queries(6):
        report = audit_chain_verify(chunk_size=2)
    assert report.ok and report.sealed == 5


# --- No code path changes a sealed entry ----------------------------------------------------------


def test_entries_closed_together_are_sealed_in_order_and_only_with_final_outcomes(chain, support):
    actor = Actor(user=support, request_id="req-batch-0001")
    opened = audit_entries_open(
        actor=actor, action=Action.CASE_OPEN, about=[{"customer_id": "a" * 24}, {"reason": "Second"}]
    )
    assert [entry.outcome for entry in opened] == [Outcome.PENDING] * 2
    assert [entry.request_id for entry in opened] == ["req-batch-0001"] * 2

    with pytest.raises(ValueError, match="only final outcomes"):
        audit_entries_close(
            [(opened[0], {"outcome": Outcome.SUCCEEDED}), (opened[1], {"outcome": Outcome.UNKNOWN})]
        )
    assert not AuditEntry.objects.filter(pk__in=[e.pk for e in opened], sequence__isnull=False).exists()

    audit_entries_close(
        [
            (opened[0], {"outcome": Outcome.SUCCEEDED, "changes": {"case": 7}}),
            (opened[1], {"outcome": Outcome.FAILED, "error_message": "No"}),
        ]
    )
    stored = list(AuditEntry.objects.filter(pk__in=[e.pk for e in opened]).order_by("sequence"))
    assert [(e.sequence, e.outcome) for e in stored] == [(6, Outcome.SUCCEEDED), (7, Outcome.FAILED)]
    assert stored[0].changes == {"case": 7} and stored[1].error_message == "No"
    assert stored[1].prev_hash == stored[0].entry_hash
    assert AuditChainHead.objects.get().last_sequence == 7
    assert verify().startswith("Audit chain intact: 7 sealed entries verified")


def test_a_sealed_entry_refuses_every_way_of_being_changed(chain):
    sealed = AuditEntry.objects.get(pk=chain[0].pk)
    before = AuditEntry.objects.filter(pk=sealed.pk).values().get()

    sealed.reason = "rewritten"
    with pytest.raises(AuditEntryImmutable):
        sealed.save()
    with pytest.raises(AuditEntryImmutable):
        AuditEntry.objects.filter(pk=sealed.pk).update(reason="rewritten")
    with pytest.raises(AuditEntryImmutable):
        AuditEntry.objects.filter(pk=sealed.pk).delete()
    with pytest.raises(AuditEntryImmutable):
        sealed.delete()
    with pytest.raises(ValueError, match="already final"):
        audit_entry_close(sealed, outcome=Outcome.FAILED, error_message="rewritten")

    assert AuditEntry.objects.filter(pk=sealed.pk).values().get() == before
    assert verify().startswith("Audit chain intact")


def test_an_open_entry_saved_through_the_model_is_refused_too(support):
    entry = audit_entry_open(actor=Actor(user=support), action=Action.DISABLE, customer_id=CUSTOMER_ID)
    entry.outcome = Outcome.SUCCEEDED
    with pytest.raises(AuditEntryImmutable):
        entry.save()
    assert AuditEntry.objects.get(pk=entry.pk).outcome == Outcome.PENDING


def test_every_service_path_leaves_sealed_entries_exactly_as_they_were_sealed(support, tatum):
    actor = Actor(user=support, request_id="req-paths-0001")
    base = f"/v3/ledger/customer/{CUSTOMER_ID}"
    # Each state change reads the customer first: these answer those reads in turn, then the verify.
    for enabled in (True, False, False, True):
        tatum.get(url(base), json=customer_json(enabled=enabled))
    tatum.put(url(f"{base}/disable"), status=204)
    tatum.put(
        url(f"{base}/enable"),
        status=403,
        json={"statusCode": 403, "errorCode": "customer.inactive", "message": "Unable to perform operation."},
    )

    def change(action: str, reason: str = ""):
        return customer_state_change(actor=actor, customer_id=CUSTOMER_ID, action=action, reason=reason)

    assert change(Action.DISABLE, "chargeback").error is None
    sealed = _hashes()
    assert isinstance(change(Action.ENABLE).error, TatumRuleError)
    tatum.replace("PUT", url(f"{base}/enable"), body=requests.ReadTimeout("read timed out"))
    assert isinstance(change(Action.ENABLE).error, TatumOutcomeUnknown)
    audit_entry_denied(actor=actor, action=Action.ACTIVATE, customer_id=CUSTOMER_ID)
    audit_entry_verify(entry=AuditEntry.objects.get(outcome=Outcome.UNKNOWN))

    after = _hashes()
    assert {pk: after[pk] for pk in sealed} == sealed
    assert len(after) == 4
    assert all(entry.content_hash(entry.prev_hash) == entry.entry_hash for entry in AuditEntry.objects.all())
    assert verify().startswith("Audit chain intact: 4 sealed entries verified, 0 not sealed yet")


def _hashes() -> dict[int, str]:
    return dict(AuditEntry.objects.filter(sequence__isnull=False).values_list("pk", "entry_hash"))


def _insert(entry: AuditEntry) -> int:
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
    placeholders = ", ".join(["%s"] * len(columns))
    sql(f"INSERT INTO {TABLE} ({names}) VALUES ({placeholders})", values)
    return AuditEntry.objects.get(sequence=entry.sequence).pk


def _rewrite_from(entry_id: int, *, reason: str) -> None:
    """Change one entry and re-seal everything after it, head included: what only an anchor reveals."""
    prev_hash = ""
    for entry in AuditEntry.objects.filter(sequence__isnull=False).order_by("sequence"):
        if entry.pk == entry_id:
            entry.reason = reason
        if entry.pk >= entry_id:
            entry.prev_hash = prev_hash
            entry.entry_hash = entry.content_hash(prev_hash)
            sql(
                f"UPDATE {TABLE} SET reason = %s, prev_hash = %s, entry_hash = %s WHERE id = %s",
                [entry.reason, entry.prev_hash, entry.entry_hash, entry.pk],
            )
        prev_hash = entry.entry_hash
    sql(f"UPDATE {AuditChainHead._meta.db_table} SET last_hash = %s", [prev_hash])
