"""The JavaScript semantics the validation copies, and the amount format, without HTTP."""

from __future__ import annotations

import math
from decimal import Decimal

import pytest

from sandbox.amounts import decimal_string
from sandbox.validation import MISSING, js_number, length


@pytest.mark.parametrize(
    ("text", "expected"),
    [("10", 10), (" 7 ", 7), ("", 0), ("1e1", 10), ("2.5", 2.5), ("-3", -3), ("0x10", 16), ("+4", 4)],
)
def test_query_values_convert_like_javascripts_number(text, expected):
    assert js_number(text) == expected


@pytest.mark.parametrize("text", ["ten", "1,5", "5px", "[]", "NaN"])
def test_text_that_is_no_number_becomes_nan(text):
    assert math.isnan(js_number(text))


def test_infinity_is_a_number_but_not_a_finite_one():
    assert js_number("Infinity") == math.inf
    assert js_number("-Infinity") == -math.inf


@pytest.mark.parametrize(
    ("value", "sentence"),
    [
        (MISSING, "must be longer than or equal to 2 characters"),
        ("", "must be longer than or equal to 2 characters"),
        ("x", "must be longer than or equal to 2 characters"),
        ("xxxxx", "must be shorter than or equal to 4 characters"),
        (12345, "must be longer than or equal to 2 and shorter than or equal to 4 characters"),
    ],
)
def test_length_words_its_failure_like_class_validator(value, sentence):
    assert length(2, 4)("code", value) == ("isLength", f"code {sentence}")


def test_length_counts_characters_not_bytes():
    assert length(1, 3)("name", "ążę") is None


@pytest.mark.parametrize(
    ("value", "text"),
    [
        ("0", "0"),
        ("0E-8", "0"),
        ("100", "100"),
        ("1E+2", "100"),
        ("10.50000000", "10.5"),
        ("1E-18", "0.000000000000000001"),
    ],
)
def test_amounts_are_written_without_exponent_or_trailing_zeros(value, text):
    assert decimal_string(Decimal(value)) == text
