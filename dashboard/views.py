"""The project's own pages: the home page and the sign-in page."""

from __future__ import annotations

from django.contrib.auth import views as auth_views
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render, resolve_url
from django.views.decorators.http import require_GET

from customers import permissions


@require_GET
def home(request: HttpRequest) -> HttpResponse:
    return render(request, "dashboard/home.html")


class DashboardLoginView(auth_views.LoginView):
    redirect_authenticated_user = False

    def get_default_redirect_url(self) -> str:
        """Where signing in lands without a `next`: support staff on the customer list, the page they
        work from; everyone else on the home page, which leads to each of their areas."""
        if self.request.user.has_perm(permissions.EDIT_CUSTOMERS):
            return resolve_url("customers:customer_list")
        return super().get_default_redirect_url()
