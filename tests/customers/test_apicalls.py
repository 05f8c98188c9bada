from __future__ import annotations

import datetime
from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import AnonymousUser
from django.utils import timezone
from django.utils.functional import SimpleLazyObject

from customers.apicalls import credits_spent_today, record_api_call
from customers.models import ApiCall
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


@pytest.fixture
def alice() -> Any:
    return get_user_model().objects.create_user("alice", "alice@example.com", "pw-alice-123")


@pytest.fixture
def bob() -> Any:
    return get_user_model().objects.create_user("bob", "bob@example.com", "pw-bob-123")


def local_midnight() -> datetime.datetime:
    return timezone.make_aware(datetime.datetime.combine(timezone.localdate(), datetime.time.min))


def call_at(user: Any, at: datetime.datetime, credits: int) -> ApiCall:
    return ApiCall.objects.create(
        at=at, user=user, method="GET", route="/v3/tatum/version", status=200, duration_ms=5, credits=credits
    )


def test_record_api_call_stores_the_record_outside_a_request_without_a_user() -> None:
    record_api_call(RECORD)

    row = ApiCall.objects.get()
    assert row.user is None
    assert row.request_id == "-"
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
