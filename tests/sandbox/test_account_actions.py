"""The four account actions (activate, deactivate, freeze, unfreeze), over HTTP: Tatum's codes, its
empty 204s, the credits they cost, and how freezing and disabling share an account's available balance."""

from __future__ import annotations

import pytest

from sandbox.models import Account
from tests.sandbox.conftest import assert_tatum_error, assert_validation_failed, make_account, make_customer

pytestmark = pytest.mark.django_db(transaction=True)

UNKNOWN = "0123456789abcdef01234567"


def put(api, account: Account | str, action: str):
    ledger_id = account if isinstance(account, str) else account.ledger_id
    return api.put(f"/v3/ledger/account/{ledger_id}/{action}")


def active_list(api, customer) -> list[dict]:
    return api.get(f"/v3/ledger/account/customer/{customer.ledger_id}", params={"pageSize": 50}).json()


def balances(account: Account) -> tuple[str, str]:
    account.refresh_from_db()
    return account.account_balance, account.available_balance


def usage(api) -> int:
    return api.get("/v3/tatum/version").json()["usage"]


@pytest.mark.parametrize("action", ["activate", "deactivate", "freeze", "unfreeze"])
def test_each_action_answers_an_empty_204_and_costs_two_credits(api, action):
    customer = make_customer()
    account = make_account(customer, balance="0", active=action != "activate", frozen=action == "unfreeze")
    before = usage(api)

    response = put(api, account, action)

    assert response.status_code == 204
    assert response.content == b""
    assert "Content-Type" not in response.headers
    # The version read itself costs 1.
    assert usage(api) == before + 2 + 1


@pytest.mark.parametrize("action", ["activate", "deactivate", "freeze", "unfreeze"])
def test_an_unknown_account_is_a_403_not_exists(api, action):
    assert_tatum_error(put(api, UNKNOWN, action), 403, "account.not.exists", "No such account.")


@pytest.mark.parametrize("action", ["activate", "deactivate", "freeze", "unfreeze"])
def test_each_action_validates_the_id_length(api, action):
    assert_validation_failed(put(api, "short", action), {"id": {"minLength"}})


@pytest.mark.parametrize("action", ["activate", "deactivate", "freeze", "unfreeze"])
def test_each_action_is_a_put(api, action):
    account = make_account(make_customer())

    response = api.post(f"/v3/ledger/account/{account.ledger_id}/{action}")

    assert response.status_code == 405
    assert response.headers["Allow"] == "PUT"


def test_a_deactivated_account_leaves_the_active_list_and_activating_brings_it_back(api):
    customer = make_customer()
    account = make_account(customer, balance="0")

    assert put(api, account, "deactivate").status_code == 204
    assert active_list(api, customer) == []
    assert put(api, account, "activate").status_code == 204

    assert [item["id"] for item in active_list(api, customer)] == [account.ledger_id]


def test_deactivating_an_inactive_account_is_refused(api):
    account = make_account(make_customer(), balance="0", active=False)

    assert_tatum_error(
        put(api, account, "deactivate"),
        403,
        "account.inactive",
        "Unable to perform operation on inactive account.",
    )


def test_an_account_with_a_balance_is_not_deactivated(api):
    account = make_account(make_customer(), balance="2.5")

    assert_tatum_error(
        put(api, account, "deactivate"),
        403,
        "account.balance.non.zero",
        "Unable to deactivate account with non-zero balance.",
    )
    account.refresh_from_db()
    assert account.active


def test_a_frozen_account_with_a_zero_balance_can_be_deactivated(api):
    customer = make_customer()
    account = make_account(customer, balance="0", frozen=True)

    assert put(api, account, "deactivate").status_code == 204
    assert active_list(api, customer) == []


def test_activating_an_active_account_is_refused(api):
    account = make_account(make_customer())

    assert_tatum_error(
        put(api, account, "activate"), 403, "account.active", "Unable to activate active account."
    )


def test_an_account_of_an_inactive_customer_is_not_activated(api):
    customer = make_customer(active=False)
    account = make_account(customer, balance="0", active=False)

    assert_tatum_error(
        put(api, account, "activate"),
        403,
        "account.customer.inactive",
        "Unable to activate account, customer inactive.",
    )
    account.refresh_from_db()
    assert not account.active


def test_freezing_blocks_the_whole_available_balance_and_unfreezing_restores_it(api):
    customer = make_customer()
    account = make_account(customer, balance="10", available="7.5")

    assert put(api, account, "freeze").status_code == 204
    listed = active_list(api, customer)[0]
    assert (listed["frozen"], listed["active"]) == (True, True)
    assert listed["balance"] == {"accountBalance": "10", "availableBalance": "0"}

    assert put(api, account, "unfreeze").status_code == 204
    listed = active_list(api, customer)[0]
    assert listed["frozen"] is False
    assert listed["balance"] == {"accountBalance": "10", "availableBalance": "7.5"}


def test_freezing_a_frozen_account_is_refused_and_changes_nothing(api):
    account = make_account(
        make_customer(), balance="3", frozen=True, available="0", frozen_blocked_amount="3"
    )

    assert_tatum_error(put(api, account, "freeze"), 403, "account.frozen", "Unable to freeze frozen account.")
    account.refresh_from_db()
    assert (account.available_balance, account.frozen_blocked_amount) == ("0", "3")


def test_freezing_an_inactive_account_is_refused(api):
    account = make_account(make_customer(), balance="0", active=False)

    assert_tatum_error(put(api, account, "freeze"), 403, "account.inactive")
    account.refresh_from_db()
    assert not account.frozen


def test_unfreezing_an_account_that_is_not_frozen_changes_nothing(api):
    account = make_account(make_customer(), balance="4", available="4")

    assert put(api, account, "unfreeze").status_code == 204
    assert balances(account) == ("4", "4")


def test_a_frozen_account_stays_blocked_when_its_customer_is_enabled_again(api):
    customer = make_customer()
    account = make_account(customer, balance="5", available="5")
    api.put(f"/v3/ledger/customer/{customer.ledger_id}/disable")

    assert put(api, account, "freeze").status_code == 204
    assert api.put(f"/v3/ledger/customer/{customer.ledger_id}/enable").status_code == 204
    assert balances(account) == ("5", "0")

    assert put(api, account, "unfreeze").status_code == 204
    assert balances(account) == ("5", "5")


def test_unfreezing_while_the_customer_is_disabled_keeps_the_balance_blocked_until_enabled(api):
    customer = make_customer()
    account = make_account(customer, balance="5", available="5")
    assert put(api, account, "freeze").status_code == 204
    api.put(f"/v3/ledger/customer/{customer.ledger_id}/disable")

    assert put(api, account, "unfreeze").status_code == 204
    assert balances(account) == ("5", "0")

    assert api.put(f"/v3/ledger/customer/{customer.ledger_id}/enable").status_code == 204
    assert balances(account) == ("5", "5")


def test_a_customer_whose_accounts_are_all_deactivated_can_be_deactivated(api):
    customer = make_customer()
    first, second = make_account(customer, balance="0"), make_account(customer, balance="0")
    refused = api.put(f"/v3/ledger/customer/{customer.ledger_id}/deactivate")
    assert_tatum_error(refused, 403, "customer.deactivate.account.active")

    assert put(api, first, "deactivate").status_code == 204
    assert put(api, second, "deactivate").status_code == 204

    assert api.put(f"/v3/ledger/customer/{customer.ledger_id}/deactivate").status_code == 204
