"""Check the audit trail's hash chain and name the first entry changed, deleted or inserted."""

from __future__ import annotations

import re
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from customers.audit.chain import CHAIN_CHUNK_SIZE, audit_chain_verify

_ANCHOR = re.compile(r"^(\d+):([0-9a-f]{64})$")


def _pair(option: str, value: str) -> tuple[int, str]:
    match = _ANCHOR.match(value.strip().lower())
    if not match:
        raise CommandError(f"{option} must be SEQUENCE:HASH (a 64-character hex hash), not {value!r}.")
    return int(match.group(1)), match.group(2)


class Command(BaseCommand):
    help = (
        "Recompute every sealed audit entry's hash in sequence order and check the links and the chain "
        "head. Exits non-zero naming the first entry that was changed, deleted or inserted."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--anchor",
            action="append",
            default=[],
            metavar="SEQUENCE:HASH",
            help="A head recorded earlier (from a previous success line); the chain must still contain it.",
        )
        parser.add_argument(
            "--start",
            metavar="SEQUENCE:HASH",
            help=(
                "After older entries were archived and removed: the first sequence kept, and the hash of "
                "the last archived entry (see docs/audit.md)."
            ),
        )
        parser.add_argument(
            "--chunk-size", type=int, default=CHAIN_CHUNK_SIZE, help="Entries read per query (memory bound)."
        )

    def handle(self, *args: Any, **options: Any) -> None:
        if options["chunk_size"] < 1:
            raise CommandError("--chunk-size must be at least 1.")
        anchors = [_pair("--anchor", value) for value in options["anchor"]]
        start = _pair("--start", options["start"]) if options["start"] else (1, "")
        report = audit_chain_verify(chunk_size=options["chunk_size"], anchors=anchors, start=start)
        if not report.ok:
            raise CommandError(f"Audit chain broken: {report.problem}")
        entries = "entry" if report.sealed == 1 else "entries"
        since = f" from sequence {start[0]}" if start[0] != 1 else ""
        self.stdout.write(
            self.style.SUCCESS(
                f"Audit chain intact: {report.sealed} sealed {entries} verified{since}, "
                f"{report.open} not sealed yet (outcome pending or unknown). "
                f"Head: {report.head_sequence}:{report.head_hash or '-'}"
            )
        )
