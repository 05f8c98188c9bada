"""Account actions and the guided deactivation of a customer, over a faked Tatum: what users see,
what reaches Tatum, and what the audit trail records."""

from __future__ import annotations

import pytest
import requests
from pytest_django.asserts import assertInHTML

from customers.audit.models import AuditEntry
from customers.audit.services import unsettled_entry_settle
from customers.audit.trail import Actor, audit_entry_record
from customers.credits.client import tatum_client
from customers.tatum import TatumInvalidInput, TatumServerError
from tests.customers.conftest import CUSTOMER_ID, account_json, customer_json, html_elements, url
from tests.users import make_user

pytestmark = pytest.mark.django_db

Action = AuditEntry.Action
Outcome = AuditEntry.Outcome
CUSTOMER_PATH = f"/v3/ledger/customer/{CUSTOMER_ID}"
ACCOUNTS_PATH = f"/v3/ledger/account/customer/{CUSTOMER_ID}"
EMPTY = "6e68c66581f2ee32bc354001"
FULL = "6e68c66581f2ee32bc354002"
HTMX = {"HX-Request": "true"}


def body(response) -> str:
    return response.content.decode()


def zero_account(account_id: str = EMPTY, **overrides):
    return account_json(id=account_id, balance={"accountBalance": "0", "availableBalance": "0"}, **overrides)


def full_account(account_id: str = FULL, **overrides):
    return account_json(
        id=account_id, balance={"accountBalance": "2.5", "availableBalance": "2"}, **overrides
    )


def reads(tatum, accounts, **customer):
    tatum.get(url(CUSTOMER_PATH), json=customer_json(**customer))
    tatum.get(url(ACCOUNTS_PATH), json=accounts)


def action_url(account_id: str, action: str) -> str:
    return f"/customers/{CUSTOMER_ID}/accounts/{account_id}/{action}/"


def puts(tatum) -> list[str]:
    return [call.request.url for call in tatum.calls if call.request.method == "PUT"]


# --- The client ----------------------------------------------------------------------------------

ACCOUNT_CALLS = ["activate", "deactivate", "freeze", "unfreeze"]


@pytest.mark.parametrize("action", ACCOUNT_CALLS)
def test_the_client_puts_each_account_action_to_its_quoted_path(tatum, action):
    tatum.put(url(f"/v3/ledger/account/odd%2Fid%3F{EMPTY[:8]}/{action}"), status=204)

    assert getattr(tatum_client(), f"{action}_account")(f"odd/id?{EMPTY[:8]}") is None
    assert len(tatum.calls) == 1


@pytest.mark.parametrize("action", ACCOUNT_CALLS)
def test_the_client_never_retries_an_account_action(tatum, action):
    tatum.put(url(f"/v3/ledger/account/{EMPTY}/{action}"), status=503, json={"statusCode": 503})

    with pytest.raises(TatumServerError):
        getattr(tatum_client(), f"{action}_account")(EMPTY)
    assert len(tatum.calls) == 1


@pytest.mark.parametrize("action", ACCOUNT_CALLS)
@pytest.mark.parametrize("account_id", ["short", "x" * 51, "..........", "tab\there-0123"])
def test_the_client_sends_nothing_for_an_id_tatum_would_not_take(tatum, action, account_id):
    with pytest.raises(TatumInvalidInput):
        getattr(tatum_client(), f"{action}_account")(account_id)
    assert not tatum.calls


# --- The detail page ------------------------------------------------------------------------------


def test_detail_offers_freeze_and_deactivate_and_says_why_a_balance_blocks_deactivating(
    support_client, tatum
):
    reads(tatum, [zero_account(), full_account(frozen=True)])

    page = body(support_client.get(f"/customers/{CUSTOMER_ID}/"))

    assert f'href="{action_url(EMPTY, "freeze")}"' in page
    assert f'href="{action_url(EMPTY, "deactivate")}"' in page
    assert f'href="{action_url(FULL, "unfreeze")}"' in page
    assert f'href="{action_url(FULL, "deactivate")}"' not in page
    assert "Holds a balance of 2.5 BTC: move it out first." in page
    assert "This costs 4 Tatum credits" in page


def test_compliance_sees_the_accounts_but_no_account_actions(client, tatum):
    client.force_login(make_user("Compliance"))
    reads(tatum, [zero_account()])

    page = body(client.get(f"/customers/{CUSTOMER_ID}/"))

    assert EMPTY in page
    assert f"/customers/{CUSTOMER_ID}/accounts/" not in page and "Deactivate accounts first" not in page


def test_deactivate_is_disabled_with_its_reason_while_accounts_are_active(support_client, tatum):
    reads(tatum, [zero_account(), full_account()])

    page = body(support_client.get(f"/customers/{CUSTOMER_ID}/"))

    assert 'data-dialog-open="dialog-deactivate"' not in page
    assertInHTML('<button type="button" disabled aria-describedby="why-deactivate">Deactivate</button>', page)
    assert "2 accounts are still active: Tatum refuses to deactivate the customer" in page
    assert f'href="/customers/{CUSTOMER_ID}/accounts/deactivate/"' in page
    assert "Deactivate accounts first" in page


def test_the_deactivation_guide_separates_zero_balance_accounts_from_those_holding_a_balance(
    support_client, tatum
):
    reads(tatum, [zero_account(), full_account()])

    page = body(support_client.get(f"/customers/{CUSTOMER_ID}/accounts/deactivate/"))

    assert "Zero balance: deactivated by step 1" in page
    assert "cannot be deactivated here" in page
    assert "1 account holds a balance" in page
    assert "This costs 4 Tatum credits" in page  # 2 reads, then 2 for the one account
    assertInHTML('<button type="submit" class="danger">Deactivate 1 account</button>', page)


def test_a_customer_without_active_accounts_can_be_deactivated_from_its_page(support_client, tatum):
    reads(tatum, [])

    page = body(support_client.get(f"/customers/{CUSTOMER_ID}/"))

    assert 'data-dialog-open="dialog-deactivate"' in page
    assert "Deactivate accounts first" not in page


# --- One account ----------------------------------------------------------------------------------


def test_freezing_writes_the_entry_ahead_with_the_account_as_read_and_shows_it_frozen(support_client, tatum):
    reads(tatum, [full_account()])
    tatum.put(url(f"/v3/ledger/account/{FULL}/freeze"), status=204)

    response = support_client.post(action_url(FULL, "freeze"), {"reason": "chargeback 77"}, headers=HTMX)

    page = body(response)
    assert response.status_code == 200
    assert f"Account {FULL} is now frozen." in page
    assertInHTML('<span class="badge badge-bad">Frozen</span>', page)
    assert f'href="{action_url(FULL, "unfreeze")}"' in page
    entry = AuditEntry.objects.get()
    assert (entry.action, entry.outcome, entry.reason, entry.http_status) == (
        Action.ACCOUNT_FREEZE,
        Outcome.SUCCEEDED,
        "chargeback 77",
        204,
    )
    assert (entry.customer_id, entry.customer_external_id) == (CUSTOMER_ID, "cust-001")
    assert entry.changes == {
        "account": FULL,
        "currency": "BTC",
        "accountBalance": "2.5",
        "availableBalance": "2",
        "frozen": [False, True],
    }
    assert "Freeze account" in page and "chargeback 77" in page  # the history swapped in


def test_freezing_without_a_reason_sends_nothing(support_client, tatum):
    response = support_client.post(action_url(FULL, "freeze"), {"reason": "  "}, headers=HTMX)

    assert response.status_code == 422 and response["HX-Retarget"] == "find .reason-field"
    assert f'id="reason-freeze-{FULL}"' in body(response) and "Give a reason" in body(response)
    assert not tatum.calls
    assert not AuditEntry.objects.exists()


def test_unfreezing_needs_no_reason_and_says_the_balances_shown_are_from_before(support_client, tatum):
    reads(tatum, [full_account(frozen=True)])
    tatum.put(url(f"/v3/ledger/account/{FULL}/unfreeze"), status=204)

    page = body(support_client.post(action_url(FULL, "unfreeze"), {}, headers=HTMX))

    assert f"Account {FULL} is now unfrozen." in page
    assert "unfreezing restored the account's available balance" in page
    assert AuditEntry.objects.get().changes["frozen"] == [True, False]


def test_deactivating_an_account_holding_a_balance_sends_nothing_and_says_why(support_client, tatum):
    reads(tatum, [full_account()])

    page = body(support_client.post(action_url(FULL, "deactivate"), {"reason": "closing"}, headers=HTMX))

    assert "Nothing was sent to Tatum: the account holds a balance of 2.5 BTC" in page
    assert puts(tatum) == []
    entry = AuditEntry.objects.get()
    assert (entry.action, entry.outcome) == (Action.ACCOUNT_DEACTIVATE, Outcome.FAILED)
    assert entry.error_message.startswith("Nothing was sent")


def test_a_refusal_is_shown_in_plain_words_with_tatums_message_beside(support_client, tatum):
    reads(tatum, [zero_account()])
    tatum.put(
        url(f"/v3/ledger/account/{EMPTY}/deactivate"),
        status=403,
        json={"statusCode": 403, "errorCode": "account.not.exists", "message": "No such account."},
    )

    page = body(support_client.post(action_url(EMPTY, "deactivate"), {"reason": "closing"}, headers=HTMX))

    assert "Tatum does not know that account." in page
    assert "Tatum said: &quot;No such account.&quot;" in page
    entry = AuditEntry.objects.get()
    assert (entry.outcome, entry.error_code, entry.http_status) == (Outcome.FAILED, "account.not.exists", 403)


def test_an_account_that_is_not_listed_is_not_changed(support_client, tatum):
    reads(tatum, [zero_account()])

    page = body(support_client.post(action_url(FULL, "freeze"), {"reason": "r"}, headers=HTMX))

    assert "not among the customer&#x27;s active accounts" in page
    assert puts(tatum) == []


def test_a_timeout_leaves_the_outcome_unknown_and_blocks_further_changes_until_settled(support_client, tatum):
    reads(tatum, [zero_account()])
    tatum.put(url(f"/v3/ledger/account/{EMPTY}/deactivate"), body=requests.ReadTimeout("slow"))

    page = body(support_client.post(action_url(EMPTY, "deactivate"), {"reason": "closing"}, headers=HTMX))

    assert "we do not know whether the change happened" in page
    entry = AuditEntry.objects.get()
    assert entry.outcome == Outcome.UNKNOWN and not entry.is_final
    refused = body(support_client.post(action_url(EMPTY, "freeze"), {"reason": "r"}, headers=HTMX))
    assert f"entry #{entry.pk}) has an unknown outcome" in refused
    assert len(puts(tatum)) == 1


@pytest.mark.parametrize(
    ("listed", "verdict"),
    [([], Outcome.SUCCEEDED), ([zero_account()], Outcome.FAILED)],
)
def test_settling_an_unknown_deactivation_reads_the_active_accounts(
    support_client, support, tatum, listed, verdict
):
    reads(tatum, [zero_account()])
    tatum.put(url(f"/v3/ledger/account/{EMPTY}/deactivate"), body=requests.ReadTimeout("slow"))
    support_client.post(action_url(EMPTY, "deactivate"), {"reason": "closing"}, headers=HTMX)
    tatum.replace("GET", url(ACCOUNTS_PATH), json=listed)

    result = unsettled_entry_settle(entry=AuditEntry.objects.get(), actor=Actor(user=support))

    assert result.verdict == verdict
    assert "the customer's active accounts" in result.entry.error_message


def test_settling_an_unknown_freeze_of_an_account_no_longer_listed_is_undetermined(support, tatum):
    entry = audit_entry_record(
        actor=Actor(user=support),
        action=Action.ACCOUNT_FREEZE,
        outcome=Outcome.UNKNOWN,
        customer_id=CUSTOMER_ID,
        changes={"account": EMPTY, "currency": "BTC", "frozen": [False, True]},
    )
    tatum.get(url(ACCOUNTS_PATH), json=[])

    result = unsettled_entry_settle(entry=entry, actor=Actor(user=support))

    assert result.verdict == Outcome.UNDETERMINED
    assert "frozen is unknown (the account is not active)" in result.entry.error_message


# --- Activating an account this dashboard deactivated -----------------------------------------------


def _deactivated_here(user, account_id: str = EMPTY) -> AuditEntry:
    return audit_entry_record(
        actor=Actor(user=user),
        action=Action.ACCOUNT_DEACTIVATE,
        outcome=Outcome.SUCCEEDED,
        customer_id=CUSTOMER_ID,
        changes={"account": account_id, "currency": "ETH", "active": [True, False]},
    )


def test_only_accounts_deactivated_here_are_offered_for_activation(support_client, support, tatum):
    _deactivated_here(support)
    reads(tatum, [])

    page = body(support_client.get(f"/customers/{CUSTOMER_ID}/"))

    assert "Deactivated from this dashboard" in page
    assert f'href="{action_url(EMPTY, "activate")}"' in page
    assert "This costs 5 Tatum credits" in page


def test_an_inactive_customers_account_is_not_offered_for_activation(support_client, support, tatum):
    _deactivated_here(support)
    reads(tatum, [], active=False)

    page = body(support_client.get(f"/customers/{CUSTOMER_ID}/"))

    assert f'href="{action_url(EMPTY, "activate")}"' not in page
    assert "The customer is inactive: activate the customer first." in page


@pytest.mark.parametrize(
    ("action", "was_active", "offered"), [("activate", False, True), ("deactivate", True, False)]
)
def test_the_accounts_area_follows_the_customers_new_state_without_reading_it_again(
    support_client, support, tatum, action, was_active, offered
):
    _deactivated_here(support)
    tatum.get(url(CUSTOMER_PATH), json=customer_json(active=was_active))
    tatum.put(url(f"{CUSTOMER_PATH}/{action}"), status=204)
    data = {"reason": "Ticket 7", "active_accounts": "0"}

    response = support_client.post(f"/customers/{CUSTOMER_ID}/{action}/", data, headers=HTMX)

    page = body(response)
    sections = {attrs.get("id"): attrs for _, attrs in html_elements(page, "section")}
    assert response.status_code == 200 and sections["customer-accounts"].get("hx-swap-oob") == "true"
    assertInHTML('<p class="hint">No active accounts.</p>', page)
    assert (f'href="{action_url(EMPTY, "activate")}"' in page) is offered
    assert ("The customer is inactive: activate the customer first." in page) is not offered
    assert [call.request.method for call in tatum.calls] == ["GET", "PUT"], "the accounts are not read"


def test_activating_reads_the_accounts_again_to_list_the_account(support_client, support, tatum):
    _deactivated_here(support)
    reads(tatum, [])
    tatum.put(url(f"/v3/ledger/account/{EMPTY}/activate"), status=204)
    tatum.get(url(ACCOUNTS_PATH), json=[zero_account(currency="ETH")])

    page = body(support_client.post(action_url(EMPTY, "activate"), {}, headers=HTMX))

    assert f"Account {EMPTY} is now activated." in page
    assert f'id="account-{EMPTY}"' in page and "Deactivated from this dashboard" not in page
    entry = AuditEntry.objects.filter(action=Action.ACCOUNT_ACTIVATE).get()
    assert entry.changes == {"account": EMPTY, "currency": "ETH", "active": [False, True]}


def test_an_account_the_trail_does_not_know_is_not_activated(support_client, tatum):
    reads(tatum, [])

    page = body(support_client.post(action_url(EMPTY, "activate"), {}, headers=HTMX))

    assert "the audit log shows no deactivation of it from this dashboard" in page
    assert puts(tatum) == []


# --- The guided deactivation ----------------------------------------------------------------------


def test_the_guide_deactivates_every_zero_balance_account_and_then_the_customer_can_be(support_client, tatum):
    second = "6e68c66581f2ee32bc354003"
    reads(tatum, [zero_account(), zero_account(second, frozen=True)])
    tatum.put(url(f"/v3/ledger/account/{EMPTY}/deactivate"), status=204)
    tatum.put(url(f"/v3/ledger/account/{second}/deactivate"), status=204)

    response = support_client.post(
        f"/customers/{CUSTOMER_ID}/accounts/deactivate/", {"reason": "closing the customer"}, headers=HTMX
    )

    page = body(response)
    assert "Deactivated 2 accounts. No active account is left: deactivate the customer." in page
    assert 'data-dialog-open="dialog-deactivate"' in page  # the status card, swapped in
    assert "No active accounts." in page
    entries = AuditEntry.objects.order_by("pk")
    assert [(e.action, e.outcome, e.changes["account"], e.reason) for e in entries] == [
        (Action.ACCOUNT_DEACTIVATE, Outcome.SUCCEEDED, EMPTY, "closing the customer"),
        (Action.ACCOUNT_DEACTIVATE, Outcome.SUCCEEDED, second, "closing the customer"),
    ]
    assert entries[1].changes["frozen"] is True


def test_the_guide_leaves_accounts_holding_a_balance_and_keeps_deactivate_disabled(support_client, tatum):
    reads(tatum, [zero_account(), full_account()])
    tatum.put(url(f"/v3/ledger/account/{EMPTY}/deactivate"), status=204)

    page = body(
        support_client.post(f"/customers/{CUSTOMER_ID}/accounts/deactivate/", {"reason": "r"}, headers=HTMX)
    )

    assert "Deactivated 1 account. 1 still active: the customer cannot be deactivated yet." in page
    assert "1 account is still active" in page
    assert puts(tatum) == [url(f"/v3/ledger/account/{EMPTY}/deactivate")]


def test_the_guide_stops_at_the_first_unknown_outcome(support_client, tatum):
    second = "6e68c66581f2ee32bc354003"
    reads(tatum, [zero_account(), zero_account(second)])
    tatum.put(url(f"/v3/ledger/account/{EMPTY}/deactivate"), body=requests.ConnectionError("reset"))

    support_client.post(f"/customers/{CUSTOMER_ID}/accounts/deactivate/", {"reason": "r"}, headers=HTMX)

    assert puts(tatum) == [url(f"/v3/ledger/account/{EMPTY}/deactivate")]
    assert list(AuditEntry.objects.values_list("outcome", flat=True)) == [Outcome.UNKNOWN]


def test_without_javascript_the_guide_redirects_to_the_customer_with_the_outcome(support_client, tatum):
    reads(tatum, [zero_account()])
    tatum.put(url(f"/v3/ledger/account/{EMPTY}/deactivate"), status=204)

    response = support_client.post(f"/customers/{CUSTOMER_ID}/accounts/deactivate/", {"reason": "r"})

    assert response.status_code == 302
    assert response["Location"] == f"/customers/{CUSTOMER_ID}/"


# --- Access and input -----------------------------------------------------------------------------


def test_an_account_action_by_a_user_without_the_permission_is_refused_and_recorded(client, tatum):
    client.force_login(make_user("Compliance"))

    response = client.post(action_url(EMPTY, "freeze"), {"reason": "r"})

    assert response.status_code == 403
    entry = AuditEntry.objects.get()
    assert (entry.action, entry.outcome, entry.customer_id) == (
        Action.ACCOUNT_FREEZE,
        Outcome.DENIED,
        CUSTOMER_ID,
    )
    assert not tatum.calls


@pytest.mark.parametrize(
    "path",
    [
        f"/customers/{CUSTOMER_ID}/accounts/short/freeze/",
        f"/customers/{CUSTOMER_ID}/accounts/{EMPTY}/melt/",
        f"/customers/short/accounts/{EMPTY}/freeze/",
        "/customers/short/accounts/deactivate/",
    ],
)
def test_bad_ids_and_actions_are_not_found_and_nothing_is_sent(support_client, tatum, path):
    assert support_client.post(path, {"reason": "r"}).status_code == 404
    assert not tatum.calls


def test_the_confirmation_page_works_without_javascript(support_client, tatum):
    reads(tatum, [full_account()])

    page = body(support_client.get(action_url(FULL, "freeze")))

    assert f"Freeze account {FULL}?" in page
    assert "available balance is set to 0" in page
    assertInHTML('<button type="submit" class="primary">Freeze account</button>', page)


def test_the_history_shows_an_account_change_with_its_account_beside(support_client, support, tatum):
    _deactivated_here(support)
    reads(tatum, [])

    page = body(support_client.get(f"/customers/{CUSTOMER_ID}/"))

    assert "Deactivate account" in page
    assertInHTML(f'<div><span class="field-name">Account</span>: {EMPTY}</div>', page)
    assertInHTML('<div><span class="field-name">Currency</span>: ETH</div>', page)
