"""`manage.py seed_sandbox --customers N [--seed S] [--if-empty | --reset]`: demo data for the sandbox."""

from __future__ import annotations

from argparse import ArgumentParser
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from sandbox.seeding import DEFAULT_BATCH_SIZE, ledger_is_empty, ledger_reset, seed_ledger


class Command(BaseCommand):
    help = "Fill the sandbox ledger with realistic, reproducible customers and accounts."

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument("--customers", type=int, required=True, help="How many customers to add.")
        parser.add_argument("--seed", type=int, help="Random seed: the same seed gives the same ledger.")
        group = parser.add_mutually_exclusive_group()
        group.add_argument("--if-empty", action="store_true", help="Do nothing if the ledger has customers.")
        group.add_argument("--reset", action="store_true", help="Remove all customers and accounts first.")
        parser.add_argument("--batch-size", type=int, default=DEFAULT_BATCH_SIZE, help="Rows per INSERT.")

    def handle(self, *args: Any, **options: Any) -> None:
        if options["customers"] < 0 or options["batch_size"] < 1:
            raise CommandError("--customers must be 0 or more and --batch-size at least 1.")
        if options["if_empty"] and not ledger_is_empty():
            self.stdout.write("The sandbox ledger already has customers: nothing seeded.")
            return
        if options["reset"]:
            ledger_reset()
        result = seed_ledger(
            customers=options["customers"], seed=options["seed"], batch_size=options["batch_size"]
        )
        self.stdout.write(
            self.style.SUCCESS(
                f"Seeded {result.customers} customers and {result.accounts} accounts "
                f"in {result.seconds:.1f} s (seed {result.seed})."
            )
        )
