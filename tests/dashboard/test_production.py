"""Production safety: deploy checks, headers, sign-in throttling, client addresses, request ids, health."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.test import RequestFactory, override_settings

from customers.context import client_ip
from tests.users import PASSWORD, make_user

ROOT = Path(__file__).resolve().parents[2]


def test_deploy_checks_pass_without_warnings_when_debug_is_off():
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "dashboard.settings",
        "DEBUG": "false",
        "SECRET_KEY": "x" * 20 + "-a-long-random-production-secret-key-0123456789",
        "ALLOWED_HOSTS": "dash.example.com",
    }
    result = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


def django_setup(**env: str) -> subprocess.CompletedProcess:
    """Start Django with the production settings and `env` in a fresh process."""
    result = subprocess.run(
        [sys.executable, "-c", "import django; django.setup()"],
        cwd=ROOT,
        env={**os.environ, "DJANGO_SETTINGS_MODULE": "dashboard.settings", **env},
        capture_output=True,
        text=True,
        timeout=60,
    )
    return result


def test_settings_refuse_to_start_without_a_secret_key_when_debug_is_off():
    result = django_setup(DEBUG="false", SECRET_KEY="")
    assert result.returncode != 0
    assert "Set SECRET_KEY" in result.stderr


POOL_SETTINGS = ("TATUM_POOL_SIZE", "WEB_THREADS", "TATUM_EXPORT_CONCURRENCY")
_POOL_VARIABLES = ("TATUM_POOL_SIZE", "GUNICORN_THREADS", "TATUM_EXPORT_CONCURRENCY")


def pool_settings(**env: str) -> dict[str, int]:
    """The pool settings of a fresh process started with `env` (and none of them set otherwise)."""
    inherited = {key: value for key, value in os.environ.items() if key not in _POOL_VARIABLES}
    code = (
        "import django, json; django.setup(); from django.conf import settings; "
        f"print(json.dumps({{name: getattr(settings, name) for name in {POOL_SETTINGS!r}}}))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        env={**inherited, "DJANGO_SETTINGS_MODULE": "dashboard.settings", **env},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_the_tatum_pool_of_the_test_settings_has_room_for_every_call_at_once(settings):
    # A detail page reads the customer and its accounts at once: two connections per web thread.
    assert settings.TATUM_POOL_SIZE >= 2 * settings.WEB_THREADS
    assert settings.TATUM_POOL_SIZE >= settings.TATUM_EXPORT_CONCURRENCY


@pytest.mark.parametrize(
    "env",
    [{}, {"GUNICORN_THREADS": "40"}, {"GUNICORN_THREADS": "2", "TATUM_EXPORT_CONCURRENCY": "12"}],
    ids=["defaults", "many web threads", "a wide export"],
)
def test_the_tatum_pool_grows_with_the_web_threads_and_the_export_concurrency(env):
    values = pool_settings(**env)
    assert values["WEB_THREADS"] == int(env.get("GUNICORN_THREADS", values["WEB_THREADS"]))
    assert values["TATUM_POOL_SIZE"] >= 2 * values["WEB_THREADS"]
    assert values["TATUM_POOL_SIZE"] >= values["TATUM_EXPORT_CONCURRENCY"]


@pytest.mark.django_db
def test_pages_carry_a_strict_content_security_policy_and_a_request_id(client):
    response = client.get("/accounts/login/")
    policy = response["Content-Security-Policy"]
    assert "default-src 'self'" in policy and "script-src 'self'" in policy
    assert "unsafe-inline" not in policy and "unsafe-eval" not in policy
    assert response["X-Frame-Options"] == "DENY"
    assert len(response["X-Request-ID"]) == 32
    assert response["X-Request-ID"] in response.content.decode()


@pytest.mark.django_db
def test_a_well_formed_incoming_request_id_is_kept_and_a_hostile_one_replaced(client):
    assert (
        client.get("/accounts/login/", headers={"X-Request-ID": "lb-0123456789"})["X-Request-ID"]
        == "lb-0123456789"
    )
    hostile = client.get("/accounts/login/", headers={"X-Request-ID": "<script>alert(1)</script>"})
    assert hostile["X-Request-ID"] != "<script>alert(1)</script>"
    assert "<script>alert(1)</script>" not in hostile.content.decode()


@pytest.mark.parametrize(
    "count,forwarded,remote,expected",
    [
        (0, "198.51.100.7", "10.0.0.2", "10.0.0.2"),
        (1, "6.6.6.6, 198.51.100.7", "10.0.0.2", "198.51.100.7"),
        (2, "6.6.6.6, 198.51.100.7, 10.0.0.9", "10.0.0.2", "198.51.100.7"),
        (2, "198.51.100.7", "10.0.0.2", "10.0.0.2"),
    ],
)
def test_client_ip_trusts_exactly_the_configured_number_of_proxies(count, forwarded, remote, expected):
    request = RequestFactory().get("/", HTTP_X_FORWARDED_FOR=forwarded, REMOTE_ADDR=remote)
    with override_settings(TRUSTED_PROXY_COUNT=count):
        assert client_ip(request) == expected


@pytest.mark.django_db
def test_repeated_wrong_passwords_lock_the_account_out_from_that_address(client, settings):
    make_user("Support", "sam")
    for _ in range(settings.AXES_FAILURE_LIMIT):
        client.post("/accounts/login/", {"username": "sam", "password": "wrong"}, REMOTE_ADDR="198.51.100.7")
    locked = client.post(
        "/accounts/login/", {"username": "sam", "password": PASSWORD}, REMOTE_ADDR="198.51.100.7"
    )
    assert locked.status_code == 429
    assert "Too many sign-in attempts" in locked.content.decode()
    assert "Wait 15 minutes and try again" in locked.content.decode()
    elsewhere = client.post(
        "/accounts/login/", {"username": "sam", "password": PASSWORD}, REMOTE_ADDR="203.0.113.5"
    )
    assert elsewhere.status_code == 302


@pytest.mark.django_db(transaction=True)
def test_healthz_reports_database_and_upstream_without_sign_in_or_secrets(client, live_server, settings):
    settings.TATUM_API_URL = f"{live_server.url}/sandbox"
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "database": "ok", "upstream": "ok"}
    assert settings.SANDBOX_API_KEY not in response.content.decode()


@pytest.mark.django_db
def test_healthz_says_degraded_when_tatum_is_unreachable(client, settings):
    settings.TATUM_API_URL = "http://127.0.0.1:9/sandbox"
    settings.TATUM_TIMEOUT = (0.2, 0.2)
    response = client.get("/healthz")
    assert response.status_code == 503
    assert json.loads(response.content) == {"status": "degraded", "database": "ok", "upstream": "unreachable"}


@pytest.mark.django_db
def test_the_api_key_is_never_rendered_even_when_tatum_echoes_it(client, settings, mocked_responses):
    secret = "live-key-0123456789abcdef"
    settings.SANDBOX_MODE = False
    settings.TATUM_API_KEY = secret
    settings.TATUM_API_URL = "https://tatum.test"
    refusal = {
        "statusCode": 401,
        "errorCode": "subscription.invalid",
        "message": f"Unable to find valid subscription for '{secret}'",
    }
    mocked_responses.get("https://tatum.test/v3/tatum/version", status=401, json=refusal)
    mocked_responses.get("https://tatum.test/v3/ledger/customer", status=401, json=refusal)
    client.force_login(make_user("Support"))
    page = client.get("/customers/live/").content.decode()
    assert "refuses the dashboard" in page
    assert secret not in page


@pytest.mark.django_db
def test_lockout_follows_the_address_the_trusted_proxy_saw_not_a_spoofed_header(client, settings):
    settings.TRUSTED_PROXY_COUNT = 1
    make_user("Support", "sam")
    for attempt in range(settings.AXES_FAILURE_LIMIT):
        client.post(
            "/accounts/login/",
            {"username": "sam", "password": "wrong"},
            REMOTE_ADDR="10.0.0.2",
            HTTP_X_FORWARDED_FOR=f"1.2.3.{attempt}, 198.51.100.7",
        )
    locked = client.post(
        "/accounts/login/",
        {"username": "sam", "password": PASSWORD},
        REMOTE_ADDR="10.0.0.2",
        HTTP_X_FORWARDED_FOR="9.9.9.9, 198.51.100.7",
    )
    assert locked.status_code == 429
