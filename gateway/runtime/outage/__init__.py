"""When the database is unavailable: noticing it go and come back (:mod:`.watch`, :mod:`.probe`), and the
503 answer (:mod:`.answer`). What counts as unavailable is the store's: :mod:`gateway.store.unavailable`."""

from gateway.store.unavailable import REASONS, Unavailable, unavailable
from gateway.runtime.outage.watch import DatabaseWatch, Outage

__all__ = ["REASONS", "DatabaseWatch", "Outage", "Unavailable", "unavailable"]
