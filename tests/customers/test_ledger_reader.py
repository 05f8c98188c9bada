"""The ledger reader shared by exports and the index sync, with Tatum faked by `responses`."""

from __future__ import annotations

import pytest
from responses import matchers

from customers.index.reader import CallLog, LedgerReader, read_window
from tests.customers.conftest import customer_json, url

pytestmark = pytest.mark.django_db

LIST = url("/v3/ledger/customer")


def serve(tatum, full_pages: int) -> None:
    """`full_pages` pages of 50 customers, then empty pages for the reads past the end."""
    for page in range(full_pages + 8):
        customers = (
            [customer_json(id=f"{page * 50 + n:024x}") for n in range(50)] if page < full_pages else []
        )
        query = matchers.query_param_matcher({"pageSize": "50", "offset": str(page * 50)})
        tatum.get(LIST, match=[query], json=customers)


@pytest.mark.parametrize("concurrency", [1, 2, 4])
def test_reads_go_on_while_the_caller_stores_a_page(tatum, settings, concurrency):
    settings.TATUM_MAX_RPS = 1000
    serve(tatum, 12)
    window = read_window(concurrency)
    handed = []

    with LedgerReader(calls=CallLog(), concurrency=concurrency, interval=0.05) as reader:
        for page in reader.pages():
            if page is None:
                continue
            handed.append(page.number)
            if not page.is_last:
                # While the caller holds this page, as many reads are under way as the window allows.
                ahead = reader.next_to_read - (page.number + 1)
                assert len(reader.in_flight) == concurrency or ahead == window

    assert handed == list(range(13))
    assert 13 <= reader.next_to_read < 13 + window


def read_all(concurrency: int, **options) -> list[int]:
    """The numbers of the pages handed out."""
    with LedgerReader(calls=CallLog(), concurrency=concurrency, interval=0.05, **options) as reader:
        return [page.number for page in reader.pages() if page is not None]


@pytest.mark.parametrize("concurrency", [2, 4])
def test_a_ledger_that_ends_where_it_ended_last_time_costs_no_read_past_its_end(tatum, settings, concurrency):
    settings.TATUM_MAX_RPS = 1000
    serve(tatum, 12)  # 600 customers: the short page is page 12, empty

    handed = read_all(concurrency, expected_last_page=12)

    assert handed == list(range(13))
    assert len(tatum.calls) == 13, "one call a page, none past the end"


@pytest.mark.parametrize("expected_last_page", [3, 20], ids=["it grew", "it shrank"])
def test_a_ledger_that_grew_or_shrank_since_is_still_read_to_its_end(tatum, settings, expected_last_page):
    settings.TATUM_MAX_RPS = 1000
    serve(tatum, 12)

    handed = read_all(4, expected_last_page=expected_last_page)

    assert handed == list(range(13))
    assert 13 <= len(tatum.calls) < 13 + read_window(4), "the reads past the end that were under way"
