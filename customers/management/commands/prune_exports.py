"""`manage.py prune_exports [--days N] [--dry-run]`: remove export files past their retention period.

Run it daily (cron or a systemd timer). The export rows stay, so the history of who exported what
remains; only the files go, and the pages then say the file was removed.
"""

from __future__ import annotations

from argparse import ArgumentParser
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.template.defaultfilters import filesizeformat

from customers.exports.services import export_remove_old_files


class Command(BaseCommand):
    help = "Delete customer export files older than EXPORT_RETENTION_DAYS (and abandoned partial files)."

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument(
            "--days",
            type=int,
            default=None,
            help="Keep files this many days after their export finished (default: EXPORT_RETENTION_DAYS).",
        )
        parser.add_argument(
            "--dry-run", action="store_true", help="Report what would be removed; remove nothing."
        )

    def handle(self, *args: Any, **options: Any) -> None:
        days = options["days"] if options["days"] is not None else settings.EXPORT_RETENTION_DAYS
        if days < 0:
            raise CommandError("--days must be 0 or more.")
        removed, freed = export_remove_old_files(days=days, dry_run=options["dry_run"])
        verb = "Would remove" if options["dry_run"] else "Removed"
        self.stdout.write(
            f"{verb} {removed} export file{'s' if removed != 1 else ''} ({filesizeformat(freed)}) "
            f"older than {days} day{'s' if days != 1 else ''}."
        )
