"""Reading the whole ledger from Tatum, page after page: what exports and the index sync both do.

Tatum has no filters and no total count, so reading every customer means reading 50 customers a page
until a page comes back short. A few threads read pages (up to `concurrency` requests in flight, all
under the client's process-wide `TATUM_MAX_RPS`) and pages are handed out in page order as they arrive,
so a reader holds at most a small window of pages and a set of ids, never the whole customer base.

Retries are the Tatum client's alone (reads, up to 1 + `TATUM_MAX_RETRIES` calls): a page that still
fails stops the read (`PageFailed`), so no page ever costs more than that many credits.

Threads only speak HTTP: the client's call records are collected in a `CallLog` that the coordinating
thread (the one iterating the pages) drains and stores, so no reading thread opens a database
connection that it would have to close.
"""

from __future__ import annotations

import contextvars
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from types import TracebackType

from customers.credits.client import tatum_client
from customers.tatum import MAX_PAGE_SIZE, CallRecord, Customer, TatumError, TatumProtocolError
from customers.user_messages import message_for

PAGE_SIZE = MAX_PAGE_SIZE


class SamePageTwice(TatumProtocolError):
    """Tatum answered a full page with the previous page again: it ignored the offset, which means
    `TATUM_OFFSET_MODE` does not match how it counts. Reading on would never end."""


class PageFailed(Exception):
    """A page could not be read (after the client's own retries), so the read cannot be complete."""

    def __init__(self, page: int, error: TatumError) -> None:
        super().__init__(f"Page {page + 1} could not be read: {error}")
        self.page = page
        self.error = error

    @property
    def error_code(self) -> str:
        """Tatum's error code, else the HTTP status, else the kind of failure (a garbled answer came
        with a 200: its class says more than its status)."""
        error = self.error
        status_code = f"http_{error.status}" if error.status and error.status >= 300 else ""
        return (error.error_code or status_code or type(error).__name__)[:100]

    @property
    def reason(self) -> str:
        """What went wrong and what to do, in the words of `customers.user_messages`."""
        if isinstance(self.error, SamePageTwice):
            return (
                f"Page {self.page + 1} came back the same as the page before it: "
                "check the TATUM_OFFSET_MODE setting."
            )
        user_message = message_for(self.error)
        return f"Page {self.page + 1} could not be read. {user_message.title} {user_message.next_step}"


class _Stopped(Exception):
    """A page read skipped because the reader is stopping."""


def read_window(concurrency: int) -> int:
    """How many pages a reader may have read and not yet handed out: those in flight, and those that
    arrived early and wait for an earlier, slower page."""
    return 2 * max(1, int(concurrency))


class CallLog:
    """Collects the client's call records from the reading threads for the coordinator to store.

    Every call beyond the first of a page read is the client retrying it, so retries are calls less reads.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._records: list[CallRecord] = []
        self._calls = 0
        self._reads = 0

    def add(self, record: CallRecord) -> None:
        with self._lock:
            self._records.append(record)
            self._calls += 1

    def count_read(self) -> None:
        with self._lock:
            self._reads += 1

    @property
    def retries(self) -> int:
        # While a read waits for its first answer it is counted and its call is not yet: never below 0.
        with self._lock:
            return max(0, self._calls - self._reads)

    def drain(self) -> list[CallRecord]:
        with self._lock:
            records, self._records = self._records, []
            return records


@dataclass(frozen=True)
class LedgerPage:
    """One page as read: its number (from 0), the customers not handed out before, how many customers
    the page held, and how many of them were repeats of customers on earlier pages."""

    number: int
    customers: list[Customer]
    read: int
    duplicates: int

    @property
    def is_last(self) -> bool:
        return self.read < PAGE_SIZE


class LedgerReader:
    """Reads the ledger from `first_page` to the end; use it as a context manager, iterate `pages()`.

    `pages()` yields each page in order, and None whenever `interval` seconds pass with no page to
    hand out, so the caller can report progress while a slow page is read. Leaving the `with` block
    (at the end, or on an exception) stops reading and waits for the reads in flight, calling `on_wait`
    every `interval` meanwhile: their calls are charged, so they are in `calls` when it returns.

    Offset paging over a ledger that changes while it is read can repeat a customer: each id is handed
    out once. `seen` holds the keys (`key(customer)`, by default the id) of customers already handed
    out by an earlier read that this one continues.

    `expected_last_page` is where the ledger ended the last time it was read whole (a sync knows it): no
    read past it starts before it is in, so a ledger that has not grown costs no read past its end.
    When it has grown, reading goes on at full speed after a pause of one round trip.
    """

    def __init__(
        self,
        *,
        calls: CallLog,
        concurrency: int,
        interval: float,
        window: int | None = None,
        first_page: int = 0,
        expected_last_page: int | None = None,
        seen: set[str] | None = None,
        key: Callable[[Customer], str] | None = None,
        on_wait: Callable[[], None] | None = None,
        name: str = "ledger",
    ) -> None:
        self.calls = calls
        self.concurrency = max(1, int(concurrency))
        self.window = window or read_window(self.concurrency)
        self.interval = interval
        self.first_page = first_page
        self.expected_last_page = expected_last_page
        self.seen = seen if seen is not None else set()
        self.key = key or _customer_id
        self.on_wait = on_wait
        self.name = name
        self.stop = threading.Event()
        self.in_flight: dict[int, Future[list[Customer]]] = {}
        self.next_to_read = first_page
        self.previous_ids: list[str] = []
        self.client = tatum_client(on_call=calls.add)

    def __enter__(self) -> LedgerReader:
        self.pool = ThreadPoolExecutor(max_workers=self.concurrency, thread_name_prefix=self.name)
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop.set()
        self.pool.shutdown(wait=False, cancel_futures=True)
        self._wait_for_reads()
        self.pool.shutdown(wait=True)

    def pages(self) -> Iterator[LedgerPage | None]:
        """Keep up to `concurrency` pages in flight; hand them out in page order; stop after a short page.

        Raises PageFailed for the first page (in order) that could not be read.
        """
        in_flight = self.in_flight
        arrived: dict[int, Future[list[Customer]]] = {}
        self.next_to_read = next_to_hand = self.first_page
        done = False
        while not done:
            self._fill(next_to_hand)
            wait(in_flight.values(), timeout=self.interval, return_when=FIRST_COMPLETED)
            for page in [page for page, future in in_flight.items() if future.done()]:
                arrived[page] = in_flight.pop(page)
            handed = False
            while not done and next_to_hand in arrived:
                # A failure surfaces only in turn: a page after the last one may fail harmlessly.
                page = self._page(next_to_hand, _page_result(next_to_hand, arrived.pop(next_to_hand)))
                done = page.is_last
                next_to_hand += 1
                handed = True
                if not done:
                    # The next reads start before the caller stores this page, not after.
                    self._fill(next_to_hand)
                yield page
            if not handed:
                yield None

    def _fill(self, next_to_hand: int) -> None:
        """Start reads until `concurrency` are in flight or the window is full. Past the expected last
        page, none until that page is in: if it is short, nothing was read past the end."""
        expected = self.expected_last_page
        while len(self.in_flight) < self.concurrency and self.next_to_read - next_to_hand < self.window:
            if expected is not None and self.next_to_read > expected >= next_to_hand:
                return
            self.in_flight[self.next_to_read] = self._submit(self.next_to_read)
            self.next_to_read += 1

    def _page(self, number: int, customers: list[Customer]) -> LedgerPage:
        ids = [customer.id for customer in customers]
        if self.previous_ids and len(customers) == PAGE_SIZE and ids == self.previous_ids:
            raise PageFailed(number, SamePageTwice("Tatum returned the same page twice."))
        self.previous_ids = ids
        fresh = []
        for customer in customers:
            key = self.key(customer)
            if key not in self.seen:
                self.seen.add(key)
                fresh.append(customer)
        return LedgerPage(number, fresh, len(customers), len(customers) - len(fresh))

    def _wait_for_reads(self) -> None:
        """Let the reads in flight return (their calls are charged and recorded), still reporting."""
        # Reads the pool cancelled before they started never finish: `wait` would wait for them forever.
        pending = {future for future in self.in_flight.values() if not future.cancelled()}
        while pending:
            _, pending = wait(pending, timeout=self.interval)
            if pending and self.on_wait is not None:
                self.on_wait()

    def _submit(self, page: int) -> Future[list[Customer]]:
        # Each read runs in a copy of this context, so its log lines and headers carry the run's request id.
        context = contextvars.copy_context()
        return self.pool.submit(context.run, self._read_page, page)

    def _read_page(self, page: int) -> list[Customer]:
        """One page (runs in a reading thread). The client retries what may pass; nothing here does."""
        if self.stop.is_set():
            raise _Stopped
        self.calls.count_read()
        return self.client.list_customers(page_size=PAGE_SIZE, page=page)


def _customer_id(customer: Customer) -> str:
    return customer.id


def _page_result(page: int, future: Future[list[Customer]]) -> list[Customer]:
    try:
        return future.result()
    except TatumError as error:
        raise PageFailed(page, error) from error
