"""`manage.py sandbox_faults`: show or change the sandbox's runtime fault plan without a restart.

sandbox_faults --rate 0.2 --kinds 500,429     fail 20% of calls with a 500 or a 429
sandbox_faults --next 3 --kinds timeout       the next 3 authenticated calls time out
sandbox_faults --clear                        back to the settings (no faults by default)
sandbox_faults                                show what is in force
"""

from __future__ import annotations

from argparse import ArgumentParser
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from sandbox.faults import FAULT_KINDS, fault_next, fault_plan_clear, fault_plan_get, fault_plan_set


class Command(BaseCommand):
    help = "Show or change the sandbox's runtime fault plan."

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument("--rate", type=float, help="Share of calls that fail, 0..1.")
        parser.add_argument("--kinds", help=f"Comma list of fault kinds: {', '.join(FAULT_KINDS)}.")
        parser.add_argument("--next", type=int, metavar="N", help="The next N calls fail with --kinds.")
        parser.add_argument("--timeout-seconds", type=float, help="How long timeout faults stall.")
        parser.add_argument("--retry-after", type=int, help="Retry-After seconds sent with a 429.")
        parser.add_argument("--clear", action="store_true", help="Remove the runtime plan.")

    def handle(self, *args: Any, **options: Any) -> None:
        kinds = options["kinds"].split(",") if options["kinds"] else None
        try:
            self._change(options, kinds)
        except ValueError as exc:
            raise CommandError(str(exc)) from exc
        config = fault_plan_get()
        self.stdout.write(
            f"rate={config.rate} kinds={','.join(config.kinds)} next={config.next_count} "
            f"next_kinds={','.join(config.next_kinds)} timeout_seconds={config.timeout_seconds} "
            f"retry_after={config.retry_after_seconds}"
        )

    def _change(self, options: dict[str, Any], kinds: list[str] | None) -> None:
        if options["clear"]:
            fault_plan_clear()
        if options["next"] is not None:
            if not kinds:
                raise CommandError("--next needs --kinds.")
            fault_next(kinds, count=options["next"])
            kinds = None
        fault_plan_set(
            rate=options["rate"],
            kinds=kinds,
            timeout_seconds=options["timeout_seconds"],
            retry_after_seconds=options["retry_after"],
        )
