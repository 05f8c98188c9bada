"""Call records and daily credit tallies."""

from __future__ import annotations

from django.conf import settings
from django.db import models


class ApiCall(models.Model):
    """One HTTP call to Tatum (or the sandbox), with its credit cost."""

    at = models.DateTimeField(db_index=True)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    method = models.CharField(max_length=8)
    route = models.CharField(max_length=100)
    status = models.PositiveSmallIntegerField(null=True, blank=True)
    error_code = models.CharField(max_length=100, blank=True)
    duration_ms = models.PositiveIntegerField()
    credits = models.PositiveSmallIntegerField()
    request_id = models.CharField(max_length=64, blank=True)

    class Meta:
        ordering = ["-at"]
        indexes = [models.Index(fields=["user", "at"])]

    def __str__(self) -> str:
        return f"{self.method} {self.route} -> {self.status or 'no answer'}"


class CreditTally(models.Model):
    """What one user's Tatum calls cost on one day (in TIME_ZONE), kept with every stored `ApiCall`, so
    the credits in the page header are one row to read however many calls the day has seen."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    day = models.DateField()
    credits = models.PositiveIntegerField(default=0)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["user", "day"], name="credit_tally_one_row_a_day")]

    def __str__(self) -> str:
        return f"{self.user_id} on {self.day}: {self.credits} credits"


class SharedRateLimit(models.Model):
    """The next free call slot of one rate limit that every process on the database shares
    (`customers.credits.ratelimit`); one row per limit."""

    name = models.CharField(max_length=50, primary_key=True)
    # Seconds since the epoch on the database's clock, so machines whose clocks differ still agree.
    next_slot = models.FloatField()

    def __str__(self) -> str:
        return f"{self.name}: next slot at {self.next_slot:.3f}"
