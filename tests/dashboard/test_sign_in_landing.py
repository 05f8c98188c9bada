"""Where signing in lands: support staff on the customer list they work from, everyone else on the home
page; a `next` address always wins."""

import pytest

from tests.users import PASSWORD, make_user

pytestmark = pytest.mark.django_db


def sign_in(client, username: str, next_url: str = ""):
    query = f"?next={next_url}" if next_url else ""
    return client.post(f"/accounts/login/{query}", {"username": username, "password": PASSWORD})


@pytest.mark.parametrize(
    ("role", "landing"),
    [("Support", "/customers/"), ("Compliance", "/"), ("Manager", "/"), (None, "/")],
)
def test_signing_in_lands_each_role_where_its_work_starts(client, role, landing):
    user = make_user(role)
    response = sign_in(client, user.username)
    assert response.status_code == 302 and response["Location"] == landing
    assert client.get(landing).status_code == 200


def test_a_next_address_wins_over_the_landing_page(client):
    make_user("Support", "sam")
    response = sign_in(client, "sam", next_url="/audit/unknown/")
    assert response["Location"] == "/audit/unknown/"
