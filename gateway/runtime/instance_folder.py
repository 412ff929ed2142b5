"""The instance folder and the SQLite database files: private to the user running the gateway.

The folder is created with mode 0700; the database file is created empty with mode 0600 before
SQLite opens it, and SQLite gives its journal and WAL files the mode of the database file (the
writers' lock file beside it is created 0600 too). Files an older version created readable by
others are narrowed to 0600 on start.
"""

from __future__ import annotations

import logging
import os
import stat

from sqlalchemy.engine import make_url

log = logging.getLogger(__name__)

FOLDER_MODE = 0o700
FILE_MODE = 0o600
SQLITE_COMPANIONS = ("-wal", "-shm", "-journal", "-writer.lock")  # the last: see gateway.store.base


def make_private_folder(path: str) -> None:
    """Create ``path`` (and missing parents) with mode 0700; an existing folder is left as it is."""
    if os.path.isdir(path):
        return
    os.makedirs(path, mode=FOLDER_MODE, exist_ok=True)
    os.chmod(path, FOLDER_MODE)  # makedirs' mode is narrowed by the umask, never widened


def _narrow(path: str) -> None:
    try:
        info = os.stat(path)
    except FileNotFoundError:
        return
    if stat.S_ISREG(info.st_mode) and info.st_mode & 0o077 and info.st_uid == os.geteuid():
        os.chmod(path, FILE_MODE)
        log.info("narrowed %s to mode 0600 (it was readable by others)", path)


def sqlite_file(database_url: str) -> str | None:
    """The file of a SQLite database URL; None for another database or an in-memory one."""
    url = make_url(database_url)
    if url.get_backend_name() != "sqlite" or not url.database or url.database == ":memory:":
        return None
    if url.database.startswith("file:"):  # a URI filename (?uri=true): SQLite opens it itself
        return None
    return os.path.abspath(url.database)


def prepare_sqlite_file(database_url: str) -> None:
    """For a SQLite URL: create the database's folder (0700) and the empty database file (0600) when
    missing, and narrow existing database files to 0600."""
    path = sqlite_file(database_url)
    if path is None:
        return
    make_private_folder(os.path.dirname(path))
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, FILE_MODE)
    except FileExistsError:
        pass
    else:
        os.close(fd)  # an empty file is an empty SQLite database
    for name in ("",) + SQLITE_COMPANIONS:
        _narrow(path + name)
