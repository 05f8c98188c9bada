"""axe-core checks every page, for every role that opens it, on a desktop window and on a phone."""

from __future__ import annotations

import pytest
from axe_playwright_python.sync_playwright import Axe
from playwright.sync_api import Browser

from tests.e2e.pages import (
    WIDTHS,
    Site,
    screen_id,
    screen_open,
    screens_by_role,
    signed_in_context,
)

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

BLOCKING = ("serious", "critical")
AXE = Axe()  # axe-core itself ships inside the package: nothing is fetched


def blocking_violations(results) -> list[str]:
    """Each serious or critical violation as 'rule (impact): targets'."""
    return [
        f"{violation['id']} ({violation['impact']}): {[node['target'] for node in violation['nodes']]}"
        for violation in results.response["violations"]
        if violation["impact"] in BLOCKING
    ]


@pytest.mark.parametrize("width", WIDTHS)
@pytest.mark.parametrize("role_screen", screens_by_role(), ids=screen_id)
def test_the_page_has_no_serious_accessibility_violations(
    browser: Browser, site: Site, role_screen, width: int
):
    role, screen = role_screen
    context = signed_in_context(browser, site, role, width)
    page = context.new_page()
    screen_open(page, site, role, screen)

    found = blocking_violations(AXE.run(page))
    context.close()
    assert not found, f"{site.text(screen.path, role)} at {width} px as {role}:\n" + "\n".join(found)
