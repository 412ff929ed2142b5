"""Bounded counts for the lists: how many rows match, counted through an index up to a cap, so
that a total costs the same however many rows are stored ("more than 1,000" past the cap)."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Connection, func, select

COUNT_CAP = 1000
"""The most rows a list's total counts one by one; past it the total is "more than" this."""


@dataclass(frozen=True)
class Total:
    """A list's total. ``more``: there are more than ``count`` (the count stopped at its cap).
    ``counted_back_to``: the count looked only at rows of this time or newer (the time of the last
    one counted when it stopped at its cap, or where a bounded search window ended); None: it
    looked at every row that could match."""

    count: int
    more: bool = False
    counted_back_to: float | None = None

    @property
    def exact(self) -> bool:
        return not self.more and self.counted_back_to is None


def capped_count(connection: Connection, query, cap: int | None = None, window_end: float | None = None) -> Total:
    """The total of ``query`` (a select ordered newest first whose first column is the rows' time):
    its rows counted up to ``cap`` + 1. ``window_end``: the query looks only at rows of this time
    or newer (a bounded search window that ended before the oldest row). ``cap``: :data:`COUNT_CAP`
    unless given."""
    cap = COUNT_CAP if cap is None else cap
    counted = connection.execute(select(func.count()).select_from(query.limit(cap + 1).subquery())).scalar() or 0
    if counted <= cap:
        return Total(counted, False, window_end)
    last = connection.execute(select(query.offset(cap - 1).limit(1).subquery())).scalar()
    return Total(cap, True, last)
