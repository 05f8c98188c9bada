"""Customer pages over the live sandbox (real HTTP): each action costs the floor in upstream calls."""

from __future__ import annotations

import pytest

from customers.audit.models import AuditEntry
from customers.credits.client import tatum_client
from customers.credits.models import ApiCall
from tests.users import make_user

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def live_tatum(live_server, settings):
    settings.TATUM_API_URL = f"{live_server.url}/sandbox"
    return live_server


@pytest.fixture
def customer(live_tatum):
    account = tatum_client().create_account(currency="BTC", external_id="live-1", customer_country="DE")
    ApiCall.objects.all().delete()
    return tatum_client().get_customer(account.customer_id)


@pytest.fixture
def support_client(client, live_tatum):
    client.force_login(make_user("Support"))
    return client


def calls_for(action) -> int:
    before = ApiCall.objects.count()
    action()
    return ApiCall.objects.count() - before


def test_each_action_costs_the_floor_in_upstream_calls(support_client, customer):
    cid = customer.id
    assert calls_for(lambda: support_client.get("/customers/live/?size=50")) == 1
    assert calls_for(lambda: support_client.get("/customers/lookup/?q=live-1")) == 1
    assert calls_for(lambda: support_client.get(f"/customers/{cid}/")) == 1  # the lookup's read is reused
    assert calls_for(lambda: support_client.get(f"/customers/{cid}/")) == 2
    form = support_client.get(f"/customers/{cid}/edit/").context["form"]
    save = {**form.initial, "provider_country": "CZ"}
    assert calls_for(lambda: support_client.post(f"/customers/{cid}/edit/", save)) == 2
    state = {"reason": "r"}
    htmx = {"HX-Request": "true"}
    # A state change reads the customer first, so that its audit entry holds what Tatum holds.
    assert calls_for(lambda: support_client.post(f"/customers/{cid}/disable/", state, headers=htmx)) == 2


def test_list_and_detail_show_what_the_sandbox_holds(support_client, customer):
    page = support_client.get("/customers/live/?size=10").content.decode()
    assert "live-1" in page and "Germany (DE)" in page and "Compliance gap" in page
    detail = support_client.get(f"/customers/{customer.id}/").content.decode()
    assert "BTC" in detail and "provider country missing" in detail


def test_edit_and_state_changes_reach_the_sandbox_and_the_audit_trail(support_client, customer):
    cid = customer.id
    form = support_client.get(f"/customers/{cid}/edit/").context["form"]
    response = support_client.post(f"/customers/{cid}/edit/", {**form.initial, "provider_country": "CZ"})
    assert response.status_code == 302
    support_client.post(f"/customers/{cid}/disable/", {"reason": "fraud"})
    deactivate = support_client.post(
        f"/customers/{cid}/deactivate/", {"reason": "closing"}, headers={"HX-Request": "true"}
    )
    assert "Deactivate the customer&#x27;s accounts first" in deactivate.content.decode()
    current = tatum_client().get_customer(cid)
    assert (current.provider_country, current.enabled, current.active) == ("CZ", False, True)
    assert list(AuditEntry.objects.order_by("started_at").values_list("action", "outcome", "error_code")) == [
        ("update", "succeeded", ""),
        ("disable", "succeeded", ""),
        ("deactivate", "failed", "customer.deactivate.account.active"),
    ]
