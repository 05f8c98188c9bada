from __future__ import annotations

from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_not_required
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from dashboard.health import health_report


@require_GET
def home(request: HttpRequest) -> HttpResponse:
    return render(request, "dashboard/home.html")


class DashboardLoginView(auth_views.LoginView):
    redirect_authenticated_user = False


@login_not_required
@never_cache
@require_GET
def healthz(request: HttpRequest) -> JsonResponse:
    """Database and upstream reachability for load balancers; no secrets, no sign-in."""
    report = health_report()
    return JsonResponse(report, status=200 if report["status"] == "ok" else 503)
