"""The Django admin shows the dashboard's records read-only."""

from __future__ import annotations

import pytest

from customers.audit import Actor
from customers.models import AuditEntry
from customers.services import customer_action_denied
from tests.users import make_user

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_client(client):
    client.force_login(make_user("superuser", "root"))
    return client


def test_audit_entries_are_listed_and_shown_but_cannot_be_changed_added_or_deleted(admin_client):
    entry = customer_action_denied(
        actor=Actor(user=None), action="disable", customer_id="5e68c66581f2ee32bc354087"
    )
    assert admin_client.get("/admin/customers/auditentry/").status_code == 200
    change_page = admin_client.get(f"/admin/customers/auditentry/{entry.pk}/change/")
    assert change_page.status_code == 200
    assert 'type="submit" value="Save"' not in change_page.content.decode()
    assert (
        admin_client.post(f"/admin/customers/auditentry/{entry.pk}/change/", {"reason": "x"}).status_code
        == 403
    )
    assert admin_client.get("/admin/customers/auditentry/add/").status_code == 403
    assert (
        admin_client.post(f"/admin/customers/auditentry/{entry.pk}/delete/", {"post": "yes"}).status_code
        == 403
    )
    assert AuditEntry.objects.get(pk=entry.pk).reason == ""
