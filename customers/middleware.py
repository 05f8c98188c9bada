from __future__ import annotations

from collections.abc import Callable

from django.http import HttpRequest, HttpResponse

from customers.apicalls import api_calls_defer


class ApiCallRecordingMiddleware:
    """Stores the request's Tatum call records after its response has been sent, not before.

    `api_calls_flush` runs on `request_finished`, which the server sends once the response is out: it
    writes the rows, or hands them to the process's batching writer (`CALL_RECORD_BATCH_MS`). The
    credits shown on the page already count them.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        api_calls_defer()
        return self.get_response(request)
