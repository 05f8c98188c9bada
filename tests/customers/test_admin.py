"""The Django admin shows the dashboard's records read-only."""

from __future__ import annotations

import pytest
from pytest_django.asserts import assertInHTML, assertNotInHTML

from customers.audit.models import AuditEntry
from customers.audit.trail import Actor, audit_entry_denied
from tests.users import make_user

pytestmark = pytest.mark.django_db

SAVE_BUTTON = '<input type="submit" value="Save" class="default" name="_save">'


@pytest.fixture
def root(db):
    return make_user("superuser", "root")


@pytest.fixture
def admin_client(client, root):
    client.force_login(root)
    return client


def test_a_record_the_admin_may_change_shows_the_save_button(admin_client, root):
    # The control for the next test: the button it looks for is the one the admin draws.
    page = admin_client.get(f"/admin/auth/user/{root.pk}/change/").content.decode()

    assertInHTML(SAVE_BUTTON, page)


def test_audit_entries_are_listed_and_shown_but_cannot_be_changed_added_or_deleted(admin_client):
    entry = audit_entry_denied(
        actor=Actor(user=None), action="disable", customer_id="5e68c66581f2ee32bc354087"
    )
    assert admin_client.get("/admin/customers/auditentry/").status_code == 200
    change_page = admin_client.get(f"/admin/customers/auditentry/{entry.pk}/change/")
    assert change_page.status_code == 200
    assertNotInHTML(SAVE_BUTTON, change_page.content.decode())
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
