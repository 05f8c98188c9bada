"""Fault injection: each kind as a client sees it over HTTP, the plan API, settings and the command."""

from __future__ import annotations

import random
import time

import pytest
import requests
from django.core.management import call_command
from django.core.management.base import CommandError

from sandbox.faults import (
    BASIC_KINDS,
    FaultSettings,
    fault_next,
    fault_plan_clear,
    fault_plan_get,
    fault_plan_set,
    pick_fault,
)
from sandbox.models import Customer
from tests.sandbox.conftest import KEY, NO_KEY, make_customer

pytestmark = pytest.mark.django_db(transaction=True)

HEADERS = {"x-api-key": KEY}


def _customer_url(api, customer: Customer, suffix: str = "") -> str:
    return api.url(f"/v3/ledger/customer/{customer.ledger_id}{suffix}")


def _enabled(customer: Customer) -> bool:
    return Customer.objects.get(pk=customer.pk).enabled


def test_a_500_fault_answers_tatums_500_body_and_applies_nothing(api):
    customer = make_customer()
    fault_next("500")

    response = api.put(f"/v3/ledger/customer/{customer.ledger_id}/disable")

    assert response.status_code == 500
    assert response.json() == {"statusCode": 500, "message": "Internal server error"}
    assert _enabled(customer)


def test_a_429_fault_carries_retry_after(api):
    fault_next("429")

    response = api.get("/v3/ledger/customer", params={"pageSize": 5})

    assert response.status_code == 429
    assert response.headers["Retry-After"] == "1"
    assert response.json() == {"statusCode": 429, "errorCode": "rate.limit", "message": "Too many requests"}


def test_the_retry_after_value_is_configurable(api, settings):
    settings.SANDBOX_RETRY_AFTER_SECONDS = 4
    fault_next("429")
    assert api.get("/v3/tatum/version").headers["Retry-After"] == "4"

    fault_plan_set(retry_after_seconds=9)
    fault_next("429")
    assert api.get("/v3/tatum/version").headers["Retry-After"] == "9"


def test_a_timeout_fault_outlasts_the_clients_read_timeout_and_applies_nothing(api):
    customer = make_customer()
    fault_plan_set(timeout_seconds=1.0)
    fault_next("timeout")

    started = time.monotonic()
    with pytest.raises(requests.Timeout):
        requests.put(_customer_url(api, customer, "/disable"), headers=HEADERS, timeout=(2, 0.2))

    assert time.monotonic() - started < 0.9
    assert _enabled(customer)


def test_a_timeout_fault_ends_with_a_504_for_a_patient_client(api, settings):
    settings.SANDBOX_TIMEOUT_SECONDS = 0.05
    customer = make_customer()
    fault_next("timeout")

    response = api.put(f"/v3/ledger/customer/{customer.ledger_id}/disable")

    assert response.status_code == 504
    assert _enabled(customer)


def test_a_timeout_after_fault_applies_the_write_before_stalling(api):
    customer = make_customer()
    fault_plan_set(timeout_seconds=1.0)
    fault_next("timeout_after")

    with pytest.raises(requests.Timeout):
        requests.put(_customer_url(api, customer, "/disable"), headers=HEADERS, timeout=(2, 0.3))

    assert not _enabled(customer)


def test_a_patient_client_gets_the_real_answer_after_a_timeout_after_stall(api, settings):
    settings.SANDBOX_TIMEOUT_SECONDS = 0.05
    customer = make_customer()
    fault_next("timeout_after")

    response = api.put(f"/v3/ledger/customer/{customer.ledger_id}", json={"externalId": "late"})

    assert response.status_code == 200
    assert response.json()["externalId"] == "late"


def test_a_drop_fault_closes_the_connection_without_a_response_and_applies_nothing(api):
    customer = make_customer()
    fault_next("drop")

    with pytest.raises(requests.ConnectionError):
        requests.put(_customer_url(api, customer, "/disable"), headers=HEADERS, timeout=5)

    assert _enabled(customer)
    assert requests.get(_customer_url(api, customer), headers=HEADERS, timeout=5).status_code == 200


def test_a_drop_after_fault_applies_the_write_then_closes_the_connection(api):
    customer = make_customer()
    fault_next("drop_after")

    with pytest.raises(requests.ConnectionError):
        requests.put(_customer_url(api, customer, "/disable"), headers=HEADERS, timeout=5)

    assert not _enabled(customer)


def test_a_drop_fault_on_a_kept_alive_session_connection(api):
    make_customer()
    assert api.get("/v3/ledger/customer", params={"pageSize": 5}).status_code == 200
    fault_next("drop")

    with pytest.raises(requests.ConnectionError):
        api.get("/v3/ledger/customer", params={"pageSize": 5})

    assert api.get("/v3/ledger/customer", params={"pageSize": 5}).status_code == 200


def test_a_malformed_fault_answers_200_with_a_body_that_is_not_json(api):
    customer = make_customer()
    fault_next("malformed")

    response = api.put(f"/v3/ledger/customer/{customer.ledger_id}/disable")

    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("application/json")
    with pytest.raises(requests.JSONDecodeError):
        response.json()
    assert _enabled(customer)


def test_queued_faults_hit_exactly_the_next_n_authenticated_calls(api):
    fault_next("500", count=3)

    assert api.get("/v3/tatum/version", key="wrong").status_code == 401
    assert api.get("/v3/nowhere").status_code == 404
    statuses = [api.get("/v3/tatum/version").status_code for _ in range(5)]

    assert statuses == [500, 500, 500, 200, 200]
    assert fault_plan_get().next_count == 0


def test_queued_faults_with_several_kinds_use_only_those_kinds(api):
    fault_next(["500", "429"], count=6)

    statuses = {api.get("/v3/tatum/version").status_code for _ in range(6)}

    assert statuses <= {500, 429}


def test_a_rate_of_one_fails_every_call_and_zero_none(api):
    fault_plan_set(rate=1.0, kinds=["429"])
    assert {api.get("/v3/tatum/version").status_code for _ in range(5)} == {429}

    fault_plan_set(rate=0.0)
    assert {api.get("/v3/tatum/version").status_code for _ in range(5)} == {200}


def test_faults_never_touch_unauthenticated_calls_or_unknown_paths(api):
    fault_plan_set(rate=1.0, kinds=["500"])

    assert api.get("/v3/tatum/version", key=NO_KEY).status_code == 401
    assert api.get("/v3/tatum/version", key="wrong").status_code == 401
    assert api.get("/v3/unknown").status_code == 404


def test_settings_supply_the_rate_and_kinds(api, settings):
    settings.SANDBOX_FAULT_RATE = 1
    settings.SANDBOX_FAULT_KINDS = "429"

    assert api.get("/v3/tatum/version").status_code == 429


def test_the_environment_supplies_them_when_settings_do_not(api, monkeypatch):
    monkeypatch.setenv("SANDBOX_FAULT_RATE", "1")
    monkeypatch.setenv("SANDBOX_FAULT_KINDS", " 500 , not-a-kind")

    assert fault_plan_get().kinds == ("500",)
    assert {api.get("/v3/tatum/version").status_code for _ in range(3)} == {500}


def test_the_runtime_plan_overrides_the_settings_until_cleared(api, settings):
    settings.SANDBOX_FAULT_RATE = 1
    settings.SANDBOX_FAULT_KINDS = "500"
    fault_plan_set(rate=0)
    assert api.get("/v3/tatum/version").status_code == 200

    fault_plan_clear()

    assert api.get("/v3/tatum/version").status_code == 500


def test_without_any_configuration_nothing_fails():
    config = fault_plan_get()

    assert config.rate == 0
    assert config.kinds == BASIC_KINDS
    assert config.next_count == 0
    assert config.timeout_seconds == 12
    assert config.retry_after_seconds == 1


@pytest.mark.parametrize(
    "call",
    [
        lambda: fault_plan_set(rate=1.5),
        lambda: fault_plan_set(rate=-0.1),
        lambda: fault_plan_set(kinds=["500", "boom"]),
        lambda: fault_plan_set(kinds=[]),
        lambda: fault_plan_set(timeout_seconds=-1),
        lambda: fault_next("teapot"),
        lambda: fault_next("500", count=-1),
    ],
)
def test_the_plan_api_rejects_nonsense(call):
    with pytest.raises(ValueError):
        call()


def test_pick_fault_fails_about_rate_of_calls_spread_over_the_kinds():
    config = FaultSettings(
        rate=0.3, kinds=("500", "drop"), next_count=0, next_kinds=(), timeout_seconds=1, retry_after_seconds=1
    )
    rng = random.Random(7)

    picks = [pick_fault(config, rng) for _ in range(20_000)]

    failed = [kind for kind in picks if kind is not None]
    assert 0.28 < len(failed) / len(picks) < 0.32
    assert 0.45 < failed.count("500") / len(failed) < 0.55


def test_the_command_sets_queues_shows_and_clears_the_plan(capsys):
    call_command(
        "sandbox_faults",
        "--rate",
        "0.2",
        "--kinds",
        "500,429",
        "--timeout-seconds",
        "3",
        "--retry-after",
        "5",
    )
    config = fault_plan_get()
    assert (config.rate, config.kinds, config.timeout_seconds, config.retry_after_seconds) == (
        0.2,
        ("500", "429"),
        3,
        5,
    )

    call_command("sandbox_faults", "--next", "3", "--kinds", "timeout")
    config = fault_plan_get()
    assert (config.next_count, config.next_kinds, config.kinds) == (3, ("timeout",), ("500", "429"))

    call_command("sandbox_faults")
    assert "next=3" in capsys.readouterr().out

    call_command("sandbox_faults", "--clear")
    assert fault_plan_get().rate == 0 and fault_plan_get().next_count == 0


@pytest.mark.parametrize("arguments", [["--kinds", "500,bogus"], ["--rate", "2"], ["--next", "2"]])
def test_the_command_refuses_bad_input(arguments):
    with pytest.raises(CommandError):
        call_command("sandbox_faults", *arguments)
