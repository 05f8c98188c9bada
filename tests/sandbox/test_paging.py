"""Paging through customers and accounts in both offset modes: no record skipped, none repeated."""

from __future__ import annotations

import pytest

from sandbox.ids import new_ledger_id
from sandbox.models import Customer
from tests.sandbox.conftest import make_account, make_customer

pytestmark = pytest.mark.django_db(transaction=True)


def _ledger(count: int) -> list[str]:
    """`count` customers created in order; returns their ids in creation order."""
    customers = [
        Customer(ledger_id=new_ledger_id(), external_id=f"walk-{number:04d}", active=number % 7 != 0)
        for number in range(count)
    ]
    Customer.objects.bulk_create(customers)
    return list(Customer.objects.order_by("pk").values_list("ledger_id", flat=True))


def _walk(api, page_size: int, next_offset) -> tuple[list[str], int]:
    """Every page until a short one; returns the ids seen and the number of requests made."""
    seen: list[str] = []
    requests_made, offset = 0, 0
    while True:
        page = api.get("/v3/ledger/customer", params={"pageSize": page_size, "offset": offset}).json()
        requests_made += 1
        seen += [item["id"] for item in page]
        if len(page) < page_size:
            return seen, requests_made
        offset = next_offset(offset, page_size)


@pytest.mark.parametrize("page_size", [1, 7, 50])
def test_walking_in_records_mode_sees_every_customer_once_in_order(api, settings, page_size):
    settings.TATUM_OFFSET_MODE = "records"
    expected = _ledger(123)

    seen, made = _walk(api, page_size, lambda offset, size: offset + size)

    assert seen == expected
    assert made == 123 // page_size + 1


@pytest.mark.parametrize("page_size", [1, 7, 50])
def test_walking_in_pages_mode_sees_every_customer_once_in_order(api, settings, page_size):
    settings.TATUM_OFFSET_MODE = "pages"
    expected = _ledger(123)

    seen, made = _walk(api, page_size, lambda offset, size: offset + 1)

    assert seen == expected
    assert made == 123 // page_size + 1


def test_offset_counts_records_in_records_mode(api, settings):
    settings.TATUM_OFFSET_MODE = "records"
    ids = _ledger(10)

    page = api.get("/v3/ledger/customer", params={"pageSize": 3, "offset": 2}).json()

    assert [item["id"] for item in page] == ids[2:5]


def test_offset_counts_pages_in_pages_mode(api, settings):
    settings.TATUM_OFFSET_MODE = "pages"
    ids = _ledger(10)

    page = api.get("/v3/ledger/customer", params={"pageSize": 3, "offset": 2}).json()

    assert [item["id"] for item in page] == ids[6:9]


@pytest.mark.parametrize("mode", ["records", "pages"])
def test_offset_defaults_to_the_first_page_and_past_the_end_is_empty(api, settings, mode):
    settings.TATUM_OFFSET_MODE = mode
    ids = _ledger(4)

    assert [item["id"] for item in api.get("/v3/ledger/customer", params={"pageSize": 3}).json()] == ids[:3]
    assert api.get("/v3/ledger/customer", params={"pageSize": 3, "offset": 40}).json() == []
    assert api.get("/v3/ledger/customer", params={"pageSize": 3, "offset": 10**30}).json() == []


def test_order_is_creation_order_not_id_order(api):
    ids = _ledger(30)

    listed = [item["id"] for item in api.get("/v3/ledger/customer", params={"pageSize": 50}).json()]

    assert listed == ids
    assert ids != sorted(ids)


def test_a_customer_changed_between_pages_keeps_its_place(api, settings):
    settings.TATUM_OFFSET_MODE = "records"
    ids = _ledger(6)
    first = api.get("/v3/ledger/customer", params={"pageSize": 3, "offset": 0}).json()

    api.put(f"/v3/ledger/customer/{ids[1]}", json={"externalId": "zzz-renamed"})
    api.put(f"/v3/ledger/customer/{ids[4]}/disable")
    second = api.get("/v3/ledger/customer", params={"pageSize": 3, "offset": 3}).json()

    assert [item["id"] for item in first + second] == ids


@pytest.mark.parametrize(("mode", "offsets"), [("records", [0, 2, 4]), ("pages", [0, 1, 2])])
def test_customer_accounts_page_in_both_modes(api, settings, mode, offsets):
    settings.TATUM_OFFSET_MODE = mode
    customer = make_customer()
    accounts = [make_account(customer, balance=str(number)).ledger_id for number in range(5)]

    pages = [
        api.get(
            f"/v3/ledger/account/customer/{customer.ledger_id}", params={"pageSize": 2, "offset": offset}
        ).json()
        for offset in offsets
    ]

    assert [item["id"] for page in pages for item in page] == accounts
    assert [len(page) for page in pages] == [2, 2, 1]
