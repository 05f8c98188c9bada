"""The customer state machine: every action from every one of the four states, and the balances."""

from __future__ import annotations

import threading
from decimal import Decimal

import pytest
import requests
from django.db import connection

from sandbox.models import Account, Customer
from tests.sandbox.conftest import (
    KEY,
    assert_tatum_error,
    assert_validation_failed,
    make_account,
    make_customer,
)

pytestmark = pytest.mark.django_db(transaction=True)

ACTIVE_ENABLED, ACTIVE_DISABLED = (True, True), (True, False)
INACTIVE_ENABLED, INACTIVE_DISABLED = (False, True), (False, False)

# (active, enabled) before, action -> (status, errorCode or None, (active, enabled) after)
TRANSITIONS = [
    (ACTIVE_ENABLED, "activate", 403, "customer.active", ACTIVE_ENABLED),
    (ACTIVE_ENABLED, "deactivate", 204, None, INACTIVE_ENABLED),
    (ACTIVE_ENABLED, "enable", 403, "customer.enabled", ACTIVE_ENABLED),
    (ACTIVE_ENABLED, "disable", 204, None, ACTIVE_DISABLED),
    (ACTIVE_DISABLED, "activate", 403, "customer.active", ACTIVE_DISABLED),
    (ACTIVE_DISABLED, "deactivate", 204, None, INACTIVE_DISABLED),
    (ACTIVE_DISABLED, "enable", 204, None, ACTIVE_ENABLED),
    (ACTIVE_DISABLED, "disable", 403, "customer.disabled", ACTIVE_DISABLED),
    (INACTIVE_ENABLED, "activate", 204, None, ACTIVE_ENABLED),
    (INACTIVE_ENABLED, "deactivate", 403, "customer.inactive", INACTIVE_ENABLED),
    (INACTIVE_ENABLED, "enable", 403, "customer.inactive", INACTIVE_ENABLED),
    (INACTIVE_ENABLED, "disable", 403, "customer.inactive", INACTIVE_ENABLED),
    (INACTIVE_DISABLED, "activate", 204, None, ACTIVE_DISABLED),
    (INACTIVE_DISABLED, "deactivate", 403, "customer.inactive", INACTIVE_DISABLED),
    (INACTIVE_DISABLED, "enable", 403, "customer.inactive", INACTIVE_DISABLED),
    (INACTIVE_DISABLED, "disable", 403, "customer.inactive", INACTIVE_DISABLED),
]
MESSAGES = {
    "customer.active": "Unable to activate active customer.",
    "customer.inactive": "Unable to perform operation on inactive customer.",
    "customer.enabled": "Unable to enable enabled customer.",
    "customer.disabled": "Unable to disable disabled customer.",
}


def _state(api, customer: Customer) -> tuple[bool, bool]:
    body = api.get(f"/v3/ledger/customer/{customer.ledger_id}").json()
    return body["active"], body["enabled"]


@pytest.mark.parametrize(("before", "action", "status", "error_code", "after"), TRANSITIONS)
def test_every_action_from_every_state(api, before, action, status, error_code, after):
    # Only deactivated accounts, so that deactivating is allowed by the account rule.
    customer = make_customer(active=before[0], enabled=before[1], inactive_accounts=1)

    response = api.put(f"/v3/ledger/customer/{customer.ledger_id}/{action}")

    if error_code is None:
        assert response.status_code == status == 204
        assert response.content == b""
    else:
        assert_tatum_error(response, status, error_code, MESSAGES[error_code])
    assert _state(api, customer) == after


@pytest.mark.parametrize("state", [ACTIVE_ENABLED, ACTIVE_DISABLED])
def test_deactivate_is_refused_while_an_account_is_active(api, state):
    customer = make_customer(active=state[0], enabled=state[1], accounts=[("0", "0")], inactive_accounts=1)

    response = api.put(f"/v3/ledger/customer/{customer.ledger_id}/deactivate")

    assert_tatum_error(
        response,
        403,
        "customer.deactivate.account.active",
        "Unable to deactivate customer, accounts not deactivated.",
    )
    assert _state(api, customer) == state


def test_deactivate_succeeds_once_the_last_account_is_deactivated(api):
    customer = make_customer(accounts=[("0", "0")])
    account = customer.accounts.get()

    assert api.put(f"/v3/ledger/customer/{customer.ledger_id}/deactivate").status_code == 403
    assert api.put(f"/v3/ledger/account/{account.ledger_id}/deactivate").status_code == 204
    assert api.put(f"/v3/ledger/customer/{customer.ledger_id}/deactivate").status_code == 204
    assert _state(api, customer) == INACTIVE_ENABLED


def test_a_customer_without_accounts_can_be_deactivated(api):
    customer = make_customer()

    assert api.put(f"/v3/ledger/customer/{customer.ledger_id}/deactivate").status_code == 204


@pytest.mark.parametrize("action", ["activate", "deactivate", "enable", "disable"])
def test_state_actions_answer_403_for_an_unknown_customer(api, action):
    response = api.put(f"/v3/ledger/customer/0123456789abcdef01234567/{action}")

    assert_tatum_error(response, 403, "customer.internal.not.exists", "No such customer.")


@pytest.mark.parametrize("action", ["activate", "deactivate", "enable", "disable"])
@pytest.mark.parametrize(("length", "rule"), [(9, "minLength"), (51, "maxLength")])
def test_state_actions_validate_the_id_length(api, action, length, rule):
    response = api.put(f"/v3/ledger/customer/{'b' * length}/{action}")

    assert_validation_failed(response, {"id": {rule}})


def _balances(api, customer: Customer) -> list[tuple[str, str]]:
    accounts = api.get(f"/v3/ledger/account/customer/{customer.ledger_id}", params={"pageSize": 50}).json()
    return [(item["balance"]["accountBalance"], item["balance"]["availableBalance"]) for item in accounts]


def test_disable_zeroes_every_available_balance_and_leaves_account_balances(api):
    customer = make_customer(accounts=[("10.5", "10.5"), ("7", "3.25"), ("0", "0")])

    assert api.put(f"/v3/ledger/customer/{customer.ledger_id}/disable").status_code == 204

    assert _balances(api, customer) == [("10.5", "0"), ("7", "0"), ("0", "0")]


def test_enable_restores_exactly_what_disable_blocked(api):
    customer = make_customer(
        accounts=[("10.5", "10.5"), ("7", "3.25"), ("0.000000000000000001", "0.000000000000000001")]
    )
    before = _balances(api, customer)

    api.put(f"/v3/ledger/customer/{customer.ledger_id}/disable")
    assert api.put(f"/v3/ledger/customer/{customer.ledger_id}/enable").status_code == 204

    assert (
        _balances(api, customer)
        == before
        == [
            ("10.5", "10.5"),
            ("7", "3.25"),
            ("0.000000000000000001", "0.000000000000000001"),
        ]
    )


def test_refused_disable_and_enable_leave_balances_alone(api):
    customer = make_customer(accounts=[("5", "5")])
    api.put(f"/v3/ledger/customer/{customer.ledger_id}/disable")

    assert api.put(f"/v3/ledger/customer/{customer.ledger_id}/disable").status_code == 403
    assert _balances(api, customer) == [("5", "0")]
    api.put(f"/v3/ledger/customer/{customer.ledger_id}/enable")
    assert api.put(f"/v3/ledger/customer/{customer.ledger_id}/enable").status_code == 403
    assert _balances(api, customer) == [("5", "5")]


def test_disable_also_blocks_inactive_and_frozen_accounts(api):
    customer = make_customer()
    frozen = make_account(customer, balance="2", frozen=True)
    closed = make_account(customer, balance="0", active=False)

    api.put(f"/v3/ledger/customer/{customer.ledger_id}/disable")

    frozen.refresh_from_db()
    closed.refresh_from_db()
    assert (frozen.account_balance, frozen.available_balance, frozen.disabled_blocked_amount) == (
        "2",
        "0",
        "2",
    )
    assert (closed.available_balance, closed.disabled_blocked_amount) == ("0", "0")


def test_blocked_balances_survive_a_deactivate_and_activate_round_trip(api):
    customer = make_customer(accounts=[("4", "4")])
    account = customer.accounts.get()
    api.put(f"/v3/ledger/customer/{customer.ledger_id}/disable")
    Account.objects.filter(pk=account.pk).update(account_balance="0", disabled_blocked_amount="0")
    api.put(f"/v3/ledger/account/{account.ledger_id}/deactivate")

    assert api.put(f"/v3/ledger/customer/{customer.ledger_id}/deactivate").status_code == 204
    assert api.put(f"/v3/ledger/customer/{customer.ledger_id}/enable").status_code == 403
    assert api.put(f"/v3/ledger/customer/{customer.ledger_id}/activate").status_code == 204
    assert _state(api, customer) == ACTIVE_DISABLED
    assert api.put(f"/v3/ledger/customer/{customer.ledger_id}/enable").status_code == 204
    assert _state(api, customer) == ACTIVE_ENABLED


def test_state_actions_ignore_a_request_body(api):
    customer = make_customer()

    response = api.put(f"/v3/ledger/customer/{customer.ledger_id}/disable", json={"enabled": True})

    assert response.status_code == 204
    assert _state(api, customer) == ACTIVE_DISABLED


@pytest.mark.skipif(connection.vendor == "sqlite", reason="SQLite's test database is one shared connection")
def test_concurrent_disables_and_enables_never_lose_or_double_a_balance(live_server):
    customer = make_customer(accounts=[("100", "60")])
    base = f"{live_server.url}/sandbox/v3/ledger/customer/{customer.ledger_id}"
    statuses: list[int] = []

    def flip(action: str) -> None:
        for _ in range(5):
            response = requests.put(f"{base}/{action}", headers={"x-api-key": KEY}, timeout=10)
            statuses.append(response.status_code)

    threads = [threading.Thread(target=flip, args=(action,)) for action in ("disable", "enable") * 3]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    account = customer.accounts.get()
    customer.refresh_from_db()
    assert set(statuses) <= {204, 403}
    blocked = Decimal(account.disabled_blocked_amount)
    available = Decimal(account.available_balance)
    assert account.account_balance == "100"
    assert (available, blocked) == (
        (Decimal(60), Decimal(0)) if customer.enabled else (Decimal(0), Decimal(60))
    )
