"""Write-through: the live list, a detail read and a successful write refresh the index rows they saw,
with Tatum faked by `responses`."""

from __future__ import annotations

from datetime import timedelta

import pytest
import requests
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from customers.audit.trail import Actor
from customers.compliance.models import ComplianceCase
from customers.index.models import CustomerRecord
from customers.index.records import READ_AGAIN_WITHIN
from customers.index.services import records_seen
from customers.screens.selectors import customer_fingerprint
from customers.screens.services import customer_state_change, customer_update
from customers.tatum import Customer
from tests.customers.conftest import CUSTOMER_ID, account_json, customer_json, index_row, url

pytestmark = pytest.mark.django_db

CUSTOMER = f"/v3/ledger/customer/{CUSTOMER_ID}"
SeenBy = CustomerRecord.SeenBy


def row(tatum_id: str = CUSTOMER_ID) -> CustomerRecord:
    return CustomerRecord.objects.get(tatum_id=tatum_id)


def old_row(**fields) -> CustomerRecord:
    long_ago = timezone.now() - timedelta(days=10)
    fields.setdefault("external_id", "old-name")
    fields.setdefault("missing_since", long_ago)
    return index_row(CUSTOMER_ID, seen_at=long_ago, **fields)


def test_a_live_list_page_refreshes_every_customer_on_it_in_one_statement(support_client, tatum):
    old_row()
    tatum.get(
        url("/v3/ledger/customer"),
        json=[customer_json(id=f"{n:024x}", externalId=f"live-{n}") for n in range(20)]
        + [customer_json(externalId="renamed")],
    )

    with CaptureQueriesContext(connection) as queries:
        response = support_client.get(reverse("customers:customer_live_list"))

    assert response.status_code == 200
    assert CustomerRecord.objects.count() == 21
    upserts = [q for q in queries.captured_queries if 'INSERT INTO "customers_customerrecord"' in q["sql"]]
    assert len(upserts) == 1, "one statement for the page"
    refreshed = row()
    assert (refreshed.external_id, refreshed.last_seen_by, refreshed.missing_since) == (
        "renamed",
        "read",
        None,
    )
    assert refreshed.first_seen_at < refreshed.last_seen_at


def test_a_live_list_that_fails_writes_nothing(support_client, tatum):
    tatum.get(url("/v3/ledger/customer"), body=requests.ConnectionError("refused"))

    support_client.get(reverse("customers:customer_live_list"))

    assert not CustomerRecord.objects.exists()


def test_a_detail_read_refreshes_the_customer_and_opens_a_case_for_a_gap(support_client, tatum):
    tatum.get(url(CUSTOMER), json=customer_json(providerCountry=None, enabled=False))
    tatum.get(url(f"/v3/ledger/account/customer/{CUSTOMER_ID}"), json=[account_json()])

    response = support_client.get(reverse("customers:customer_detail", args=[CUSTOMER_ID]))

    assert response.status_code == 200
    seen = row()
    assert (seen.enabled, seen.provider_country, seen.compliance_gap, seen.last_seen_by) == (
        False,
        "",
        True,
        "read",
    )
    assert ComplianceCase.objects.get().record == seen


def test_a_detail_read_that_fails_writes_nothing(support_client, tatum):
    tatum.get(url(CUSTOMER), status=500, json={"statusCode": 500})
    tatum.get(url(f"/v3/ledger/account/customer/{CUSTOMER_ID}"), json=[])

    support_client.get(reverse("customers:customer_detail", args=[CUSTOMER_ID]))

    assert not CustomerRecord.objects.exists()


def test_a_successful_state_change_writes_the_new_state(support, tatum):
    old_row()
    tatum.get(url(CUSTOMER), json=customer_json())
    tatum.put(url(f"{CUSTOMER}/disable"), status=204)

    customer_state_change(actor=Actor(user=support), customer_id=CUSTOMER_ID, action="disable", reason="r")

    written = row()
    assert (written.enabled, written.last_seen_by, written.external_id) == (False, "write", "cust-001")


def test_a_state_change_of_unknown_outcome_leaves_the_row_alone(support, tatum):
    before = old_row()
    tatum.get(url(CUSTOMER), json=customer_json())
    tatum.put(url(f"{CUSTOMER}/disable"), body=requests.ReadTimeout("read timed out"))

    customer_state_change(actor=Actor(user=support), customer_id=CUSTOMER_ID, action="disable", reason="r")

    assert row().last_seen_at == before.last_seen_at


def test_a_successful_edit_writes_what_tatum_returned(support, tatum):
    tatum.get(url(CUSTOMER), json=customer_json())
    tatum.put(url(CUSTOMER), json=customer_json(customerCountry="FR"))

    customer_update(
        actor=Actor(user=support),
        customer_id=CUSTOMER_ID,
        fingerprint=customer_fingerprint(Customer.from_json(customer_json())),
        external_id="cust-001",
        accounting_currency=None,
        customer_country="FR",
        provider_country=None,
    )

    written = row()
    assert (written.customer_country, written.last_seen_by) == ("FR", "write")


def test_a_refused_edit_writes_nothing(support, tatum):
    tatum.get(url(CUSTOMER), json=customer_json())
    tatum.put(url(CUSTOMER), status=400, json={"errorCode": "validation.failed", "statusCode": 400})

    with pytest.raises(Exception):  # noqa: B017 (the screens test the error itself)
        customer_update(
            actor=Actor(user=support),
            customer_id=CUSTOMER_ID,
            fingerprint=customer_fingerprint(Customer.from_json(customer_json())),
            external_id="cust-001",
            accounting_currency=None,
            customer_country="FR",
            provider_country=None,
        )

    assert not CustomerRecord.objects.exists()


def test_records_seen_keeps_the_first_sighting_and_counts_a_repeated_customer_once(db):
    first = records_seen([Customer.from_json(customer_json())], seen_by=SeenBy.SYNC)[0]
    later = timezone.now() + timedelta(minutes=5)

    records = records_seen(
        [
            Customer.from_json(customer_json(externalId="a")),
            Customer.from_json(customer_json(externalId="b")),
        ],
        seen_by=SeenBy.READ,
        at=later,
    )

    assert len(records) == 1
    stored = row()
    assert (stored.external_id, stored.first_seen_at, stored.last_seen_at) == (
        "b",
        first.first_seen_at,
        later,
    )


def test_a_customer_seen_unchanged_only_gets_its_sighting_written(db):
    before = old_row(external_id="cust-001", missing_since=None)
    later = timezone.now() + timedelta(minutes=5)

    records_seen([Customer.from_json(customer_json())], seen_by=SeenBy.READ, at=later)

    stored = row()
    assert (stored.last_seen_at, stored.last_seen_by) == (later, "read")
    assert (stored.first_seen_at, stored.external_id, stored.customer_country) == (
        before.first_seen_at,
        "cust-001",
        "DE",
    )


@pytest.mark.parametrize("fields", [{}, {"customerCountry": None}], ids=["complete", "with a gap"])
def test_a_read_again_within_a_minute_of_the_last_read_writes_nothing(db, fields):
    first = records_seen([Customer.from_json(customer_json(**fields))], seen_by=SeenBy.READ)[0]
    soon = first.last_seen_at + READ_AGAIN_WITHIN - timedelta(seconds=1)

    with CaptureQueriesContext(connection) as queries:
        again = records_seen([Customer.from_json(customer_json(**fields))], seen_by=SeenBy.READ, at=soon)

    # One read of the row; its case was opened by the first read, so none is looked for.
    assert again == [] and len(queries.captured_queries) == 1
    assert queries.captured_queries[0]["sql"].startswith("SELECT")
    assert row().last_seen_at == first.last_seen_at


@pytest.mark.parametrize(
    ("seen_by", "after", "fields"),
    [
        (SeenBy.READ, READ_AGAIN_WITHIN, {}),  # a minute on: the sighting is written
        (SeenBy.READ, timedelta(seconds=1), {"customerCountry": "FR"}),  # changed: written at once
        (SeenBy.SYNC, timedelta(seconds=1), {}),  # a sync's sighting is always written
        (SeenBy.WRITE, timedelta(seconds=1), {}),
    ],
)
def test_a_sighting_after_a_read_is_written_when_late_changed_or_not_a_read(db, seen_by, after, fields):
    first = records_seen([Customer.from_json(customer_json())], seen_by=SeenBy.READ)[0]
    later = first.last_seen_at + after

    records_seen([Customer.from_json(customer_json(**fields))], seen_by=seen_by, at=later)

    stored = row()
    assert (stored.last_seen_at, stored.last_seen_by) == (later, seen_by)
    assert stored.customer_country == fields.get("customerCountry", "DE")


def test_a_read_soon_after_a_sync_writes_its_sighting(db):
    first = records_seen([Customer.from_json(customer_json())], seen_by=SeenBy.SYNC)[0]
    later = first.last_seen_at + timedelta(seconds=1)

    records_seen([Customer.from_json(customer_json())], seen_by=SeenBy.READ, at=later)

    assert (row().last_seen_at, row().last_seen_by) == (later, "read")


def test_a_customer_marked_missing_and_seen_unchanged_is_no_longer_missing(db):
    old_row(external_id="cust-001")

    records_seen([Customer.from_json(customer_json())], seen_by=SeenBy.SYNC)

    assert row().missing_since is None
