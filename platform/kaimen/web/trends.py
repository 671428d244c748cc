"""Trends by month on the umbrella view: plugins' monthly series drawn as server-side SVG.

No JavaScript and no charting library: a bar chart per trend, computed here as
plain numbers the template turns into SVG (printable, readable without scripts),
with the same figures as a table for screen readers.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from .. import figures, orgs
from ..plugins import Trend
from ..timeutil import local_date

MONTHS = 12
WIDTH, HEIGHT = 640, 220
LEFT, BOTTOM, TOP = 40, 28, 12


def last_months(bureau: orgs.Organisation, count: int = MONTHS) -> list[date]:
    """Return the first days of the last ``count`` months, this one last (bureau-local)."""
    today = local_date(bureau)
    year, month = today.year, today.month
    months = []
    for _ in range(count):
        months.append(date(year, month, 1))
        year, month = (year, month - 1) if month > 1 else (year - 1, 12)
    return months[::-1]


@dataclass(frozen=True)
class Bar:
    x: float
    y: float
    width: float
    height: float
    value: int
    month: date


@dataclass(frozen=True)
class Chart:
    """One trend laid out for SVG: bars, the axis's top value and the month labels."""

    trend: Trend
    bars: list[Bar]
    top: int
    width: int = WIDTH
    height: int = HEIGHT
    left: int = LEFT
    bottom: int = BOTTOM

    @property
    def baseline(self) -> int:
        return self.height - self.bottom


def _nice_top(peak: int) -> int:
    for step in (5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10000):
        if peak <= step:
            return step
    return ((peak // 10000) + 1) * 10000


def layout(trend: Trend) -> Chart:
    """Place one bar per month between the axis and the top value."""
    top = _nice_top(max([*trend.values, 1]))
    slot = (WIDTH - LEFT) / max(len(trend.months), 1)
    usable = HEIGHT - BOTTOM - TOP
    bars = []
    for index, (month, value) in enumerate(zip(trend.months, trend.values, strict=True)):
        height = usable * value / top
        bars.append(Bar(x=round(LEFT + index * slot + slot * 0.15, 1),
                        y=round(HEIGHT - BOTTOM - height, 1),
                        width=round(slot * 0.7, 1), height=round(height, 1),
                        value=value, month=month))
    return Chart(trend, bars, top)


def charts(bureau: orgs.Organisation, schools: list[orgs.Organisation]) -> list[Chart]:
    """Ask each plugin for its monthly series over ``schools`` and lay them out."""
    if not schools:
        return []
    months = last_months(bureau)
    answers = figures.call("kaimen_bureau_trends", bureau, schools, months=months)
    trends = [trend for answer in answers for trend in answer]
    return [layout(trend) for trend in sorted(trends, key=lambda t: t.order)]
