"""The credits-per-day bar chart, laid out on the server: the numbers an inline SVG template draws
(`customers/partials/credit_usage_chart.html`), with no script and no style attribute."""

from __future__ import annotations

import datetime
import math
from collections.abc import Sequence
from dataclasses import dataclass

from customers.usage.selectors import DayUsage

WIDTH = 960
HEIGHT = 260
PLOT_LEFT = 52  # room for the credit labels
PLOT_RIGHT = WIDTH - 8
PLOT_TOP = 12
PLOT_BOTTOM = HEIGHT - 28  # room for the date labels
MAX_DATE_LABELS = 8


@dataclass(frozen=True)
class Bar:
    x: float
    y: float
    width: float
    height: float
    day: datetime.date
    credits: int
    calls: int


@dataclass(frozen=True)
class Tick:
    position: float  # y of a credit line, x of a date label
    label: str


@dataclass(frozen=True)
class BarChart:
    bars: list[Bar]
    credit_ticks: list[Tick]
    date_ticks: list[Tick]
    scale_max: int  # the credits at the top of the plot
    width: int = WIDTH
    height: int = HEIGHT
    plot_left: int = PLOT_LEFT
    plot_right: int = PLOT_RIGHT
    plot_top: int = PLOT_TOP
    plot_bottom: int = PLOT_BOTTOM


def scale_ceiling(value: int) -> int:
    """The smallest 1, 2 or 5 times a power of ten that is at least `value` (1 for nothing)."""
    if value <= 1:
        return 1
    power = 10 ** math.floor(math.log10(value))
    return next(step * power for step in (1, 2, 5, 10) if step * power >= value)


def day_label(day: datetime.date) -> str:
    return f"{day.day} {day:%b}"


def credits_bar_chart(days: Sequence[DayUsage]) -> BarChart:
    """One bar a day, its height in proportion to the day's credits; a day without calls has a bar of
    height 0, so there are as many bars as days."""
    scale = scale_ceiling(max((day.credits for day in days), default=0))
    plot_height = PLOT_BOTTOM - PLOT_TOP
    slot = (PLOT_RIGHT - PLOT_LEFT) / max(len(days), 1)
    bar_width = slot * 0.7
    bars = []
    for index, day in enumerate(days):
        height = plot_height * day.credits / scale
        bars.append(
            Bar(
                x=round(PLOT_LEFT + index * slot + (slot - bar_width) / 2, 2),
                y=round(PLOT_BOTTOM - height, 2),
                width=round(bar_width, 2),
                height=round(height, 2),
                day=day.day,
                credits=day.credits,
                calls=day.calls,
            )
        )
    return BarChart(
        bars=bars, credit_ticks=_credit_ticks(scale), date_ticks=_date_ticks(bars), scale_max=scale
    )


def _credit_ticks(scale: int) -> list[Tick]:
    values = [0, scale // 2, scale] if scale % 2 == 0 else [0, scale]
    return [Tick(position=_credit_y(value, scale), label=str(value)) for value in values]


def _credit_y(credits: int, scale: int) -> float:
    return round(PLOT_BOTTOM - (PLOT_BOTTOM - PLOT_TOP) * credits / scale, 2)


def _date_ticks(bars: list[Bar]) -> list[Tick]:
    """At most `MAX_DATE_LABELS` dates, evenly spaced, counted back from the last day (today)."""
    step = math.ceil(len(bars) / MAX_DATE_LABELS) or 1
    last = len(bars) - 1
    return [
        Tick(position=round(bar.x + bar.width / 2, 2), label=day_label(bar.day))
        for index, bar in enumerate(bars)
        if (last - index) % step == 0
    ]
