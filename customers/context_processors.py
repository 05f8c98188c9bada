from __future__ import annotations

from functools import partial
from typing import Any

from django.conf import settings
from django.http import HttpRequest

from customers import permissions
from customers.credits.calls import credits_spent_today
from customers.credits.circuit import circuit_is_open
from customers.modes import mode_label
from customers.usage.selectors import credit_budget_warning


def dashboard(request: HttpRequest) -> dict[str, Any]:
    """Mode banner, navigation permissions, today's credit spend and the monthly budget banner for every
    page."""
    user = getattr(request, "user", None)
    context: dict[str, Any] = {
        "mode_label": mode_label(),
        "sandbox_mode": settings.SANDBOX_MODE,
        "upstream_down": circuit_is_open(),
    }
    if user is not None and user.is_authenticated:
        # Read only if the page shows it.
        context["credits_today"] = partial(credits_spent_today, user)
        # Read only if the page shows the banner, never with no budget: the month's kept days and one
        # aggregate over today's calls.
        context["credit_budget"] = credit_budget_warning
        context["nav"] = {
            "customers": user.has_perm(permissions.VIEW_CUSTOMERS),
            "audit": user.has_perm(permissions.VIEW_AUDIT_LOG),
            "unsettled": user.has_perm(permissions.CHANGE_CUSTOMER_STATE),
            "exports": user.has_perm(permissions.EXPORT_CUSTOMERS),
            "credits": user.has_perm(permissions.VIEW_CREDIT_USAGE),
            "compliance": user.has_perm(permissions.VIEW_COMPLIANCE_CASES),
            "admin": user.is_staff,
        }
    return context
