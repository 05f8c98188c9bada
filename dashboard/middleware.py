from __future__ import annotations

import re
from collections.abc import Callable

from django.conf import settings
from django.contrib.auth.middleware import LoginRequiredMiddleware
from django.http import HttpRequest, HttpResponse
from django.utils.functional import SimpleLazyObject
from django_htmx.http import HttpResponseClientRedirect

from dashboard.context import actor_var, new_request_id, request_id_var

_SAFE_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{8,64}$")


def client_ip(request: HttpRequest) -> str:
    """The client's address, trusting exactly `TRUSTED_PROXY_COUNT` proxies in front of the app.

    Each trusted proxy appends the address it received the request from to X-Forwarded-For, so the
    client is the N-th value from the right. Anything further left was written by the client and is
    never trusted.
    """
    remote = request.META.get("REMOTE_ADDR", "") or ""
    count = settings.TRUSTED_PROXY_COUNT
    if count <= 0:
        return remote
    forwarded = [part.strip() for part in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",")]
    forwarded = [part for part in forwarded if part]
    if len(forwarded) < count:
        return remote
    return forwarded[-count]


class RequestIdMiddleware:
    """Gives every request an id: in logs, in the `X-Request-ID` response header, in audit entries."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        incoming = request.headers.get("X-Request-ID", "")
        request_id = incoming if _SAFE_REQUEST_ID.match(incoming) else new_request_id()
        request.request_id = request_id  # type: ignore[attr-defined]
        rid_token = request_id_var.set(request_id)
        # Resolved lazily: the user is attached by the authentication middleware further in.
        actor_token = actor_var.set(SimpleLazyObject(lambda: getattr(request, "user", None)))
        try:
            response = self.get_response(request)
        finally:
            request_id_var.reset(rid_token)
            actor_var.reset(actor_token)
        response["X-Request-ID"] = request_id
        return response


class HtmxAwareLoginRequiredMiddleware(LoginRequiredMiddleware):
    """Like Django's, but an htmx request from an expired session redirects the whole page."""

    def handle_no_permission(self, request: HttpRequest, view_func: Callable) -> HttpResponse:
        response = super().handle_no_permission(request, view_func)
        if getattr(request, "htmx", False):
            return HttpResponseClientRedirect(response["Location"])
        return response
