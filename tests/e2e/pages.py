"""Every page of the dashboard, by role: the table the layout and accessibility tests walk.

One line per page. A `Screen` names the page, its address (with `{customer}`, `{entry}`, `{unknown}`,
`{job}` and `{case}` filled in from the demo data `site_seed` makes), the roles that open it, and the
heading a user sees there, so a page that silently turned into an error page fails the test.
"""

from __future__ import annotations

import io
from dataclasses import dataclass, field
from datetime import timedelta

from django.conf import settings
from django.core.management import call_command
from django.test import Client
from django.utils import timezone
from playwright.sync_api import Browser, BrowserContext, Page, expect

from customers.audit.models import AuditEntry
from customers.audit.trail import (
    Actor,
    audit_entry_close,
    audit_entry_denied,
    audit_entry_open,
    audit_entry_record,
)
from customers.compliance.models import ComplianceCase
from customers.compliance.services import case_claim, case_flag, case_note_add, case_status_change
from customers.credits.client import tatum_client
from customers.exports.models import ExportJob
from customers.index.models import CustomerRecord, SyncRun
from customers.index.services import records_seen
from tests.e2e.helpers import sandbox_customer
from tests.users import make_user

WIDTHS = (390, 1440)
HEIGHT = 844  # a common phone (390 x 844); desktop windows get the same height

SUPPORT, COMPLIANCE, MANAGER, ADMIN, SIGNED_OUT = "support", "compliance", "manager", "admin", "signed-out"
ROLE_GROUPS = {SUPPORT: "Support", COMPLIANCE: "Compliance", MANAGER: "Manager", ADMIN: "superuser"}
EVERYONE = frozenset(ROLE_GROUPS)
CHANGERS = frozenset({SUPPORT, ADMIN})
REVIEWERS = frozenset({COMPLIANCE, MANAGER, ADMIN})
EXPORTERS = frozenset({MANAGER, ADMIN})
CASE_VIEWERS = frozenset({COMPLIANCE, MANAGER, ADMIN})

# Tables whose rows hold one line at desktop width.
CUSTOMER_ROWS = "#customer-table table"
AUDIT_ROWS = "#audit-log table"
CASE_ROWS = "#compliance-queue table"
DISABLE = "Disable customer {external_id}?"
NOT_ALLOWED = "You do not have access to this"


@dataclass(frozen=True)
class Screen:
    name: str
    path: str
    roles: frozenset[str]
    heading: str
    status: int = 200
    dialog: str | None = None  # the link that opens a confirmation dialog on the page
    one_line_rows: str | None = None  # a table whose body rows must each be one line at desktop width


SCREENS = [
    Screen("login", "/accounts/login/", frozenset({SIGNED_OUT}), "Sign in"),
    Screen("home", "/", EVERYONE, "Welcome, {user}"),
    Screen("customer-list", "/customers/", EVERYONE, "Customers", one_line_rows=CUSTOMER_ROWS),
    Screen(
        "customer-live-list",
        "/customers/live/",
        EVERYONE,
        "Customers live from Tatum",
        one_line_rows=CUSTOMER_ROWS,
    ),
    Screen("customer-lookup", "/customers/lookup/", EVERYONE, "Find a customer"),
    Screen("customer-detail", "/customers/{customer}/", EVERYONE, "{external_id}"),
    Screen("customer-edit", "/customers/{customer}/edit/", CHANGERS, "Edit customer {external_id}"),
    Screen("state-confirm", "/customers/{customer}/disable/", CHANGERS, DISABLE),
    Screen("state-dialog", "/customers/{customer}/", CHANGERS, DISABLE, dialog="Disable"),
    Screen("customer-history", "/customers/{customer}/history/", EVERYONE, "Change history of {external_id}"),
    Screen("audit-log", "/audit/", REVIEWERS, "Audit log", one_line_rows=AUDIT_ROWS),
    Screen("audit-entry", "/audit/entries/{entry}/", REVIEWERS, "Entry #{entry}: Disable"),
    Screen("unknown-outcomes", "/audit/unknown/", EVERYONE, "Unknown outcomes"),
    Screen("export-list", "/exports/", EXPORTERS, "Exports"),
    Screen("export-detail", "/exports/{job}/", EXPORTERS, "Export {job}"),
    Screen("credit-usage", "/credits/", EXPORTERS, "Credit usage"),
    Screen("index-sync", "/customers/sync/", EXPORTERS, "Customer index sync"),
    Screen("compliance-queue", "/compliance/", CASE_VIEWERS, "Compliance review", one_line_rows=CASE_ROWS),
    Screen("compliance-case", "/compliance/{case}/", CASE_VIEWERS, "Case #{case}: {external_id}"),
    Screen("forbidden", "/exports/", frozenset({SUPPORT, COMPLIANCE}), NOT_ALLOWED, 403),
    Screen("forbidden", "/customers/{customer}/edit/", frozenset({MANAGER}), NOT_ALLOWED, 403),
    Screen("not-found", "/no-such-page/", EVERYONE, "Page not found", 404),
]


def screens_by_role() -> list[tuple[str, Screen]]:
    """(role, screen) for every page each role opens, in the table's order."""
    return [
        (role, screen) for role in (*ROLE_GROUPS, SIGNED_OUT) for screen in SCREENS if role in screen.roles
    ]


def screen_named(name: str) -> Screen:
    return next(screen for screen in SCREENS if screen.name == name)


def screen_id(pair: tuple[str, Screen]) -> str:
    return f"{pair[0]}-{pair[1].name}"


@dataclass
class Site:
    """The demo data a page's address and heading are filled in from."""

    url: str
    values: dict[str, str] = field(default_factory=dict)
    users: dict[str, object] = field(default_factory=dict)

    def text(self, template: str, role: str) -> str:
        return template.format(user=role, **self.values)


def site_seed(live_server) -> Site:
    """A small ledger, one customer with accounts and a history, audit entries of each outcome, an entry
    with an unknown outcome, a finished export and a finished sync: enough that every page shows what it
    usually does."""
    call_command("seed_sandbox", customers=40, seed=11, stdout=io.StringIO())
    customer = sandbox_customer("cus_0004711", customer_country="DE", provider_country="MT")
    tatum_client().create_account(currency="ETH", external_id=customer.external_id)
    users = {role: make_user(group, role) for role, group in ROLE_GROUPS.items()}
    entry = _audit_history(users[SUPPORT], users[MANAGER], customer.id, customer.external_id)
    unknown = _unknown_outcome(users[SUPPORT], customer.id, customer.external_id)
    job = _finished_export(users[MANAGER])
    _finished_sync(users[MANAGER])
    case = _compliance_case(make_user("Compliance", "olga"), customer)
    values = {
        "customer": customer.id,
        "external_id": customer.external_id,
        "entry": str(entry.pk),
        "unknown": str(unknown.pk),
        "job": str(job.pk),
        "case": str(case.pk),
    }
    return Site(url=live_server.url, values=values, users=users)


def _audit_history(user, denied_user, customer_id: str, external_id: str) -> AuditEntry:
    """What a support agent's week leaves in the trail; returns the first entry (a disable)."""
    actor = Actor(user=user, request_id="8f14e45fceea167a5a36dedd4bea2543")
    about = {"customer_id": customer_id, "customer_external_id": external_id}
    first = audit_entry_record(
        actor=actor,
        action=AuditEntry.Action.DISABLE,
        outcome=AuditEntry.Outcome.SUCCEEDED,
        changes={"enabled": [True, False]},
        reason="Chargeback, ticket 4711",
        http_status=200,
        **about,
    )
    audit_entry_record(
        actor=actor,
        action=AuditEntry.Action.ENABLE,
        outcome=AuditEntry.Outcome.SUCCEEDED,
        changes={"enabled": [False, True]},
        reason="Chargeback withdrawn",
        http_status=200,
        **about,
    )
    audit_entry_record(
        actor=actor,
        action=AuditEntry.Action.UPDATE,
        outcome=AuditEntry.Outcome.SUCCEEDED,
        changes={"customerCountry": ["CZ", "DE"]},
        reason="Moved to Germany",
        http_status=200,
        **about,
    )
    audit_entry_record(
        actor=actor,
        action=AuditEntry.Action.DEACTIVATE,
        outcome=AuditEntry.Outcome.FAILED,
        reason="Account closure requested",
        http_status=403,
        error_code="customer.deactivate.account.active",
        error_message="Unable to deactivate customer, accounts not deactivated.",
        **about,
    )
    audit_entry_denied(
        actor=Actor(user=denied_user), action=AuditEntry.Action.DISABLE, customer_id=customer_id
    )
    return first


def _unknown_outcome(user, customer_id: str, external_id: str) -> AuditEntry:
    entry = audit_entry_open(
        actor=Actor(user=user, request_id="c9f0f895fb98ab9159f51fd0297e236d"),
        action=AuditEntry.Action.ENABLE,
        customer_id=customer_id,
        customer_external_id=external_id,
        changes={"enabled": [False, True]},
        reason="Identity confirmed",
    )
    return audit_entry_close(
        entry, outcome=AuditEntry.Outcome.UNKNOWN, error_message="Tatum did not answer in time."
    )


def _finished_export(user) -> ExportJob:
    finished = timezone.now() - timedelta(days=2)
    return ExportJob.objects.create(
        user=user,
        username=user.username,
        scope=ExportJob.Scope.ALL,
        status=ExportJob.Status.SUCCEEDED,
        created_at=finished - timedelta(seconds=95),
        started_at=finished - timedelta(seconds=94),
        finished_at=finished,
        pages_read=3,
        rows_read=140,
        rows_written=140,
        credits_spent=3,
        file_removed_at=finished,
        file_name="customers-all-20261205T010000Z.csv",
    )


def _finished_sync(user) -> SyncRun:
    finished = timezone.now() - timedelta(hours=20)
    return SyncRun.objects.create(
        user=user,
        username=user.username,
        status=SyncRun.Status.SUCCEEDED,
        created_at=finished - timedelta(seconds=3),
        started_at=finished - timedelta(seconds=2),
        heartbeat_at=finished,
        finished_at=finished,
        pages_read=1,
        customers_read=41,
        credits_spent=1,
    )


def _compliance_case(officer, customer) -> ComplianceCase:
    """A case under review with a note, as an officer leaves it."""
    records_seen([customer], seen_by=CustomerRecord.SeenBy.READ)
    actor = Actor(user=officer, request_id="45c48cce2e2d7fbdea1afc51c7c6ad26")
    case = case_flag(
        record=CustomerRecord.objects.get(tatum_id=customer.id), reason="Adverse media", actor=actor
    )
    case = case_claim(case=case, actor=actor)
    case_note_add(case=case, text="Asked for documents", actor=actor)
    return case_status_change(case=case, status=ComplianceCase.Status.IN_REVIEW, reason="", actor=actor)


def signed_in_context(browser: Browser, site: Site, role: str, width: int) -> BrowserContext:
    """A browser window of `width` pixels holding a session of `role`.

    The session comes from Django's test client rather than the sign-in form (which has tests of its
    own): the live server's database is emptied after every test, sessions included, so a sign-in
    stored once per role would not outlive the first test.
    """
    context = browser.new_context(viewport={"width": width, "height": HEIGHT}, base_url=site.url)
    if role in site.users:
        client = Client()
        client.force_login(site.users[role])
        session = client.cookies[settings.SESSION_COOKIE_NAME].value
        context.add_cookies([{"name": settings.SESSION_COOKIE_NAME, "value": session, "url": site.url}])
    return context


def screen_open(page: Page, site: Site, role: str, screen: Screen) -> None:
    """Opens the screen as `role` and waits until it shows its heading (and its dialog, if any)."""
    response = page.goto(site.text(screen.path, role))
    assert response is not None and response.status == screen.status, (
        f"{screen.path} answered {response and response.status}, expected {screen.status}"
    )
    heading = site.text(screen.heading, role)
    if screen.dialog:
        page.get_by_role("link", name=screen.dialog, exact=True).click()
        expect(page.get_by_role("dialog", name=heading)).to_be_visible()
    else:
        expect(page.get_by_role("heading", name=heading, exact=True).first).to_be_visible()
