"""Read-only admin pages for looking into the sandbox ledger."""

from __future__ import annotations

from django.contrib import admin
from django.http import HttpRequest

from sandbox.models import Account, CreditUsage, Customer, FaultPlan


class ReadOnlyAdmin(admin.ModelAdmin):
    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False


@admin.register(Customer)
class CustomerAdmin(ReadOnlyAdmin):
    list_display = ["external_id", "ledger_id", "active", "enabled", "accounting_currency"]
    list_filter = ["active", "enabled"]
    search_fields = ["external_id", "ledger_id"]


@admin.register(Account)
class AccountAdmin(ReadOnlyAdmin):
    list_display = ["ledger_id", "customer", "currency", "active", "account_balance", "available_balance"]
    list_filter = ["active", "currency"]
    search_fields = ["ledger_id", "customer__external_id", "customer__ledger_id"]
    list_select_related = ["customer"]


@admin.register(CreditUsage)
class CreditUsageAdmin(ReadOnlyAdmin):
    list_display = ["day", "credits", "key_digest"]


@admin.register(FaultPlan)
class FaultPlanAdmin(ReadOnlyAdmin):
    list_display = ["rate", "kinds", "next_count", "next_kinds", "timeout_seconds", "updated_at"]
