"""Response headers: signed-in pages and downloads stay out of caches; every response switches off the
browser features the dashboard does not use; static files keep their caching."""

from __future__ import annotations

import pytest
from django.test import Client

from tests.customers.conftest import customer_json, url
from tests.customers.test_export_views import finished_job
from tests.users import make_user

pytestmark = pytest.mark.django_db

PRIVATE = "private, no-store"


def policy(response) -> dict[str, str]:
    """The Permissions-Policy header as feature -> allow list."""
    items = (item.strip().split("=", 1) for item in response["Permissions-Policy"].split(","))
    return dict(items)


def assert_locked_down(response) -> None:
    features = policy(response)
    for feature in ("camera", "microphone", "geolocation", "payment", "usb", "browsing-topics"):
        assert features[feature] == "()", feature
    assert features["clipboard-write"] == "(self)"  # the Copy buttons


def test_a_signed_in_page_is_private_and_not_stored(support_client, tatum):
    tatum.get(url("/v3/ledger/customer"), json=[customer_json()])
    response = support_client.get("/customers/live/")
    assert response.status_code == 200
    assert response["Cache-Control"] == PRIVATE
    assert_locked_down(response)


def test_an_htmx_fragment_is_private_and_not_stored(support_client, tatum):
    tatum.get(url("/v3/ledger/customer"), json=[customer_json()])
    response = support_client.get("/customers/live/?page=1", headers={"HX-Request": "true"})
    assert response.content.decode().lstrip().startswith('<section id="customer-table"')
    assert response["Cache-Control"] == PRIVATE
    assert_locked_down(response)


def test_the_audit_csv_is_private_and_not_stored(client):
    client.force_login(make_user("Compliance"))
    response = client.get("/audit/export/")
    assert response["Content-Disposition"].startswith("attachment")
    assert response["Cache-Control"] == PRIVATE
    assert_locked_down(response)


def test_a_customer_export_download_is_private_and_not_stored(client, settings, tmp_path):
    settings.EXPORT_ROOT = tmp_path
    manager = make_user("Manager")
    job = finished_job(manager, tmp_path)
    client.force_login(manager)
    response = client.get(f"/exports/{job.pk}/download/")
    assert response["Content-Disposition"].startswith("attachment")
    assert response["Cache-Control"] == PRIVATE


def test_the_sign_in_page_keeps_djangos_stricter_never_cache_and_gets_the_policy(client):
    response = client.get("/accounts/login/")
    assert response.status_code == 200
    cache_control = {part.strip() for part in response["Cache-Control"].split(",")}
    assert {"no-store", "no-cache", "must-revalidate", "private"} <= cache_control
    assert_locked_down(response)


def test_a_signed_in_user_on_a_never_cache_page_keeps_the_stricter_header(support_client):
    response = support_client.get("/accounts/login/")
    assert "must-revalidate" in response["Cache-Control"] and "no-store" in response["Cache-Control"]


def test_an_anonymous_redirect_gets_the_policy_and_no_cache_rule_of_a_signed_in_page(client):
    response = client.get("/customers/")
    assert response.status_code == 302
    assert_locked_down(response)
    assert response.get("Cache-Control", "") != PRIVATE


def test_static_files_keep_their_own_caching_for_signed_in_users(settings, support):
    # Whitenoise reads its settings when the middleware is built, i.e. on a new client's first request.
    settings.WHITENOISE_USE_FINDERS = True
    settings.WHITENOISE_MAX_AGE = 3600
    client = Client()
    client.force_login(support)
    response = client.get("/static/css/dashboard.css")
    assert response.status_code == 200
    assert response["Cache-Control"] == "max-age=3600, public"
    assert "no-store" not in response["Cache-Control"]
