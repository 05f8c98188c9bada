"""Steps the browser journeys share."""

from __future__ import annotations

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
