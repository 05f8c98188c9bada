import pytest

from customers.csv_safety import safe_cell, safe_row


@pytest.mark.parametrize(
    "dangerous", ["=1+1", "+1", "-2", "@SUM(A1)", "\tx", "\rx", '=HYPERLINK("http://x")']
)
def test_cells_a_spreadsheet_would_evaluate_are_neutralised(dangerous):
    assert safe_cell(dangerous) == "'" + dangerous


@pytest.mark.parametrize("harmless", ["cust-1", "DE", "a=b", "1.5", "", "ünïcode"])
def test_ordinary_cells_are_left_alone(harmless):
    assert safe_cell(harmless) == harmless


def test_booleans_and_missing_values_are_written_in_words():
    assert safe_row([True, False, None, 3]) == ["true", "false", "", "3"]
