"""Steps the browser journeys share."""

from __future__ import annotations

import time

from playwright.sync_api import Error as PlaywrightError
from playwright.sync_api import Page, expect

from customers.credits.client import tatum_client
from customers.tatum import Customer
from tests.users import PASSWORD


def sign_in(page: Page, base_url: str, username: str) -> None:
    page.goto(f"{base_url}/accounts/login/")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("button", name="Sign out")).to_be_visible()


def sandbox_customer(external_id: str, **fields: str) -> Customer:
    """A customer created in the live sandbox the only way Tatum allows: by opening an account."""
    account = tatum_client().create_account(currency="BTC", external_id=external_id, **fields)
    return tatum_client().get_customer(account.customer_id)


def watch_progress(page: Page, panel: str, stat: str, *, reloads: bool = False) -> list[int]:
    """The figure `stat` of the polled progress panel `panel` each time it changes, until the run has
    ended. With `reloads`, the page reloads itself when the run ends: a read that meets the reload is
    taken again."""
    seen: list[int] = []
    progress = page.locator(panel)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            status = progress.get_attribute("data-status", timeout=2000 if reloads else None)
            text = progress.locator(f'[data-stat="{stat}"]').inner_text(timeout=2000 if reloads else None)
        except PlaywrightError:
            if not reloads:
                raise
            continue
        value = int(text.replace(",", ""))
        if not seen or seen[-1] != value:
            seen.append(value)
        if status in ("succeeded", "failed", "cancelled"):
            return seen
        page.wait_for_timeout(100)
    raise AssertionError(f"the run did not finish; {stat} seen: {seen}")
