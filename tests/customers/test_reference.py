from __future__ import annotations

import re
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest

from customers.tatum.reference import (
    COUNTRY_CHOICES,
    COUNTRY_CODES,
    CURRENCY_CHOICES,
    CURRENCY_CODES,
    UNKNOWN_COUNTRY,
    UNKNOWN_CURRENCY,
    country_label,
    country_name,
    currency_label,
    currency_name,
)
from customers.templatetags.customer_tags import utc_iso, utc_text


def test_the_currency_list_holds_the_contracts_170_codes_including_the_four_letter_ones() -> None:
    assert len(CURRENCY_CODES) == 170
    assert len(set(CURRENCY_CODES)) == 170
    assert {"DOGE", "FLOW", "FUSD", "EUR", "USD", "HRK"} <= set(CURRENCY_CODES)
    assert "ETH" not in CURRENCY_CODES


def test_the_country_list_holds_248_codes_without_antarctica() -> None:
    assert len(COUNTRY_CODES) == 248
    assert len(set(COUNTRY_CODES)) == 248
    assert {"GG", "IM", "JE", "DE", "CZ"} <= set(COUNTRY_CODES)
    assert "AQ" not in COUNTRY_CODES


def test_every_code_is_upper_case_without_whitespace() -> None:
    for code in (*CURRENCY_CODES, *COUNTRY_CODES):
        assert re.fullmatch(r"[A-Z]{2,4}", code), code


def test_every_listed_currency_has_a_real_name() -> None:
    unnamed = [code for code in CURRENCY_CODES if currency_name(code) == UNKNOWN_CURRENCY]

    assert unnamed == []


def test_every_listed_country_has_a_real_name() -> None:
    unnamed = [code for code in COUNTRY_CODES if country_name(code) == UNKNOWN_COUNTRY]

    assert unnamed == []


def test_no_country_name_is_written_in_isos_inverted_order() -> None:
    inverted = [
        (code, country_name(code))
        for code in COUNTRY_CODES
        if re.search(r", (the |The )?[\w .']*(of|of the|Republic)$|, (British|U\.S\.)$", country_name(code))
    ]

    assert inverted == []


@pytest.mark.parametrize(
    ("code", "name"),
    [
        ("EUR", "Euro"),
        ("USD", "US Dollar"),
        ("CZK", "Czech Koruna"),
        ("DOGE", "Dogecoin"),
        ("FLOW", "Flow"),
        ("FUSD", "Flow USD"),
        ("HRK", "Croatian Kuna"),
        ("VEF", "Venezuelan Bolívar Fuerte"),
        ("GGP", "Guernsey Pound"),
        ("XAU", "Gold"),
        ("KRW", "South Korean Won"),
        ("ETH", "Ether"),
        ("BTC", "Bitcoin"),
    ],
)
def test_currency_name_names_iso_crypto_and_withdrawn_codes(code: str, name: str) -> None:
    assert currency_name(code) == name


@pytest.mark.parametrize("code", ["ZZZ", "", "E", "EURO", "XYZW"])
def test_currency_name_says_unknown_currency_for_a_code_nobody_knows(code: str) -> None:
    assert currency_name(code) == "Unknown currency"


def test_a_current_iso_currency_outside_the_contract_list_still_has_its_name() -> None:
    assert "SLE" not in CURRENCY_CODES
    assert currency_name("SLE") == "Leone"


@pytest.mark.parametrize(
    ("code", "name"),
    [
        ("DE", "Germany"),
        ("GB", "United Kingdom"),
        ("KR", "South Korea"),
        ("KP", "North Korea"),
        ("GG", "Guernsey"),
        ("IM", "Isle of Man"),
        ("JE", "Jersey"),
        ("CD", "Democratic Republic of the Congo"),
        ("CG", "Republic of the Congo"),
        ("VG", "British Virgin Islands"),
        ("VI", "U.S. Virgin Islands"),
        ("TW", "Taiwan"),
        ("RU", "Russia"),
    ],
)
def test_country_name_uses_the_everyday_name(code: str, name: str) -> None:
    assert country_name(code) == name


@pytest.mark.parametrize("code", ["XX", "", "G", "GBR", "AA"])
def test_country_name_says_unknown_country_for_a_code_nobody_knows(code: str) -> None:
    assert country_name(code) == "Unknown country"


def test_labels_put_the_name_before_the_code() -> None:
    assert currency_label("EUR") == "Euro (EUR)"
    assert country_label("DE") == "Germany (DE)"
    assert currency_label("QQQ") == "Unknown currency (QQQ)"


def test_choices_pair_every_listed_code_with_its_label() -> None:
    assert sorted(code for code, _ in CURRENCY_CHOICES) == sorted(CURRENCY_CODES)
    assert sorted(code for code, _ in COUNTRY_CHOICES) == sorted(COUNTRY_CODES)
    assert ("EUR", "Euro (EUR)") in CURRENCY_CHOICES
    assert ("CZ", "Czechia (CZ)") in COUNTRY_CHOICES


def test_names_are_cached() -> None:
    currency_name.cache_clear()

    currency_name("EUR")
    currency_name("EUR")

    assert currency_name.cache_info().hits == 1


@pytest.mark.parametrize(
    "moment,iso,text",
    [
        (
            datetime(2026, 3, 1, 0, 30, 5, 120, tzinfo=ZoneInfo("Europe/Prague")),
            "2026-02-28T23:30:05.000120+00:00",
            "2026-02-28 23:30:05",
        ),
        (datetime(2026, 7, 4, 12, 0, tzinfo=UTC), "2026-07-04T12:00:00+00:00", "2026-07-04 12:00:00"),
        (None, "", ""),
    ],
)
def test_moments_are_shown_in_utc_to_the_second_and_in_iso_8601(moment, iso, text):
    assert (utc_iso(moment), utc_text(moment)) == (iso, text)
