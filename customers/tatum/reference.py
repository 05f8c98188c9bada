"""The currency and country codes Tatum accepts, and their human names: the one place for both lists.

The lists are copies of the API contract's `currencies.txt` and `countries.txt` (in `customers/data`).
Names come from pycountry (ISO 4217 and ISO 3166-1), with a small table for the codes ISO does not
know (crypto assets, local pounds, withdrawn currencies) and for countries whose ISO name reads badly
in a dropdown.
"""

from __future__ import annotations

import functools
import unicodedata
from collections.abc import Callable
from pathlib import Path

import pycountry

_DATA_DIR = Path(__file__).resolve().parent / "data"

UNKNOWN_CURRENCY = "Unknown currency"
UNKNOWN_COUNTRY = "Unknown country"

# Codes outside current ISO 4217: crypto assets, local pounds, and currencies withdrawn since the
# list was published. Tatum still accepts (or returns) them, so they need a name of their own.
_CURRENCY_NAMES: dict[str, str] = {
    "ANG": "Netherlands Antillean Guilder",
    "BGN": "Bulgarian Lev",
    "BTC": "Bitcoin",
    "BYR": "Belarusian Ruble (until 2016)",
    "CUC": "Cuban Convertible Peso",
    "DOGE": "Dogecoin",
    "ETH": "Ether",
    "FLOW": "Flow",
    "FUSD": "Flow USD",
    "GGP": "Guernsey Pound",
    "HRK": "Croatian Kuna",
    "IMP": "Manx Pound",
    "JEP": "Jersey Pound",
    "KRW": "South Korean Won",
    "LTC": "Litecoin",
    "LTL": "Lithuanian Litas",
    "LVL": "Latvian Lats",
    "MKD": "Macedonian Denar",
    "MRO": "Mauritanian Ouguiya (until 2017)",
    "SLL": "Sierra Leonean Leone (until 2022)",
    "STD": "São Tomé and Príncipe Dobra (until 2017)",
    "VEF": "Venezuelan Bolívar Fuerte",
    "XDR": "Special Drawing Right",
    "ZMK": "Zambian Kwacha (until 2012)",
    "ZWL": "Zimbabwean Dollar",
}

# ISO names written "Surname, Given name" style, or more formal than people say them.
_COUNTRY_NAMES: dict[str, str] = {
    "BN": "Brunei",
    "CD": "Democratic Republic of the Congo",
    "CG": "Republic of the Congo",
    "FK": "Falkland Islands",
    "FM": "Micronesia",
    "PS": "Palestine",
    "RU": "Russia",
    "VA": "Vatican City",
    "VG": "British Virgin Islands",
    "VI": "U.S. Virgin Islands",
    "XK": "Kosovo",
}


def _read_codes(filename: str) -> tuple[str, ...]:
    lines = (_DATA_DIR / filename).read_text(encoding="utf-8").splitlines()
    return tuple(line.strip() for line in lines if line.strip() and not line.startswith("#"))


CURRENCY_CODES: tuple[str, ...] = _read_codes("currencies.txt")
COUNTRY_CODES: tuple[str, ...] = _read_codes("countries.txt")


@functools.cache
def currency_name(code: str) -> str:
    """The currency's name ("Euro"), or "Unknown currency" for a code nobody knows."""
    if not isinstance(code, str) or not code:
        return UNKNOWN_CURRENCY
    if code in _CURRENCY_NAMES:
        return _CURRENCY_NAMES[code]
    currency = pycountry.currencies.get(alpha_3=code) if len(code) == 3 else None
    return currency.name if currency is not None else UNKNOWN_CURRENCY


@functools.cache
def country_name(code: str) -> str:
    """The country's everyday name ("South Korea"), or "Unknown country"."""
    if not isinstance(code, str) or not code:
        return UNKNOWN_COUNTRY
    if code in _COUNTRY_NAMES:
        return _COUNTRY_NAMES[code]
    country = pycountry.countries.get(alpha_2=code) if len(code) == 2 else None
    if country is None:
        return UNKNOWN_COUNTRY
    return getattr(country, "common_name", None) or country.name


def currency_label(code: str) -> str:
    """The name and the code, as in "Euro (EUR)", for dropdowns and tables: the name comes first, so
    that typing the start of a name in a dropdown finds it."""
    return f"{currency_name(code)} ({code})"


def country_label(code: str) -> str:
    """The name and the code, as in "Germany (DE)", for dropdowns and tables."""
    return f"{country_name(code)} ({code})"


def name_sort_key(text: str) -> str:
    """Where a name sorts for a reader: without regard to case or accents ("Åland Islands" among
    the A's, "Côte d'Ivoire" among the C's)."""
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(char for char in decomposed if not unicodedata.combining(char)).casefold()


def _choices_by_name(codes: tuple[str, ...], label: Callable[[str], str]) -> list[tuple[str, str]]:
    labelled = [(code, label(code)) for code in codes]
    return sorted(labelled, key=lambda choice: (name_sort_key(choice[1]), choice[0]))


# Sorted by name, so that a dropdown's own type-ahead ("Germ", "United K") lands on the right one.
CURRENCY_CHOICES: list[tuple[str, str]] = _choices_by_name(CURRENCY_CODES, currency_label)
COUNTRY_CHOICES: list[tuple[str, str]] = _choices_by_name(COUNTRY_CODES, country_label)
