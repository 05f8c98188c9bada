"""Exports from the customer index: the same CSV file as an export from Tatum, written from the local
`CustomerRecord` rows instead of Tatum's pages, so it makes no Tatum call, costs no credits and takes
seconds.

The index is as fresh as its last complete sync (and the reads and writes since): the run stamps that
time on the job (`as_of`) and in the file's name. Customers the last complete sync did not find in
Tatum (missing from Tatum) are left out. Rows come from one database cursor, `CHUNK` at a time, and
are written as they come, so memory does not grow with the index.

`engine.export_continue` runs this as it runs an export from Tatum (its errors, outcome and audit
entry are handled there): the job row gets progress and a heartbeat after every chunk, a cancel is
honoured between chunks, and every write is conditional on the run still owning the job. A run that
is taken over starts again from the first row, since that costs nothing.
"""

from __future__ import annotations

import csv
import logging
import os
from datetime import datetime
from typing import Any

from django.utils import timezone

from customers.exports.csv_file import CSV_COLUMNS, CSV_ENCODING, csv_row, export_file_name
from customers.exports.filters import ExportFilter
from customers.exports.models import ExportJob
from customers.exports.selectors import (
    export_file_path,
    export_index_records,
    export_partial_file_path,
)
from customers.index.models import CustomerRecord
from customers.index.selectors import index_as_of
from customers.tatum import Customer

logger = logging.getLogger(__name__)

Status = ExportJob.Status

# Rows fetched from the database at a time, and written between two progress updates.
CHUNK = 2000


class _Cancelled(Exception):
    """The user asked the job to stop."""


class _Lost(Exception):
    """The job is no longer this run's: another worker took it over, or it was stopped as stalled."""


def _customer(record: CustomerRecord) -> Customer:
    """The record as the customer Tatum last returned ("" in the index is a value Tatum left unset)."""
    return Customer(
        id=record.tatum_id,
        external_id=record.external_id,
        active=record.active,
        enabled=record.enabled,
        accounting_currency=record.accounting_currency or None,
        customer_country=record.customer_country or None,
        provider_country=record.provider_country or None,
    )


class IndexExportRun:
    """One run of one export from the index: `execute` writes the file, `finish` stores the outcome."""

    def __init__(self, job: ExportJob) -> None:
        self.job = job
        self.attempt = job.attempts
        self.written = 0
        # Set when another worker took the job over: this run then writes nothing more.
        self.lost = False

    def execute(self) -> None:
        as_of = index_as_of()
        if as_of is None:
            message = "The customer index has never been synced, so there is nothing to export from it."
            self.finish(Status.FAILED, error_code="index_not_synced", error_message=message)
            return
        try:
            self._write(as_of)
        except _Cancelled:
            self.finish(Status.CANCELLED)
        except _Lost:
            logger.warning("Export %s was taken over by another worker; this run stops", self.job.pk)

    def _write(self, as_of: datetime) -> None:
        records = export_index_records(ExportFilter.from_json(self.job.filters))
        self.job.as_of = as_of
        file_name = export_file_name(self.job, self.job.started_at or timezone.now())
        self._save(as_of=as_of, file_name=file_name, estimated_rows=records.count())
        path = export_partial_file_path(self.job)
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("w", encoding=CSV_ENCODING, newline="") as file:
            writer = csv.writer(file)
            writer.writerow(CSV_COLUMNS)
            for record in records.iterator(chunk_size=CHUNK):
                writer.writerow(csv_row(_customer(record)))
                self.written += 1
                if self.written % CHUNK == 0:
                    self._save(rows_read=self.written, rows_written=self.written)
            file.flush()
            os.fsync(file.fileno())
        final_path = export_file_path(self.job)
        os.replace(path, final_path)
        self.finish(Status.SUCCEEDED, file_size=final_path.stat().st_size)

    def finish(self, status: str, **fields: Any) -> None:
        """Store the outcome (and any error fields); only a finished run keeps its file."""
        if self.lost:
            return
        if status != Status.SUCCEEDED and self.job.file_name:
            export_partial_file_path(self.job).unlink(missing_ok=True)
        values = {"rows_read": self.written, "rows_written": self.written, **fields}
        try:
            self._save(status=status, finished_at=timezone.now(), **values)
        except _Lost:
            logger.warning("Export %s was taken over by another worker before this run ended", self.job.pk)

    def _save(self, **values: Any) -> None:
        """Store values and the heartbeat on the job row, as long as this run owns it. Raises _Cancelled
        when the user asked to stop (unless this is the outcome), _Lost when the job is not this run's."""
        final = "status" in values
        values["heartbeat_at"] = timezone.now()
        mine = ExportJob.objects.filter(pk=self.job.pk, status=Status.RUNNING, attempts=self.attempt)
        updated = (mine if final else mine.filter(cancel_requested=False)).update(**values)
        if not updated:
            if not final and mine.exists():
                raise _Cancelled
            self.lost = True
            raise _Lost
        for name, value in values.items():
            setattr(self.job, name, value)
