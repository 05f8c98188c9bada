"""The sandbox's own copy of Tatum's currency and country lists (in `sandbox/data/`)."""

from __future__ import annotations

from pathlib import Path

_DATA_DIR = Path(__file__).resolve().parent / "data"


def _load_codes(filename: str) -> tuple[str, ...]:
    lines = (_DATA_DIR / filename).read_text(encoding="utf-8").splitlines()
    return tuple(line.strip() for line in lines if line.strip())


# Kept in file order: validation messages list the allowed values in this order.
CURRENCIES: tuple[str, ...] = _load_codes("currencies.txt")
COUNTRIES: tuple[str, ...] = _load_codes("countries.txt")
CURRENCY_SET: frozenset[str] = frozenset(CURRENCIES)
COUNTRY_SET: frozenset[str] = frozenset(COUNTRIES)
DEFAULT_ACCOUNTING_CURRENCY = "EUR"
