import re

import pytest
from playwright.sync_api import Page, expect

from tests.users import PASSWORD, make_user

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def test_support_user_signs_in_and_sees_the_home_page(page: Page, live_server):
    make_user("Support", "sam")
    page.goto(f"{live_server.url}/customers/")
    expect(page).to_have_url(re.compile(r"/accounts/login/\?next=/customers/"))
    page.get_by_label("Username").fill("sam")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page).to_have_url(re.compile(r"/customers/$"))
    page.goto(f"{live_server.url}/")
    expect(page.get_by_role("heading", name="Welcome, sam")).to_be_visible()
    expect(page.get_by_text("SANDBOX", exact=True)).to_be_visible()
    expect(page.get_by_role("navigation", name="Main").get_by_role("link", name="Customers")).to_be_visible()
    expect(page.get_by_role("button", name="Sign out")).to_be_visible()


def test_wrong_password_is_refused_with_a_message(page: Page, live_server):
    make_user("Support", "sam")
    page.goto(f"{live_server.url}/accounts/login/")
    page.get_by_label("Username").fill("sam")
    page.get_by_label("Password").fill("not-the-password")
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_text("did not match")).to_be_visible()
