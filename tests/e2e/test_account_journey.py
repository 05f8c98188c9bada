"""Support works a customer's accounts in the browser, on the live sandbox: freezes and unfreezes one,
deactivates the customer through the guided job, then activates it and one of its accounts again."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect

from customers.credits.client import tatum_client
from sandbox.models import Account as LedgerAccount
from tests.e2e.helpers import sign_in
from tests.users import make_user

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def customer_with_accounts(external_id: str, count: int) -> tuple[str, list[str]]:
    accounts = [tatum_client().create_account(currency="BTC", external_id=external_id) for _ in range(count)]
    return accounts[0].customer_id, [account.id for account in accounts]


def confirm(page: Page, button: str, reason: str = "") -> None:
    dialog = page.get_by_role("dialog")
    if reason:
        dialog.get_by_label("Reason").fill(reason)
    dialog.get_by_role("button", name=button).click()


def test_support_freezes_an_account_then_deactivates_the_accounts_and_the_customer(page: Page, live_server):
    customer_id, (first, second) = customer_with_accounts("e2e-closing", 2)
    make_user("Support", "sam")
    sign_in(page, live_server.url, "sam")
    page.goto(f"{live_server.url}/customers/{customer_id}/")
    messages = page.get_by_role("status")
    accounts = page.locator("#customer-accounts")
    status = page.locator("#customer-status")

    page.get_by_role("link", name=f"Freeze account {first}").click()
    expect(page.get_by_role("dialog")).to_contain_text("available balance is set to 0")
    confirm(page, "Freeze account", "Suspicious withdrawals, ticket 881")
    expect(messages).to_contain_text(f"Account {first} is now frozen.")
    expect(accounts.locator(f"#account-{first}")).to_contain_text("Frozen")

    page.get_by_role("link", name=f"Unfreeze account {first}").click()
    confirm(page, "Unfreeze account")
    expect(messages).to_contain_text(f"Account {first} is now unfrozen.")
    expect(accounts.locator(f"#account-{first}")).not_to_contain_text("Frozen")

    expect(status.get_by_role("button", name="Deactivate", exact=True)).to_be_disabled()
    expect(status).to_contain_text("2 accounts are still active")
    status.get_by_role("link", name="Deactivate accounts first").click()
    guide = page.get_by_role("dialog")
    expect(guide).to_contain_text("Zero balance: deactivated by step 1")
    expect(guide).to_contain_text("This costs 6 Tatum credits")
    confirm(page, "Deactivate 2 accounts", "Customer closed the relationship")
    expect(messages).to_contain_text("Deactivated 2 accounts. No active account is left")
    expect(accounts).to_contain_text("No active accounts.")

    status.get_by_role("link", name="Deactivate", exact=True).click()
    confirm(page, "Deactivate", "Customer closed the relationship")
    expect(messages).to_contain_text("The customer is now deactivated.")

    history = page.locator("#customer-history")
    for action in ("Freeze account", "Unfreeze account", "Deactivate account"):
        expect(history.get_by_role("cell", name=action, exact=True).first).to_be_visible()
    expect(history.get_by_role("cell", name="Deactivate", exact=True)).to_be_visible()
    expect(history).to_contain_text("Suspicious withdrawals, ticket 881")
    expect(status.get_by_text("Inactive", exact=True)).to_be_visible()
    assert tatum_client().get_customer(customer_id).active is False
    assert not tatum_client().list_customer_accounts(customer_id)

    # The accounts area follows the customer's state without a reload: an inactive customer's accounts
    # wait for it, and once it is active again they can be activated.
    page.evaluate("window.stillTheSamePage = true")
    deactivated = accounts.locator(f"#account-{first}")
    expect(deactivated.get_by_role("button", name="Activate")).to_be_disabled()
    expect(deactivated).to_contain_text("The customer is inactive: activate the customer first.")
    status.get_by_role("link", name="Activate", exact=True).click()
    confirm(page, "Activate", "Relationship resumed")
    expect(messages).to_contain_text("The customer is now activated.")
    expect(deactivated).not_to_contain_text("activate the customer first")
    assert page.evaluate("window.stillTheSamePage") is True
    deactivated.get_by_role("link", name=f"Activate account {first}").click()
    confirm(page, "Activate account", "Relationship resumed")
    expect(messages).to_contain_text(f"Account {first} is now activated.")
    assert [account.id for account in tatum_client().list_customer_accounts(customer_id)] == [first]


def test_the_guide_explains_an_account_holding_a_balance_cannot_be_deactivated_here(page: Page, live_server):
    customer_id, (_, holding) = customer_with_accounts("e2e-holding", 2)
    LedgerAccount.objects.filter(ledger_id=holding).update(account_balance="12.5", available_balance="12.5")
    make_user("Support", "sam")
    sign_in(page, live_server.url, "sam")
    page.goto(f"{live_server.url}/customers/{customer_id}/")

    row = page.locator(f"#account-{holding}")
    expect(row.get_by_role("button", name="Deactivate")).to_be_disabled()
    expect(row).to_contain_text("Holds a balance of 12.5 BTC: move it out first.")
    page.get_by_role("link", name="Deactivate accounts first").click()
    guide = page.get_by_role("dialog")
    confirm(page, "Deactivate 1 account", "Closing")

    expect(page.get_by_role("status")).to_contain_text("Deactivated 1 account. 1 still active")
    expect(page.locator("#customer-status")).to_contain_text("1 account is still active")
    page.get_by_role("link", name="Deactivate accounts first").click()
    expect(guide).to_contain_text("1 account holds a balance. This dashboard cannot move money")
    expect(guide.get_by_role("button")).to_have_count(0)
    expect(guide.get_by_role("link", name="Close")).to_be_visible()
    assert [a.id for a in tatum_client().list_customer_accounts(customer_id)] == [holding]
