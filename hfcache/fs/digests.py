"""A persistent record of digests, keyed so that a changed file is noticed.

Hashing a 100 GB cache takes minutes; a file that has not changed since it was hashed need not
be hashed again. Each record is keyed by the file's identity as ``stat`` sees it (device,
inode, size, modification time in ns) and its path: rewrite, replace, truncate or touch a file
and its old digests no longer apply. The record lives in hfcache's own state folder, never in
a cache (a served cache may be read-only), in one SQLite file that several processes share.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import sqlite3
import threading
from collections.abc import Iterable, Iterator

from hfcache.fs.hashing import algo_for

_SCHEMA = """
CREATE TABLE IF NOT EXISTS digests (
    path TEXT NOT NULL, dev INTEGER NOT NULL, ino INTEGER NOT NULL, size INTEGER NOT NULL,
    mtime_ns INTEGER NOT NULL, algo TEXT NOT NULL, digest TEXT NOT NULL,
    PRIMARY KEY (path, algo)
)
"""

Identity = tuple[int, int, int, int]
"""(device, inode, size, mtime_ns) of a file, from ``lstat``."""


def identity_of(st: os.stat_result) -> Identity:
    return (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns)


def default_state_dir() -> str:
    """``$HFCACHE_STATE_DIR``, else ``$XDG_STATE_HOME/hfcache``, else ``~/.local/state/hfcache``."""
    explicit = os.environ.get("HFCACHE_STATE_DIR")
    if explicit:
        return os.path.abspath(os.path.expanduser(explicit))
    base = os.environ.get("XDG_STATE_HOME") or os.path.join(os.path.expanduser("~"), ".local", "state")
    return os.path.join(base, "hfcache")


class DigestStore:
    """Digests by (path, algo), valid only while the file keeps the identity it was hashed with.

    Thread-safe; every call opens no more than one connection per thread. A store that cannot
    be opened or written (a read-only home) degrades to remembering nothing: it is a cache of
    work, never a source of truth.
    """

    def __init__(self, path: str) -> None:
        self.path = path
        self._local = threading.local()
        self._broken = False

    @classmethod
    def default(cls) -> DigestStore:
        return cls(os.path.join(default_state_dir(), "digests.sqlite"))

    def _db(self) -> sqlite3.Connection | None:
        if self._broken:
            return None
        db: sqlite3.Connection | None = getattr(self._local, "db", None)
        if db is None:
            try:
                os.makedirs(os.path.dirname(self.path), exist_ok=True)
                db = sqlite3.connect(self.path, timeout=10)
                db.execute("PRAGMA journal_mode=WAL")
                db.execute(_SCHEMA)
            except (OSError, sqlite3.Error):
                self._broken = True
                return None
            self._local.db = db
        return db

    @contextlib.contextmanager
    def _safely(self) -> Iterator[sqlite3.Connection | None]:
        db = self._db()
        try:
            yield db
        except sqlite3.Error:
            self._broken = True

    def get(self, path: str, ident: Identity) -> dict[str, str]:
        """Digests recorded for ``path`` while it had identity ``ident`` (algo name → hex)."""
        with self._safely() as db:
            if db is None:
                return {}
            rows = db.execute(
                "SELECT algo, digest FROM digests WHERE path=? AND dev=? AND ino=? AND size=? AND mtime_ns=?",
                (path, *ident),
            ).fetchall()
            return {algo: digest for algo, digest in rows}
        return {}

    def put(self, path: str, ident: Identity, digests: dict[str, str]) -> None:
        """Record digests of ``path`` as it was when ``ident`` was taken (before reading it)."""
        with self._safely() as db:
            if db is None:
                return
            with db:
                db.executemany(
                    "INSERT OR REPLACE INTO digests VALUES (?, ?, ?, ?, ?, ?, ?)",
                    [(path, *ident, algo, digest) for algo, digest in digests.items()],
                )

    def put_many(self, records: Iterable[tuple[str, Identity, dict[str, str]]]) -> None:
        """:meth:`put` for many files in one transaction (one commit: one WAL sync, not one each)."""
        rows = ((path, *ident, a, d) for path, ident, digests in records for a, d in digests.items())
        first = next(rows, None)  # made as they are stored: thousands of blobs hold no list of rows
        if first is None:
            return
        with self._safely() as db:
            if db is None:
                return
            with db:
                sql = "INSERT OR REPLACE INTO digests VALUES (?, ?, ?, ?, ?, ?, ?)"
                db.executemany(sql, itertools.chain((first,), rows))


def matches(store: DigestStore, key: str, ident: Identity, blob_id: str) -> bool | None:
    """The one rule by which recorded bytes are judged, for ``doctor --verify``, the cache view
    and the mirror alike: ``True`` if the bytes at ``key`` (unchanged since: ``ident``) hashed to
    ``blob_id`` (sha256 for 64 hex, git blob sha1 for 40), ``False`` if to something else,
    ``None`` if never hashed."""
    digest = store.get(key, ident).get(algo_for(blob_id).value)
    return None if digest is None else digest == blob_id

