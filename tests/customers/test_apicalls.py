from __future__ import annotations

import datetime
import importlib
from typing import Any

import pytest
import responses
from django.apps import apps as django_apps
from django.contrib.auth.models import AnonymousUser, Permission
from django.core.signals import request_finished
from django.db import OperationalError, close_old_connections
from django.utils import timezone
from django.utils.functional import SimpleLazyObject

import customers.apicalls
from customers.apicalls import (
    api_calls_defer,
    api_calls_flush,
    api_calls_store,
    credits_spent_today,
    record_api_call,
)
from customers.models import ApiCall, CreditTally
from customers.tatum import CallRecord
from dashboard.context import acting_as, actor_var

pytestmark = pytest.mark.django_db

RECORD = CallRecord(
    method="PUT",
    route="/v3/ledger/customer/{id}/disable",
    status=403,
    duration_ms=87,
    credits=2,
    error_code="customer.disabled",
)


def local_midnight() -> datetime.datetime:
    return timezone.make_aware(datetime.datetime.combine(timezone.localdate(), datetime.time.min))


def call_at(user: Any, at: datetime.datetime, credits: int) -> ApiCall:
    call = ApiCall(
        at=at, user=user, method="GET", route="/v3/tatum/version", status=200, duration_ms=5, credits=credits
    )
    api_calls_store([call])
    return call


def test_record_api_call_stores_the_record_outside_a_request_without_a_user() -> None:
    record_api_call(RECORD)

    row = ApiCall.objects.get()
    assert row.user is None
    assert row.request_id == ""
    assert (row.method, row.route, row.status, row.duration_ms, row.credits, row.error_code) == (
        "PUT",
        "/v3/ledger/customer/{id}/disable",
        403,
        87,
        2,
        "customer.disabled",
    )
    assert abs(timezone.now() - row.at) < datetime.timedelta(seconds=5)


def test_record_api_call_attributes_the_call_to_the_acting_user_and_request(alice: Any) -> None:
    with acting_as(alice, request_id="req-0a1b2c3d"):
        record_api_call(RECORD)

    row = ApiCall.objects.get()
    assert row.user == alice
    assert row.request_id == "req-0a1b2c3d"


def test_record_api_call_accepts_the_lazy_user_a_request_carries(alice: Any) -> None:
    token = actor_var.set(SimpleLazyObject(lambda: alice))
    try:
        record_api_call(RECORD)
    finally:
        actor_var.reset(token)

    assert ApiCall.objects.get().user_id == alice.pk


def test_record_api_call_stores_a_call_without_an_answer() -> None:
    record_api_call(CallRecord("GET", "/v3/ledger/customer", None, 3000, 1, ""))

    row = ApiCall.objects.get()
    assert (row.status, row.credits, row.error_code) == (None, 1, "")


def test_credits_spent_today_sums_only_the_users_calls_since_local_midnight(
    alice: Any, bob: Any, settings: Any
) -> None:
    settings.TIME_ZONE = "Pacific/Auckland"
    midnight = local_midnight()
    call_at(alice, midnight, 2)
    call_at(alice, timezone.now(), 1)
    call_at(alice, midnight - datetime.timedelta(seconds=1), 50)
    call_at(bob, timezone.now(), 70)

    assert credits_spent_today(alice) == 3


def test_credits_spent_today_is_zero_without_calls(alice: Any) -> None:
    assert credits_spent_today(alice) == 0


def test_credits_spent_today_uses_one_query(alice: Any, django_assert_num_queries: Any) -> None:
    call_at(alice, timezone.now(), 2)
    call_at(alice, timezone.now(), 2)

    with django_assert_num_queries(1):
        assert credits_spent_today(alice) == 4


@pytest.mark.parametrize("user", [None, AnonymousUser()])
def test_credits_spent_today_is_zero_for_no_user(user: Any) -> None:
    call_at(None, timezone.now(), 9)

    assert credits_spent_today(user) == 0


# --- Inside a request: stored once the response has gone out ------------------------------------


def finish_request() -> None:
    """Send `request_finished` as the test client does, keeping the test's database connection open
    (Django's own receiver would close a connection that is inside the test's transaction)."""
    request_finished.disconnect(close_old_connections)
    try:
        request_finished.send(sender=None)
    finally:
        request_finished.connect(close_old_connections)


def test_a_requests_calls_are_stored_when_its_response_is_finished_and_counted_before(alice: Any) -> None:
    call_at(alice, timezone.now(), 4)
    with acting_as(alice):
        api_calls_defer()
        record_api_call(RECORD)
        record_api_call(RECORD)
        assert ApiCall.objects.count() == 1
        assert credits_spent_today(alice) == 8
        finish_request()
    stored = ApiCall.objects.filter(method="PUT")
    assert [call.user for call in stored] == [alice, alice]
    assert credits_spent_today(alice) == 8


def test_another_users_pending_calls_are_not_counted_for_them(alice: Any, bob: Any) -> None:
    with acting_as(alice):
        api_calls_defer()
        record_api_call(RECORD)
        assert credits_spent_today(bob) == 0
        api_calls_flush()


def test_calls_left_over_by_a_request_that_never_finished_are_stored_by_the_next(alice: Any) -> None:
    with acting_as(alice):
        api_calls_defer()
        record_api_call(RECORD)
        api_calls_defer()
        assert ApiCall.objects.count() == 1
        api_calls_flush()
    assert ApiCall.objects.count() == 1


def test_a_failed_store_after_the_response_is_logged_call_by_call_not_raised(
    alice: Any, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    def refuse(*args: Any, **kwargs: Any) -> None:
        raise OperationalError("disk I/O error")

    with acting_as(alice, request_id="req-12345678"):
        api_calls_defer()
        record_api_call(RECORD)
    monkeypatch.setattr(ApiCall.objects, "bulk_create", refuse)
    finish_request()
    assert ApiCall.objects.count() == 0
    assert (
        "Unrecorded Tatum call PUT /v3/ledger/customer/{id}/disable -> 403, 2 credits, request req-12345678"
        in (caplog.text)
    )


def test_a_page_counts_its_own_calls_in_the_credits_it_shows(client: Any, alice: Any, settings: Any) -> None:
    alice.user_permissions.add(Permission.objects.get(codename="view_customers"))
    client.force_login(alice)
    with responses.RequestsMock() as tatum:
        tatum.get(f"{settings.TATUM_API_URL}/v3/ledger/customer", json=[])
        page = client.get("/customers/").content.decode()
    assert "1 credit today" in page
    assert ApiCall.objects.get().user == alice


def test_a_page_shows_the_credits_stored_before_it_and_its_own(
    client: Any, alice: Any, settings: Any
) -> None:
    alice.user_permissions.add(Permission.objects.get(codename="view_customers"))
    call_at(alice, timezone.now(), 4)
    call_at(alice, timezone.now() - datetime.timedelta(days=2), 9)  # another day
    client.force_login(alice)
    with responses.RequestsMock() as tatum:
        tatum.get(f"{settings.TATUM_API_URL}/v3/ledger/customer", json=[])
        list_page = client.get("/customers/").content.decode()
        tatum.get(f"{settings.TATUM_API_URL}/v3/ledger/customer/abc", status=404, json={"statusCode": 404})
        lookup_page = client.get("/customers/lookup/?q=abc").content.decode()
    assert "5 credits today" in list_page  # a whole page rendered while Tatum answers
    assert "6 credits today" in lookup_page  # a page rendered after its call


# --- The daily tally ------------------------------------------------------------------------------


def test_each_users_calls_add_up_in_one_tally_row_per_local_day(alice: Any, bob: Any, settings: Any) -> None:
    settings.TIME_ZONE = "Pacific/Auckland"
    midnight = local_midnight()
    call_at(alice, midnight - datetime.timedelta(seconds=1), 50)
    call_at(alice, midnight, 2)
    call_at(alice, timezone.now(), 1)
    call_at(bob, timezone.now(), 70)
    call_at(None, timezone.now(), 9)

    tallies = {(t.user_id, t.day): t.credits for t in CreditTally.objects.all()}
    today = timezone.localdate()
    assert tallies == {
        (alice.pk, today - datetime.timedelta(days=1)): 50,
        (alice.pk, today): 3,
        (bob.pk, today): 70,
    }


def test_a_failed_tally_stores_no_call_either(alice: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*args: Any, **kwargs: Any) -> None:
        raise OperationalError("database is locked")

    monkeypatch.setattr(customers.apicalls, "counter_add", refuse)
    with pytest.raises(OperationalError):
        call_at(alice, timezone.now(), 2)
    assert ApiCall.objects.count() == 0


def test_the_tally_migration_adds_up_the_calls_recorded_before_it(alice: Any, bob: Any) -> None:
    today = timezone.localdate()
    for user, credits in [(alice, 1), (alice, 2), (bob, 5), (None, 7)]:
        ApiCall.objects.create(
            at=timezone.now(),
            user=user,
            method="GET",
            route="/v3/x",
            status=200,
            duration_ms=1,
            credits=credits,
        )
    ApiCall.objects.create(
        at=timezone.now() - datetime.timedelta(days=2),
        user=alice,
        method="PUT",
        route="/v3/x",
        status=204,
        duration_ms=1,
        credits=2,
    )
    migration = importlib.import_module("customers.migrations.0006_credittally")

    migration.tally_existing_calls(django_apps, None)

    tallies = {(t.user_id, t.day): t.credits for t in CreditTally.objects.all()}
    assert tallies == {
        (alice.pk, today): 3,
        (alice.pk, today - datetime.timedelta(days=2)): 2,
        (bob.pk, today): 5,
    }
