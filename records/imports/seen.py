"""Which records a file already named, and on which line: duplicates across the whole file.

A million keys in a Python set would hold ~100 MB and grow with the file. They go to a private
temporary SQLite database instead (the standard library's sqlite3, not the target database):
its pages spill to a file that SQLite deletes when it is closed, so the importer's memory stays
flat however long the file is, and a batch's lookup is one indexed join in C.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence


class SeenKeys:
    """First line of every key seen so far; close() discards them."""

    def __init__(self) -> None:
        # "" opens a private on-disk temporary database (removed on close).
        self._db = sqlite3.connect("", isolation_level=None)
        self._db.executescript(
            """
            PRAGMA journal_mode = OFF;
            PRAGMA synchronous = OFF;
            PRAGMA cache_size = -16384;  -- 16 MiB of pages, then the temporary file
            CREATE TABLE seen (key TEXT PRIMARY KEY, line INTEGER NOT NULL) WITHOUT ROWID;
            CREATE TEMP TABLE batch (key TEXT PRIMARY KEY, line INTEGER NOT NULL) WITHOUT ROWID;
            """
        )

    def add(self, entries: Sequence[tuple[str, int]]) -> dict[str, int]:
        """Record a batch of (key, line), lines ascending; returns {key: earlier line} for each
        key already seen in an earlier batch. Keys repeated within the batch are the caller's."""
        db = self._db
        db.execute("BEGIN")
        try:
            db.executemany("INSERT OR IGNORE INTO batch VALUES (?, ?)", entries)
            earlier = dict(
                db.execute("SELECT seen.key, seen.line FROM batch JOIN seen USING (key)")
            )
            db.execute("INSERT OR IGNORE INTO seen SELECT key, line FROM batch")
            db.execute("DELETE FROM batch")
        finally:
            db.execute("COMMIT")
        return earlier

    def close(self) -> None:
        self._db.close()
