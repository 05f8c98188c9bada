"""The customer list and detail pages: read Tatum, render a template."""

from concurrent.futures import ThreadPoolExecutor
from typing import Any
from urllib.parse import quote

import requests
from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from requests.adapters import HTTPAdapter

PAGE_SIZES = (10, 20, 50)
TIMEOUT = (3.05, 10)

# One session per process. A detail page holds two connections at once (its two reads), so the pool
# has room for two per gunicorn thread.
tatum = requests.Session()
tatum.headers["x-api-key"] = settings.TATUM_API_KEY
tatum.mount("http://", HTTPAdapter(pool_maxsize=2 * settings.GUNICORN_THREADS))
tatum.mount("https://", HTTPAdapter(pool_maxsize=2 * settings.GUNICORN_THREADS))

# The detail page reads the customer's accounts here while its own thread reads the customer.
background_reads = ThreadPoolExecutor(max_workers=settings.GUNICORN_THREADS)


def tatum_get(path: str, **params: Any) -> Any:
    response = tatum.get(f"{settings.TATUM_API_URL}{path}", params=params, timeout=TIMEOUT)
    response.raise_for_status()
    return response.json()


def upstream_error(request: HttpRequest) -> HttpResponse:
    return render(request, "upstream_error.html", status=502)


def int_param(request: HttpRequest, name: str, default: int) -> int:
    try:
        return int(request.GET.get(name, default))
    except ValueError:
        return default


@login_required
def customer_list(request: HttpRequest) -> HttpResponse:
    size = int_param(request, "size", 50)
    size = size if size in PAGE_SIZES else 50
    page = max(int_param(request, "page", 1), 1)
    try:
        customers = tatum_get("/v3/ledger/customer", pageSize=size, offset=(page - 1) * size)
    except requests.RequestException:
        return upstream_error(request)
    for customer in customers:
        customer["compliance_gap"] = not (customer.get("customerCountry") and customer.get("providerCountry"))
    context = {"customers": customers, "page": page, "size": size, "has_next": len(customers) == size}
    return render(request, "customer_list.html", context)


@login_required
def customer_detail(request: HttpRequest, customer_id: str) -> HttpResponse:
    quoted = quote(customer_id, safe="")
    accounts = background_reads.submit(
        tatum_get, f"/v3/ledger/account/customer/{quoted}", pageSize=50, offset=0
    )
    try:
        customer = tatum_get(f"/v3/ledger/customer/{quoted}")
        context = {"customer": customer, "accounts": accounts.result()}
    except requests.HTTPError as error:
        # Tatum answers 403 (a business rule) or 404 for an unknown customer.
        if error.response.status_code in (403, 404):
            raise Http404("No such customer") from error
        return upstream_error(request)
    except requests.RequestException:
        return upstream_error(request)
    return render(request, "customer_detail.html", context)
