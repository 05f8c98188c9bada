"""Server-side permission checks for views; refused writes are recorded in the audit trail."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps

from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse

from customers.audit.trail import Actor, audit_entry_denied


def permission_required(
    *perms: str, audited_action: str | Callable[..., str] | None = None
) -> Callable[[Callable[..., HttpResponse]], Callable[..., HttpResponse]]:
    """403 unless the user has one of `perms`; a refused POST with an `audited_action` is recorded as
    denied.

    `audited_action` is an action name, or a callable given the view's keyword arguments.
    """

    def decorator(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
        @wraps(view)
        def wrapped(request: HttpRequest, *args, **kwargs) -> HttpResponse:
            if any(request.user.has_perm(perm) for perm in perms):
                return view(request, *args, **kwargs)
            if audited_action and request.method == "POST":
                action = audited_action(**kwargs) if callable(audited_action) else audited_action
                audit_entry_denied(
                    actor=Actor.from_request(request),
                    action=action,
                    customer_id=kwargs.get("customer_id", "")[:100],
                )
            raise PermissionDenied

        return wrapped

    return decorator
