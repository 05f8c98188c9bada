"""Who may read the audit log, export it, see unknown outcomes and settle them."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Group

from customers import permissions
from customers.audit.models import AuditEntry
from customers.audit.trail import Actor, audit_entry_close, audit_entry_open, audit_entry_record
from tests.customers.conftest import CUSTOMER_ID, account_json, customer_json, url
from tests.users import make_user

pytestmark = pytest.mark.django_db

Action = AuditEntry.Action
Outcome = AuditEntry.Outcome
ROLES = ["Support", "Compliance", "Manager", "superuser", None]
AUDITORS = {"Compliance", "Manager", "superuser"}
SETTLERS = {"Support", "superuser"}
PAGES = [
    ("log", "/audit/", AUDITORS),
    ("entry", "/audit/entries/{entry}/", AUDITORS),
    ("csv", "/audit/export/", AUDITORS),
    ("unknown outcomes", "/audit/unknown/", AUDITORS | SETTLERS),
]


@pytest.fixture
def entry(db) -> AuditEntry:
    """A disable that timed out, so every page has something to show and verify has work to do."""
    opened = audit_entry_open(
        actor=Actor(user=None),
        action=Action.DISABLE,
        customer_id=CUSTOMER_ID,
        customer_external_id="cust-001",
        changes={"enabled": [True, False]},
    )
    return audit_entry_close(opened, outcome=Outcome.UNKNOWN)


@pytest.mark.parametrize("name,path,allowed", PAGES, ids=[p[0] for p in PAGES])
def test_anonymous_users_are_sent_to_sign_in(client, entry, name, path, allowed):
    response = client.get(path.format(entry=entry.pk))

    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/?next=")


def test_anonymous_verify_is_sent_to_sign_in_and_reads_nothing(client, entry, tatum):
    response = client.post(f"/audit/unknown/{entry.pk}/verify/")

    assert response.status_code == 302 and response["Location"].startswith("/accounts/login/")
    assert len(tatum.calls) == 0


@pytest.mark.parametrize("role", ROLES, ids=[r or "no-role" for r in ROLES])
@pytest.mark.parametrize("name,path,allowed", PAGES, ids=[p[0] for p in PAGES])
def test_each_role_gets_exactly_the_audit_pages_it_is_allowed(client, entry, role, name, path, allowed):
    client.force_login(make_user(role))

    response = client.get(path.format(entry=entry.pk))

    assert response.status_code == (200 if role in allowed else 403)


@pytest.mark.parametrize("role", ROLES, ids=[r or "no-role" for r in ROLES])
def test_only_support_and_superusers_settle_unknown_outcomes_and_refusals_are_recorded(
    client, entry, tatum, role
):
    tatum.get(url(f"/v3/ledger/customer/{CUSTOMER_ID}"), json=customer_json(enabled=False))
    user = make_user(role)
    client.force_login(user)

    response = client.post(f"/audit/unknown/{entry.pk}/verify/")

    entry.refresh_from_db()
    if role in SETTLERS:
        assert response.status_code == 302
        assert entry.outcome == Outcome.SUCCEEDED
        return
    assert response.status_code == 403
    assert len(tatum.calls) == 0
    assert entry.outcome == Outcome.UNKNOWN
    denied = AuditEntry.objects.get(outcome=Outcome.DENIED)
    assert (denied.action, denied.actor) == (Action.VERIFY, user)


def test_verify_only_answers_post(client, entry, support):
    client.force_login(support)
    assert client.get(f"/audit/unknown/{entry.pk}/verify/").status_code == 405


def test_managers_may_export_the_audit_log_as_the_issue_asks(db):
    manager_perms = Group.objects.get(name="Manager").permissions.values_list("codename", flat=True)
    assert "export_audit_log" in manager_perms
    assert make_user("Manager").has_perm(permissions.EXPORT_AUDIT_LOG)


@pytest.mark.parametrize("role", ["Compliance", "Manager", "superuser"])
def test_everyone_who_may_export_is_offered_the_csv(client, role):
    audit_entry_record(actor=Actor(user=None), action=Action.ENABLE, outcome=Outcome.SUCCEEDED)
    client.force_login(make_user(role))

    assert 'href="/audit/export/"' in client.get("/audit/").content.decode()


def test_the_customer_history_links_entries_only_for_those_who_may_open_them(client, entry, tatum):
    tatum.get(url(f"/v3/ledger/customer/{CUSTOMER_ID}"), json=customer_json())
    tatum.get(url(f"/v3/ledger/account/customer/{CUSTOMER_ID}"), json=[account_json()])
    link = f'href="/audit/entries/{entry.pk}/"'

    client.force_login(make_user("Support"))
    assert link not in client.get(f"/customers/{CUSTOMER_ID}/").content.decode()
    client.force_login(make_user("Compliance"))
    assert link in client.get(f"/customers/{CUSTOMER_ID}/").content.decode()
