"""Read-only admin views of the dashboard's own records: audit entries, upstream calls, exports."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.http import HttpRequest

from customers.audit.models import AuditEntry
from customers.credits.models import ApiCall
from customers.exports.models import ExportJob


class ReadOnlyAdmin(admin.ModelAdmin):
    """Records written by the application only: the admin may look, never add, change or delete."""

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(AuditEntry)
class AuditEntryAdmin(ReadOnlyAdmin):
    list_display = (
        "started_at",
        "actor_username",
        "action",
        "customer_external_id",
        "outcome",
        "http_status",
    )
    list_filter = ("action", "outcome")
    search_fields = ("actor_username", "customer_id", "customer_external_id", "request_id")
    date_hierarchy = "started_at"


@admin.register(ApiCall)
class ApiCallAdmin(ReadOnlyAdmin):
    list_display = ("at", "user", "method", "route", "status", "duration_ms", "credits")
    list_filter = ("method", "status")
    date_hierarchy = "at"


@admin.register(ExportJob)
class ExportJobAdmin(ReadOnlyAdmin):
    list_display = ("created_at", "username", "scope", "status", "rows_written", "credits_spent")
    list_filter = ("status", "scope")
