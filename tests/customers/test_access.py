"""Who may do what: every page and action, for anonymous users, each role and a superuser.

Refused requests must never reach Tatum, and refused writes are recorded as `denied`.
"""

from __future__ import annotations

import pytest
import responses

from customers.audit.models import AuditEntry
from customers.credits.models import ApiCall
from tests.customers.conftest import CUSTOMER_ID, account_json, customer_json, url
from tests.users import make_user

pytestmark = pytest.mark.django_db

# What the state change form posts: the reason, and the count of active accounts the page showed.
STATE = {"reason": "ticket 42", "active_accounts": "1"}

# (name, method, path, data, permission holders)
SUPPORT = {"Support", "superuser"}
VIEWERS = {"Support", "Compliance", "Manager", "superuser"}
AUDITORS = {"Compliance", "Manager", "superuser"}
EXPORTERS = {"Manager", "superuser"}

CASES = [
    ("list", "get", "/customers/", None, VIEWERS),
    ("live list", "get", "/customers/live/", None, VIEWERS),
    ("lookup", "get", "/customers/lookup/?q=cust-001", None, VIEWERS),
    ("detail", "get", f"/customers/{CUSTOMER_ID}/", None, VIEWERS),
    ("change history", "get", f"/customers/{CUSTOMER_ID}/history/", None, VIEWERS),
    ("edit form", "get", f"/customers/{CUSTOMER_ID}/edit/", None, SUPPORT),
    ("edit save", "post", f"/customers/{CUSTOMER_ID}/edit/", {"external_id": "x"}, SUPPORT),
    ("disable page", "get", f"/customers/{CUSTOMER_ID}/disable/", None, SUPPORT),
    ("activate", "post", f"/customers/{CUSTOMER_ID}/activate/", STATE, SUPPORT),
    ("deactivate", "post", f"/customers/{CUSTOMER_ID}/deactivate/", STATE, SUPPORT),
    ("enable", "post", f"/customers/{CUSTOMER_ID}/enable/", STATE, SUPPORT),
    ("disable", "post", f"/customers/{CUSTOMER_ID}/disable/", STATE, SUPPORT),
    ("audit log", "get", "/audit/", None, AUDITORS),
    ("exports", "get", "/exports/", None, EXPORTERS),
]
ROLES = ["Support", "Compliance", "Manager", "superuser", None]


def _register_happy_tatum(tatum: responses.RequestsMock) -> None:
    base = f"/v3/ledger/customer/{CUSTOMER_ID}"
    tatum.get(url("/v3/ledger/customer"), json=[customer_json()])
    tatum.get(url("/v3/ledger/customer/cust-001"), json=customer_json())
    tatum.get(url(base), json=customer_json())
    tatum.put(url(base), json=customer_json(externalId="x"))
    tatum.get(url(f"/v3/ledger/account/customer/{CUSTOMER_ID}"), json=[account_json()])
    for action in ("activate", "deactivate", "enable", "disable"):
        tatum.put(url(f"{base}/{action}"), status=204)


@pytest.mark.parametrize("name,method,path,data,allowed", CASES, ids=[c[0] for c in CASES])
def test_anonymous_users_are_sent_to_sign_in_and_nothing_reaches_tatum(
    client, tatum, name, method, path, data, allowed
):
    response = getattr(client, method)(path, data or {})
    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/?next=")
    assert len(tatum.calls) == 0


@pytest.mark.parametrize("role", ROLES, ids=[r or "no-role" for r in ROLES])
@pytest.mark.parametrize("name,method,path,data,allowed", CASES, ids=[c[0] for c in CASES])
def test_each_role_gets_exactly_the_pages_and_actions_it_is_allowed(
    client, tatum, role, name, method, path, data, allowed
):
    _register_happy_tatum(tatum)
    client.force_login(make_user(role))
    response = getattr(client, method)(path, data or {})
    if role in allowed:
        assert response.status_code in (200, 302, 400), response.status_code
        return
    assert response.status_code == 403
    assert len(tatum.calls) == 0
    assert ApiCall.objects.count() == 0
    if method == "post":
        entry = AuditEntry.objects.get()
        assert entry.outcome == AuditEntry.Outcome.DENIED
        assert entry.customer_id == CUSTOMER_ID
        assert entry.actor_username == (role or "norole").lower()


def test_a_refused_page_says_why_in_words(client, tatum, compliance):
    client.force_login(compliance)
    response = client.get(f"/customers/{CUSTOMER_ID}/edit/")
    assert response.status_code == 403
    assert "You do not have access to this" in response.content.decode()


def test_htmx_request_from_an_expired_session_redirects_the_whole_page(client, tatum):
    response = client.get("/customers/?size=10&page=2", headers={"HX-Request": "true"})
    assert response.status_code == 200
    assert response["HX-Redirect"].startswith("/accounts/login/?next=")
    assert len(tatum.calls) == 0


def test_the_django_admin_is_for_superusers_only(client, support, admin_user):
    client.force_login(support)
    assert client.get("/admin/").status_code == 302
    client.force_login(admin_user)
    assert client.get("/admin/").status_code == 200


def test_sign_out_requires_post(client, support):
    client.force_login(support)
    assert client.get("/accounts/logout/").status_code == 405
    assert client.post("/accounts/logout/").status_code == 302
    assert client.get("/").status_code == 302
