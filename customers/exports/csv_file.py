"""The export file: its name, encoding and columns, and one customer as a row.

One place for the format, whichever source the customers come from: Tatum's pages
(`customers.exports.engine`) or the customer index (`customers.exports.from_index`).
"""

from __future__ import annotations

from datetime import UTC, datetime

from customers.csv_safety import safe_row
from customers.exports.models import ExportJob
from customers.tatum import Customer
from customers.tatum.reference import country_name

# Excel opens UTF-8 correctly only when the file starts with a byte order mark; other tools ignore it.
CSV_ENCODING = "utf-8-sig"
CSV_COLUMNS = (
    "id",
    "externalId",
    "active",
    "enabled",
    "accountingCurrency",
    "customerCountry",
    "customerCountryName",
    "providerCountry",
    "providerCountryName",
)


def _stamp(moment: datetime) -> str:
    return f"{moment.astimezone(UTC):%Y%m%dT%H%M%SZ}"


def export_file_name(job: ExportJob, started: datetime) -> str:
    """The name the user downloads: `customers-all-20261125T120000Z.csv` (the time the worker started
    it) for an export from Tatum; `customers-index-as-of-20261207T010000Z-all.csv` (the time of the
    index it was written from) for an export from the index."""
    if job.source == ExportJob.Source.INDEX and job.as_of is not None:
        return f"customers-index-as-of-{_stamp(job.as_of)}-{job.scope}.csv"
    return f"customers-{job.scope}-{_stamp(started)}.csv"


def csv_row(customer: Customer) -> list[str]:
    """One customer as a CSV row, every cell made safe for spreadsheets."""
    return safe_row(
        [
            customer.id,
            customer.external_id,
            customer.active,
            customer.enabled,
            customer.accounting_currency,
            customer.customer_country,
            country_name(customer.customer_country) if customer.customer_country else "",
            customer.provider_country,
            country_name(customer.provider_country) if customer.provider_country else "",
        ]
    )
