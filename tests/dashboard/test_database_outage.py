"""A database that is not answering: a 503 page that says so (never a bare 500), and a health check
that answers without it, whatever cookie the caller sends."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from django.db import OperationalError
from django.db.backends.base.base import BaseDatabaseWrapper
from django.test import RequestFactory

from customers.pages import server_error
from tests.customers.conftest import CUSTOMER_ID, customer_json, url
from tests.users import make_user

pytestmark = pytest.mark.django_db

HTMX = {"HX-Request": "true"}
NOT_ANSWERING = "The dashboard's database is not answering; nothing was changed."
MAY_HAVE_CHANGED = "stopped answering after a change had been sent to Tatum"


class DatabaseSwitch:
    """Takes the database down and brings it back: while down, every new query fails the way a
    refused connection does, in the backend itself (under the session, the user and the views)."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.down = False
        ensure_connection = BaseDatabaseWrapper.ensure_connection

        def ensure_or_refuse(connection: BaseDatabaseWrapper) -> None:
            if self.down:
                raise OperationalError("connection refused: is the server running?")
            ensure_connection(connection)

        monkeypatch.setattr(BaseDatabaseWrapper, "ensure_connection", ensure_or_refuse)


@pytest.fixture
def database(monkeypatch: pytest.MonkeyPatch) -> Iterator[DatabaseSwitch]:
    switch = DatabaseSwitch(monkeypatch)
    yield switch
    switch.down = False  # the test database is torn down after this


@pytest.fixture
def signed_in(client):
    """A signed-in support user's browser; it shows error pages as a browser would, not re-raised."""
    client.force_login(make_user("Support"))
    client.raise_request_exception = False
    return client


def test_a_signed_in_page_answers_503_saying_the_database_is_not_answering(signed_in, database):
    database.down = True
    response = signed_in.get("/")
    page = response.content.decode()
    assert response.status_code == 503
    assert NOT_ANSWERING in page and "reload the page" in page
    assert f"Request {response['X-Request-ID']}" in page
    assert response["X-Dashboard-Outage"] == "database"
    assert response["Retry-After"].isdigit()
    assert "no-store" in response["Cache-Control"]


def test_an_htmx_request_gets_the_503_with_the_header_its_script_reads(signed_in, database):
    database.down = True
    response = signed_in.get("/customers/", headers=HTMX)
    assert response.status_code == 503
    assert response["X-Dashboard-Outage"] == "database"
    assert response["X-Request-ID"]
    assert 'id="credits-today"' not in response.content.decode()


def test_the_page_works_again_once_the_database_is_back(signed_in, database):
    database.down = True
    assert signed_in.get("/").status_code == 503
    database.down = False
    assert signed_in.get("/").status_code == 200


def test_the_page_says_a_change_may_have_happened_when_the_database_fails_after_the_write(
    signed_in, database, mocked_responses, settings
):
    settings.TATUM_API_URL = "https://tatum.test"
    customer_path = f"/v3/ledger/customer/{CUSTOMER_ID}"
    mocked_responses.get(url(customer_path), json=customer_json())
    form = signed_in.get(f"/customers/{CUSTOMER_ID}/edit/").context["form"]

    def write_then_lose_the_database(request):
        database.down = True
        return 200, {"Content-Type": "application/json"}, request.body.decode()

    mocked_responses.add_callback("PUT", url(customer_path), callback=write_then_lose_the_database)
    response = signed_in.post(
        f"/customers/{CUSTOMER_ID}/edit/",
        {**form.initial, "external_id": "renamed", "fingerprint": form.initial["fingerprint"]},
    )
    page = response.content.decode()
    assert response.status_code == 503
    assert MAY_HAVE_CHANGED in page and "nothing was changed" not in page
    assert response["X-Dashboard-Outage"] == "database-after-change"


def test_any_other_error_keeps_the_plain_500_page():
    request = RequestFactory().get("/")
    try:
        raise ValueError("a bug, not an outage")
    except ValueError:
        response = server_error(request)
    assert response.status_code == 500
    assert "X-Dashboard-Outage" not in response


def test_healthz_with_a_session_cookie_answers_its_503_json_when_the_database_is_down(
    signed_in, database, mocked_responses, settings, caplog
):
    settings.TATUM_API_URL = "https://tatum.test"
    mocked_responses.get(url("/v3/tatum/version"), json={"version": "3.18.3", "testnet": True})
    database.down = True
    response = signed_in.get("/healthz")
    assert response.status_code == 503
    assert response.json() == {"status": "degraded", "database": "unreachable", "upstream": "ok"}
    # The session was never read (reading it adds `Vary: Cookie`), nor the user for the probe's record.
    assert "Cookie" not in response.get("Vary", "")
    assert "Could not record the Tatum call" not in caplog.text
