"""Settle every change whose outcome is unknown by reading each customer once."""

from __future__ import annotations

from collections import Counter
from datetime import timedelta
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from customers.audit.selectors import PENDING_GRACE
from customers.audit.services import unsettled_entry_settle_all
from customers.audit.trail import Actor


class Command(BaseCommand):
    help = (
        "Verify every audit entry whose outcome is unknown, or still pending after --older-than minutes "
        "(a crash mid-call): read the customer once, compare it with the intended change and record the "
        "outcome. Continues past failures; exits non-zero if any entry could not be verified."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--older-than",
            type=int,
            default=int(PENDING_GRACE.total_seconds() // 60),
            metavar="MINUTES",
            help="Only settle pending entries at least this old (default: %(default)s).",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        if options["older_than"] < 0:
            raise CommandError("--older-than cannot be negative.")
        grace = timedelta(minutes=options["older_than"])
        counts: Counter[str] = Counter()
        for result in unsettled_entry_settle_all(actor=Actor(user=None), pending_grace=grace):
            counts[result.verdict] += 1
            write = self.stderr.write if result.verdict == "error" else self.stdout.write
            write(result.sentence())
        summary = (
            f"{sum(counts.values())} entr{'y' if sum(counts.values()) == 1 else 'ies'} to verify: "
            f"{counts['succeeded']} happened, {counts['failed']} did not happen, "
            f"{counts['already']} already settled, {counts['error']} could not be verified."
        )
        if counts["error"]:
            raise CommandError(summary)
        self.stdout.write(self.style.SUCCESS(summary))
