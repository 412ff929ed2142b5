"""Storage, written through SQLAlchemy Core: SQLite by default, any SQLAlchemy database by URL."""

from .database import Database

__all__ = ["Database"]
