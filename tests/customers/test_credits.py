"""Call records and daily credit tallies (`customers/credits/calls.py`), alone and inside requests."""

from __future__ import annotations

import datetime
import importlib
import re
from typing import Any

import pytest
import responses
from django.apps import apps as django_apps
from django.conf import settings as django_settings
from django.contrib.auth.models import AnonymousUser, Permission
from django.core.handlers.base import BaseHandler
from django.db import OperationalError, connection
from django.http import HttpRequest, HttpResponse
from django.test import RequestFactory
from django.test.utils import CaptureQueriesContext
from django.urls import path
from django.utils import timezone
from django.utils.functional import SimpleLazyObject

import customers.credits.calls
from customers.context import acting_as, actor_var
from customers.credits.calls import (
    api_calls_collect,
    api_calls_store,
    api_calls_store_collected,
    credits_spent_today,
    record_api_call,
)
from customers.credits.client import tatum_client
from customers.credits.models import ApiCall, CreditTally
from customers.tatum import CallRecord
from tests.customers.conftest import CUSTOMER_ID, account_json, customer_json, url

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


# --- Inside a request: collected, then stored in one go when the view is done --------------------


def test_collected_calls_are_counted_at_once_and_stored_together_later(alice: Any) -> None:
    call_at(alice, timezone.now(), 4)
    with acting_as(alice):
        token = api_calls_collect()
        record_api_call(RECORD)
        record_api_call(RECORD)
        assert ApiCall.objects.count() == 1
        assert credits_spent_today(alice) == 8
        api_calls_store_collected(token)
    stored = ApiCall.objects.filter(method="PUT")
    assert [call.user for call in stored] == [alice, alice]
    assert credits_spent_today(alice) == 8


def test_another_users_collected_calls_are_not_counted_for_them(alice: Any, bob: Any) -> None:
    with acting_as(alice):
        token = api_calls_collect()
        record_api_call(RECORD)
        assert credits_spent_today(bob) == 0
        assert credits_spent_today(alice) == 2
        api_calls_store_collected(token)


def test_once_the_collected_calls_are_stored_each_new_call_is_stored_at_once(alice: Any) -> None:
    with acting_as(alice):
        token = api_calls_collect()
        api_calls_store_collected(token)
        record_api_call(RECORD)
    assert ApiCall.objects.count() == 1


def test_a_failed_store_of_the_collected_calls_is_logged_call_by_call_not_raised(
    alice: Any, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    def refuse(*args: Any, **kwargs: Any) -> None:
        raise OperationalError("disk I/O error")

    with acting_as(alice, request_id="req-12345678"):
        token = api_calls_collect()
        record_api_call(RECORD)
        monkeypatch.setattr(ApiCall.objects, "bulk_create", refuse)
        api_calls_store_collected(token)
    assert ApiCall.objects.count() == 0
    assert (
        "Unrecorded Tatum call PUT /v3/ledger/customer/{id}/disable -> 403, 2 credits, request req-12345678"
        in caplog.text
    )


def inserts_into(table: str, queries: CaptureQueriesContext) -> list[str]:
    pattern = re.compile(rf"^INSERT INTO \W?{table}\W", re.IGNORECASE)
    return [query["sql"] for query in queries.captured_queries if pattern.match(query["sql"])]


def serve(request: HttpRequest) -> HttpResponse:
    """Run the middleware and the view as a WSGI server does, up to the response it is handed.

    The response is not closed, so nothing that happens after it goes out (`request_finished`) runs.
    """
    handler = BaseHandler()
    handler.load_middleware()
    return handler.get_response(request)


def signed_in_get(client: Any, user: Any, path: str) -> HttpRequest:
    client.force_login(user)
    session = client.cookies[django_settings.SESSION_COOKIE_NAME].value
    return RequestFactory().get(path, HTTP_COOKIE=f"{django_settings.SESSION_COOKIE_NAME}={session}")


def test_a_page_stores_its_call_records_in_one_insert_before_its_response_goes_out(
    client: Any, support: Any, tatum: responses.RequestsMock
) -> None:
    tatum.get(url(f"/v3/ledger/customer/{CUSTOMER_ID}"), json=customer_json())
    tatum.get(url(f"/v3/ledger/account/customer/{CUSTOMER_ID}"), json=[account_json()])
    request = signed_in_get(client, support, f"/customers/{CUSTOMER_ID}/")

    with CaptureQueriesContext(connection) as queries:
        response = serve(request)

    assert response.status_code == 200
    calls = ApiCall.objects.order_by("route")
    assert [(call.route, call.user, call.request_id) for call in calls] == [
        ("/v3/ledger/account/customer/{id}", support, response["X-Request-ID"]),
        ("/v3/ledger/customer/{id}", support, response["X-Request-ID"]),
    ]
    assert len(inserts_into(ApiCall._meta.db_table, queries)) == 1


def _two_calls_then_a_bug(request: HttpRequest) -> HttpResponse:
    api = tatum_client()
    api.get_usage()
    api.get_usage()
    raise RuntimeError("a bug after the calls")


urlpatterns = [path("two-calls-then-a-bug/", _two_calls_then_a_bug)]


@pytest.mark.urls(__name__)
def test_a_view_that_raises_still_stores_its_call_records_in_one_insert(
    client: Any, alice: Any, settings: Any
) -> None:
    client.force_login(alice)
    with responses.RequestsMock() as tatum, CaptureQueriesContext(connection) as queries:
        tatum.get(f"{settings.TATUM_API_URL}/v3/tatum/usage", json=[])
        tatum.get(f"{settings.TATUM_API_URL}/v3/tatum/usage", json=[])
        with pytest.raises(RuntimeError, match="a bug after the calls"):
            client.get("/two-calls-then-a-bug/")

    assert [(call.route, call.user) for call in ApiCall.objects.all()] == [("/v3/tatum/usage", alice)] * 2
    assert len(inserts_into(ApiCall._meta.db_table, queries)) == 1
    assert credits_spent_today(alice) == 2


def test_a_page_counts_its_own_calls_in_the_credits_it_shows(client: Any, alice: Any, settings: Any) -> None:
    alice.user_permissions.add(Permission.objects.get(codename="view_customers"))
    client.force_login(alice)
    with responses.RequestsMock() as tatum:
        tatum.get(f"{settings.TATUM_API_URL}/v3/ledger/customer", json=[])
        page = client.get("/customers/live/").content.decode()
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
        list_page = client.get("/customers/live/").content.decode()
        tatum.get(f"{settings.TATUM_API_URL}/v3/ledger/customer/abc", status=404, json={"statusCode": 404})
        lookup_page = client.get("/customers/lookup/?q=abc").content.decode()
    assert "5 credits today" in list_page  # its own call counts before it is stored
    assert "6 credits today" in lookup_page  # the list page's call, stored since, and its own


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

    monkeypatch.setattr(customers.credits.calls, "_tally_add", refuse)
    with pytest.raises(OperationalError):
        call_at(alice, timezone.now(), 2)
    assert ApiCall.objects.count() == 0


def test_storing_calls_adds_to_each_tally_in_one_statement_without_reading_it(alice: Any, bob: Any) -> None:
    call_at(alice, timezone.now(), 1)
    calls = [
        ApiCall(
            at=timezone.now(), user=user, method="GET", route="/v3/x", status=200, duration_ms=1, credits=n
        )
        for user, n in [(alice, 2), (alice, 3), (bob, 4)]
    ]

    with CaptureQueriesContext(connection) as queries:
        api_calls_store(calls)

    statements = [query["sql"].split()[0].upper() for query in queries.captured_queries]
    assert len(inserts_into(CreditTally._meta.db_table, queries)) == 2  # one per user and day
    assert "SELECT" not in statements and "UPDATE" not in statements
    tallies = {t.user_id: t.credits for t in CreditTally.objects.filter(day=timezone.localdate())}
    assert tallies == {alice.pk: 1 + 2 + 3, bob.pk: 4}


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
