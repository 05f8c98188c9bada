"""Days of credit usage summed once they are over, so that neither the usage page nor the budget banner
adds up every call of its period again on each visit."""

from __future__ import annotations

from django.db import models


class UsageDay(models.Model):
    """One settled day's credit usage, in `time_zone`: a row per user and action, summed from the call
    records (`ApiCall`) by the first usage page, CSV or budget banner that needed the day after it settled.

    `rows` holds `[user id or null, action, credits, calls]` lists. Users are kept by id, so a renamed
    user shows under the new name and a deleted one's calls count as calls with no user, as when the
    calls themselves are read. Days are cut at midnight in the time zone the row names; after a change of
    `TIME_ZONE` the days are summed again.
    """

    time_zone = models.CharField(max_length=64)
    day = models.DateField()
    rows = models.JSONField(default=list)
    summed_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["time_zone", "day"], name="usage_day_once")]

    def __str__(self) -> str:
        return f"Usage of {self.day} ({self.time_zone})"
