"""Storage, written through SQLAlchemy Core: SQLite by default, any SQLAlchemy database by URL."""

from gateway.store.database import Database

__all__ = ["Database"]
