"""Realistic, reproducible demo data for the sandbox ledger (used by `manage.py seed_sandbox`).

Everything, ids included, comes from one `random.Random` seeded with the given seed, so the same seed
on an empty ledger gives the same ledger. The states obey the rules the API enforces: an inactive
customer's accounts are inactive with zero balances (deactivating needs that), and a disabled
customer's available balances are 0 with the blocked amount kept for `enable` to give back.
"""

from __future__ import annotations

import random
import time
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal
from itertools import accumulate
from typing import Any

from django.core.management.color import no_style
from django.db import connection, models, transaction
from django.db.models import Max

from sandbox.amounts import decimal_string
from sandbox.ids import new_ledger_id
from sandbox.models import Account, Customer
from sandbox.reference import COUNTRIES, CURRENCIES, DEFAULT_ACCOUNTING_CURRENCY

INACTIVE_SHARE = 0.05
DISABLED_SHARE = 0.08
# Of all customers: both countries missing, only the customer's, only the provider's (10% in all).
NO_COUNTRIES_SHARE, NO_CUSTOMER_COUNTRY_SHARE, NO_PROVIDER_COUNTRY_SHARE = 0.04, 0.03, 0.03
NO_ACCOUNTING_CURRENCY_SHARE = 0.01
ACCOUNT_COUNT_WEIGHTS = {0: 15, 1: 45, 2: 28, 3: 12}

# Where an operator's customers mostly live, and where its licensed entities mostly are.
COMMON_COUNTRIES = ("DE", "GB", "FR", "US", "NL", "ES", "IT", "PL", "CZ", "SK", "AT", "CH", "SE", "IE")
COMMON_COUNTRIES += ("PT", "CA", "AU", "JP", "SG", "BR", "MX", "NG", "KE", "IN", "AE", "TR", "UA", "RO")
PROVIDER_COUNTRIES = ("MT", "CY", "GB", "DE", "LT", "EE", "IE", "LU", "CH", "SG", "US", "GI")
ACCOUNTING_CURRENCY_WEIGHTS = {"EUR": 40, "USD": 25, "GBP": 10, "CHF": 4, "CZK": 3, "PLN": 3, "JPY": 2}
ACCOUNTING_CURRENCY_WEIGHTS |= {"DOGE": 1.5, "FLOW": 1, "FUSD": 1, "SEK": 1.5, "CAD": 1}
OTHER_CURRENCIES_WEIGHT = 6
ACCOUNT_CURRENCIES = ("BTC", "ETH", "USDT", "USDC", "LTC", "DOGE", "XRP", "SOL", "MATIC", "TRON", "BNB")
ACCOUNT_CURRENCIES += ("ADA", "CELO", "FLOW", "ALGO", "XLM", "VC_EUR", "VC_USD", "USDT_TRON", "BSC")
ACCOUNT_CODES = ("DEPOSIT", "TRADING", "SAVINGS", "FEES", "PAYOUT")
EXTERNAL_ID_FORMATS = ("cus_{n:07d}", "CUST-{n:06d}", "u{n:06d}{tag}", "anon-{tag}-{n:05d}", "ext{n:08d}")
DEFAULT_BATCH_SIZE = 5000


@dataclass(frozen=True)
class SeedResult:
    customers: int
    accounts: int
    seconds: float
    seed: int


def ledger_is_empty() -> bool:
    return not Customer.objects.exists()


@transaction.atomic
def ledger_reset() -> None:
    """Removes every customer and account (credit usage and the fault plan stay)."""
    Account.objects.all().delete()
    Customer.objects.all().delete()


def seed_ledger(
    *, customers: int, seed: int | None = None, batch_size: int = DEFAULT_BATCH_SIZE
) -> SeedResult:
    """Adds `customers` customers (and their accounts) after any already in the ledger.

    Run it while the sandbox is idle: it numbers the new rows itself, after the highest existing ones.
    """
    started = time.monotonic()
    seed = seed if seed is not None else random.SystemRandom().randrange(2**32)
    accounts = 0
    with transaction.atomic():
        last_customer = Customer.objects.aggregate(last=Max("pk"))["last"] or 0
        last_account = Account.objects.aggregate(last=Max("pk"))["last"] or 0
        # An empty ledger uses the seed as given: the same seed gives the same ids every time.
        rng = random.Random(seed if last_customer == 0 else f"{seed}:{last_customer}")
        generator = LedgerGenerator(rng, last_customer, last_account)
        for batch in _batches(customers, batch_size):
            customer_rows, account_rows = generator.batch(batch)
            _insert_rows(Customer, customer_rows)
            _insert_rows(Account, account_rows)
            accounts += len(account_rows)
        _reset_sequences()
    return SeedResult(customers=customers, accounts=accounts, seconds=time.monotonic() - started, seed=seed)


def _batches(total: int, size: int) -> Iterator[int]:
    for first in range(0, total, size):
        yield min(size, total - first)


def _insert_rows(model: type[models.Model], rows: list[dict[str, Any]]) -> None:
    """One `executemany` of a single-row INSERT per batch.

    Not `bulk_create`: on SQLite Django splits it into statements of ~100 rows (999 parameters each)
    and building a model instance per row costs more than the insert itself: seeding 100,000
    customers took 21 s that way against 3 s this way.
    """
    if not rows:
        return
    quote = connection.ops.quote_name
    fields = list(rows[0])
    columns = ", ".join(quote(model._meta.get_field(name).column) for name in fields)
    placeholders = ", ".join(["%s"] * len(fields))
    sql = f"INSERT INTO {quote(model._meta.db_table)} ({columns}) VALUES ({placeholders})"
    with connection.cursor() as cursor:
        cursor.executemany(sql, [tuple(row[name] for name in fields) for row in rows])


def _reset_sequences() -> None:
    """Rows were inserted with explicit keys: move PostgreSQL's id sequences past them."""
    statements = connection.ops.sequence_reset_sql(no_style(), [Customer, Account])
    with connection.cursor() as cursor:
        for statement in statements:
            cursor.execute(statement)


class LedgerGenerator:
    """Draws customers and accounts (as rows of model field values) from one random stream."""

    def __init__(self, rng: random.Random, last_customer: int = 0, last_account: int = 0) -> None:
        self.rng = rng
        self.customer_pk = last_customer
        self.account_pk = last_account
        self._currencies = [*ACCOUNTING_CURRENCY_WEIGHTS, None]
        self._currency_weights = list(
            accumulate([*ACCOUNTING_CURRENCY_WEIGHTS.values(), OTHER_CURRENCIES_WEIGHT])
        )
        self._account_counts = list(ACCOUNT_COUNT_WEIGHTS)
        self._account_count_weights = list(accumulate(ACCOUNT_COUNT_WEIGHTS.values()))

    def batch(self, size: int) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        customers: list[dict[str, Any]] = []
        accounts: list[dict[str, Any]] = []
        for _ in range(size):
            customer = self.customer()
            customers.append(customer)
            count = self.rng.choices(self._account_counts, cum_weights=self._account_count_weights)[0]
            accounts += [self.account(customer) for _ in range(count)]
        return customers, accounts

    def customer(self) -> dict[str, Any]:
        rng = self.rng
        self.customer_pk += 1
        customer_country, provider_country = self._countries()
        return {
            "id": self.customer_pk,
            "ledger_id": new_ledger_id(rng),
            "external_id": self._external_id(),
            "active": rng.random() >= INACTIVE_SHARE,
            "enabled": rng.random() >= DISABLED_SHARE,
            "customer_country": customer_country,
            "provider_country": provider_country,
            "accounting_currency": self._accounting_currency(),
        }

    def _external_id(self) -> str:
        template = self.rng.choice(EXTERNAL_ID_FORMATS)
        return template.format(n=self.customer_pk, tag=f"{self.rng.getrandbits(16):04x}")

    def _countries(self) -> tuple[str, str]:
        rng = self.rng
        customer_country = rng.choice(COMMON_COUNTRIES) if rng.random() < 0.65 else rng.choice(COUNTRIES)
        provider_country = rng.choice(PROVIDER_COUNTRIES) if rng.random() < 0.8 else customer_country
        roll = rng.random()
        if roll < NO_COUNTRIES_SHARE:
            return "", ""
        if roll < NO_COUNTRIES_SHARE + NO_CUSTOMER_COUNTRY_SHARE:
            return "", provider_country
        if roll < NO_COUNTRIES_SHARE + NO_CUSTOMER_COUNTRY_SHARE + NO_PROVIDER_COUNTRY_SHARE:
            return customer_country, ""
        return customer_country, provider_country

    def _accounting_currency(self) -> str:
        rng = self.rng
        if rng.random() < NO_ACCOUNTING_CURRENCY_SHARE:
            return ""
        currency = rng.choices(self._currencies, cum_weights=self._currency_weights)[0]
        return currency or rng.choice(CURRENCIES)

    def account(self, customer: dict[str, Any]) -> dict[str, Any]:
        rng = self.rng
        self.account_pk += 1
        row = {
            "id": self.account_pk,
            "ledger_id": new_ledger_id(rng),
            "customer": customer["id"],
            "currency": rng.choice(ACCOUNT_CURRENCIES),
            "frozen": rng.random() < 0.02,
            "account_code": rng.choice(ACCOUNT_CODES) if rng.random() < 0.3 else "",
            "account_number": f"{rng.randrange(10**10):010d}" if rng.random() < 0.2 else "",
            "accounting_currency": customer["accounting_currency"] or DEFAULT_ACCOUNTING_CURRENCY,
        }
        balance, available = self._balances()
        # Deactivating a customer needs every account deactivated, which needs a zero balance.
        closed = not customer["active"] or (balance.is_zero() and rng.random() < 0.2)
        if closed:
            balance = available = Decimal(0)
        row["active"] = not closed
        row["account_balance"] = decimal_string(balance)
        row["available_balance"] = decimal_string(available)
        row["disabled_blocked_amount"] = "0"
        if not customer["enabled"]:
            row["disabled_blocked_amount"], row["available_balance"] = row["available_balance"], "0"
        # A frozen account's available balance is blocked too (what is left of it once disabled).
        row["frozen_blocked_amount"] = "0"
        if row["frozen"]:
            row["frozen_blocked_amount"], row["available_balance"] = row["available_balance"], "0"
        return row

    def _balances(self) -> tuple[Decimal, Decimal]:
        rng = self.rng
        if rng.random() < 0.2:
            return Decimal(0), Decimal(0)
        balance = Decimal(str(round(10 ** rng.uniform(-3, 5), 8)))
        # Some accounts carry other blockages, so less than the whole balance is available.
        if rng.random() < 0.1:
            share = Decimal(str(round(rng.uniform(0.3, 0.95), 2)))
            return balance, (balance * share).quantize(Decimal("1e-8"))
        return balance, balance
