"""The project's own pages: the home page and the sign-in page."""

from __future__ import annotations

from django.contrib.auth import views as auth_views
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET


@require_GET
def home(request: HttpRequest) -> HttpResponse:
    return render(request, "dashboard/home.html")


class DashboardLoginView(auth_views.LoginView):
    redirect_authenticated_user = False
