"""The session store: Django's database sessions, read with one plain SQL statement."""

from __future__ import annotations

import datetime
from typing import Any

import pytest
from django.contrib.sessions.backends.db import SessionStore as DjangoSessionStore
from django.contrib.sessions.models import Session
from django.utils import timezone

from dashboard.sessions import SessionStore

pytestmark = pytest.mark.django_db


def saved_session(**data: Any) -> str:
    store = SessionStore()
    store.update(data)
    store.create()
    return store.session_key


def test_a_saved_session_loads_what_djangos_store_loads(django_assert_num_queries: Any) -> None:
    key = saved_session(_auth_user_id="7", cart=["a", "b"], note="<b>é</b>")
    store = SessionStore(key)
    with django_assert_num_queries(1):
        loaded = store.load()
    assert (
        loaded
        == DjangoSessionStore(key).load()
        == {"_auth_user_id": "7", "cart": ["a", "b"], "note": "<b>é</b>"}
    )
    assert store.session_key == key


def test_an_expired_session_loads_nothing_and_its_key_is_dropped() -> None:
    key = saved_session(_auth_user_id="7")
    Session.objects.filter(session_key=key).update(expire_date=timezone.now() - datetime.timedelta(seconds=1))
    store = SessionStore(key)
    assert store.load() == {}
    assert store.session_key is None


def test_an_unknown_or_missing_key_loads_nothing() -> None:
    unknown = SessionStore("x" * 32)
    assert unknown.load() == {}
    assert unknown.session_key is None
    assert SessionStore().load() == {}


def test_a_session_changed_and_saved_again_is_read_back() -> None:
    key = saved_session(step=1)
    store = SessionStore(key)
    store["step"] = 2
    store.save()
    assert SessionStore(key).load() == {"step": 2}


def test_the_site_signs_in_and_out_with_this_store(client: Any, settings: Any) -> None:
    from tests.users import PASSWORD, make_user

    assert settings.SESSION_ENGINE == "dashboard.sessions"
    make_user("Support")
    page = client.post("/accounts/login/", {"username": "support", "password": PASSWORD}, follow=True)
    assert "Sign out" in page.content.decode()
    assert Session.objects.count() == 1
    client.post("/accounts/logout/")
    assert Session.objects.count() == 0
    assert client.get("/customers/").status_code == 302
