"""The sandbox's own ledger: customers, their accounts, credit usage and the runtime fault plan.

Balances are stored as decimal strings, exactly as Tatum returns them, so no database rounds them.
"""

from __future__ import annotations

from django.db import models


class Customer(models.Model):
    # Tatum's internal id (24 lowercase hex characters); the primary key gives the stable list order.
    ledger_id = models.CharField(max_length=24, unique=True)
    # Tatum counts 1..100 characters its own way (sandbox/validation.py), not as a database counts them:
    # 100 characters with emoji presentation selectors are more than 100 code points.
    external_id = models.TextField(unique=True)
    active = models.BooleanField(default=True)
    enabled = models.BooleanField(default=True)
    # An empty string means "never set": the field is absent from the API's JSON.
    accounting_currency = models.CharField(max_length=8, blank=True, default="")
    customer_country = models.CharField(max_length=2, blank=True, default="")
    provider_country = models.CharField(max_length=2, blank=True, default="")

    class Meta:
        ordering = ["pk"]

    def __str__(self) -> str:
        return f"{self.external_id} ({self.ledger_id})"


class Account(models.Model):
    ledger_id = models.CharField(max_length=24, unique=True)
    customer = models.ForeignKey(
        Customer, null=True, blank=True, on_delete=models.CASCADE, related_name="accounts"
    )
    currency = models.CharField(max_length=40)
    active = models.BooleanField(default=True)
    frozen = models.BooleanField(default=False)
    account_balance = models.CharField(max_length=80, default="0")
    available_balance = models.CharField(max_length=80, default="0")
    # What disabling the customer took from the available balance; enabling gives it back.
    disabled_blocked_amount = models.CharField(max_length=80, default="0")
    # What freezing took from the available balance (Tatum's ACCOUNT_FROZEN blockage); unfreezing gives
    # it back. While the customer is disabled, its disabled blockage holds the amount instead.
    frozen_blocked_amount = models.CharField(max_length=80, default="0")
    account_code = models.CharField(max_length=50, blank=True, default="")
    account_number = models.CharField(max_length=50, blank=True, default="")
    accounting_currency = models.CharField(max_length=8)

    class Meta:
        ordering = ["pk"]
        indexes = [models.Index(fields=["customer", "active"], name="sandbox_acc_customer_active")]

    def __str__(self) -> str:
        return f"{self.currency} account {self.ledger_id}"


class CreditUsage(models.Model):
    """Credits one API key spent on one day (UTC). The key is stored only as its SHA-256 digest."""

    key_digest = models.CharField(max_length=64)
    day = models.DateField()
    credits = models.PositiveBigIntegerField(default=0)

    class Meta:
        ordering = ["day"]
        constraints = [models.UniqueConstraint(fields=["key_digest", "day"], name="sandbox_credit_key_day")]

    def __str__(self) -> str:
        return f"{self.day}: {self.credits}"


class FaultPlan(models.Model):
    """The runtime fault plan: a single row, changed by `sandbox.faults` without a restart.

    Empty values fall back to the settings (`SANDBOX_FAULT_RATE`, `SANDBOX_FAULT_KINDS`, ...).
    """

    SINGLETON_PK = 1

    rate = models.FloatField(null=True, blank=True)
    kinds = models.CharField(max_length=200, blank=True, default="")
    next_count = models.PositiveIntegerField(default=0)
    next_kinds = models.CharField(max_length=200, blank=True, default="")
    timeout_seconds = models.FloatField(null=True, blank=True)
    retry_after_seconds = models.PositiveIntegerField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return "Sandbox fault plan"


class RateWindow(models.Model):
    """One API key's calls accepted in the last second, for the plan rate `SANDBOX_MAX_RPS`.

    `calls` holds their times (seconds since the epoch), oldest first; the key only as its SHA-256 digest.
    """

    key_digest = models.CharField(max_length=64, unique=True)
    calls = models.JSONField(default=list)

    def __str__(self) -> str:
        return f"{len(self.calls)} recent calls"
