"""The credit usage page and its CSV download (managers)."""

from __future__ import annotations

import csv

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.cache import patch_cache_control
from django.views.decorators.http import require_GET

from customers import permissions
from customers.audit.access import permission_required
from customers.usage.chart import credits_bar_chart
from customers.usage.forms import UsagePeriodForm
from customers.usage.selectors import (
    credit_budget_get,
    credit_usage_get,
    usage_csv_filename,
    usage_csv_rows,
    usage_period,
)


@require_GET
@permission_required(permissions.VIEW_CREDIT_USAGE)
def credit_usage(request: HttpRequest) -> HttpResponse:
    form = UsagePeriodForm.from_query(request.GET)
    # The page's own reading of the budget also serves the banner (`customers.context_processors`).
    context = {"form": form, "credit_budget": credit_budget_get()}
    if not form.is_valid():
        return render(request, "customers/credit_usage.html", context, status=400)
    usage = credit_usage_get(usage_period(form.cleaned_data["days"]))
    context.update(usage=usage, chart=credits_bar_chart(usage.days), days=form.cleaned_data["days"])
    return render(request, "customers/credit_usage.html", context)


@require_GET
@permission_required(permissions.VIEW_CREDIT_USAGE)
def credit_usage_export(request: HttpRequest) -> HttpResponse:
    form = UsagePeriodForm.from_query(request.GET)
    if not form.is_valid():
        messages.error(request, f"Nothing was downloaded. {' '.join(form.errors['days'])}")
        return redirect("customers:credit_usage")
    period = usage_period(form.cleaned_data["days"])
    response = HttpResponse(content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{usage_csv_filename(period)}"'
    patch_cache_control(response, private=True, no_store=True)
    csv.writer(response).writerows(usage_csv_rows(period))
    return response
