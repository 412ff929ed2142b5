"""The small per-integration chart of the overview: delivered and failed attempts per hour over 24 h,
as the geometry of an inline SVG (drawn by the template, no script)."""

from __future__ import annotations

from dataclasses import dataclass

WIDTH = 240
HEIGHT = 48
SLOTS = 24


@dataclass(frozen=True)
class Bar:
    x: float
    width: float
    delivered: int
    failed: int
    delivered_height: float
    failed_height: float
    hours_ago: int

    @property
    def delivered_y(self) -> float:
        return HEIGHT - self.delivered_height

    @property
    def failed_y(self) -> float:
        return HEIGHT - self.delivered_height - self.failed_height


@dataclass(frozen=True)
class Chart:
    bars: list[Bar]
    peak: int
    delivered: int
    failed: int
    width: int = WIDTH
    height: int = HEIGHT

    @property
    def summary(self) -> str:
        return f"last 24 hours: {self.delivered} delivered, {self.failed} failed attempts (peak {self.peak} per hour)"


def hourly_chart(delivered: list[int], failed: list[int]) -> Chart:
    """Stacked bars, oldest hour on the left; heights scaled to the busiest hour."""
    peak = max((d + f for d, f in zip(delivered, failed)), default=0)
    slot = WIDTH / SLOTS
    bars = []
    for index, (ok, bad) in enumerate(zip(delivered, failed)):
        scale = (HEIGHT - 2) / peak if peak else 0
        bars.append(Bar(x=round(index * slot + 1, 2), width=round(slot - 2, 2), delivered=ok, failed=bad,
                        delivered_height=round(ok * scale, 2), failed_height=round(bad * scale, 2),
                        hours_ago=SLOTS - 1 - index))
    return Chart(bars=bars, peak=peak, delivered=sum(delivered), failed=sum(failed))
