"""Template filters of the dashboard's own pages."""

from __future__ import annotations

from datetime import timedelta

import pytest

from dashboard.templatetags.dashboard_tags import duration_words


@pytest.mark.parametrize(
    ("duration", "words"),
    [
        (timedelta(minutes=15), "15 minutes"),
        (timedelta(minutes=1), "1 minute"),
        (timedelta(hours=1, minutes=30), "1 hour 30 minutes"),
        (timedelta(days=2, seconds=1), "2 days 1 second"),
        (timedelta(seconds=44.6), "45 seconds"),
        (timedelta(0), "a moment"),
        (timedelta(seconds=-5), "a moment"),
        (None, ""),
    ],
)
def test_a_duration_reads_in_words_largest_units_first(duration, words):
    assert duration_words(duration) == words
