"""Settle every change whose outcome is unknown by reading each customer once."""

from __future__ import annotations

from collections import Counter
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from customers.audit.services import unsettled_entry_settle_all
from customers.audit.trail import Actor


class Command(BaseCommand):
    help = (
        "Verify every audit entry whose outcome is unknown, or still pending past the Tatum client's "
        "timeouts (the process stopped mid-call): read the customer once, compare it with the intended "
        "change and record the outcome. Continues past failures; exits non-zero if any entry could not "
        "be verified."
    )

    def handle(self, *args: Any, **options: Any) -> None:
        counts: Counter[str] = Counter()
        for result in unsettled_entry_settle_all(actor=Actor(user=None)):
            counts[result.verdict] += 1
            write = self.stderr.write if result.verdict == "error" else self.stdout.write
            write(result.sentence())
        summary = (
            f"{sum(counts.values())} entr{'y' if sum(counts.values()) == 1 else 'ies'} to verify: "
            f"{counts['succeeded']} happened, {counts['failed']} did not happen, "
            f"{counts['undetermined']} could not be determined, {counts['already']} already settled, "
            f"{counts['error']} could not be verified."
        )
        if counts["error"]:
            raise CommandError(summary)
        self.stdout.write(self.style.SUCCESS(summary))
