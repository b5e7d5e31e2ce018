"""A received bundle's tree listings and refs, put into a cache after its blobs.

With one ``syncfs`` for the whole install, each is written beside its final name before that
sync (a listing staged on disk as it arrived is already there) and renamed into place after
the blobs; without it, each is written to its place through a synced temporary file. The
temporaries of one install share one random token, so that their names are made again from
what was received rather than kept in a list of every one: an install of thousands of repos
holds no path per ref.
"""

from __future__ import annotations

import contextlib
import os
import secrets
from collections.abc import Iterator

from hfcache import layout
from hfcache.bundle.received import Received
from hfcache.fs import fsops


def tree_path(cache_root: str, key: tuple[str, str]) -> str:
    """Where the tree listing of revision ``key`` (folder, commit) goes in the cache."""
    return os.path.join(cache_root, key[0], layout.TREES, f"{key[1]}.json")


class Metadata:
    """The tree listings and refs of ``received``, for the cache at ``cache_root``."""

    def __init__(self, received: Received, cache_root: str, one_sync: bool) -> None:
        self.received, self.cache_root, self.one_sync = received, cache_root, one_sync
        self._token = secrets.token_hex(4)

    def _items(self) -> Iterator[tuple[str, bytes | None, tuple[str, str]]]:
        """(final path, bytes, key) of each; bytes ``None``: a listing staged as it arrived."""
        for key, data in self.received.trees.items():
            yield tree_path(self.cache_root, key), data, key
        for (folder, name), commit in self.received.refs.items():
            path = os.path.join(self.cache_root, folder, layout.REFS, *name.split("/"))
            yield path, commit.encode("ascii"), (folder, name)

    def _temporary(self, path: str, data: bytes | None, key: tuple[str, str]) -> str:
        return self.received.tree_file(key) if data is None else fsops.tmp_name(path, self._token)

    def stage(self) -> None:
        """With one sync: each written beside its final name (not synced: the sync to come does)."""
        if not self.one_sync:
            return
        try:
            for path, data, key in self._items():
                if data is None:
                    continue
                os.makedirs(os.path.dirname(path), exist_ok=True)
                tmp = self._temporary(path, data, key)
                with fsops.named(path, tmp), open(tmp, "xb") as f:
                    f.write(data)
        except BaseException:
            self.discard()
            raise

    def place(self) -> None:
        """Each into its place: renamed (with one sync, made durable by it), else written there
        through a synced temporary file."""
        for path, data, key in self._items():
            os.makedirs(os.path.dirname(path), exist_ok=True)
            if self.one_sync:
                tmp = self._temporary(path, data, key)
                with fsops.named(path, tmp):
                    os.chmod(tmp, 0o644)
                    os.replace(tmp, path)
            else:
                fsops.write_atomic(path, data if data is not None else self.received.tree_bytes(key))

    def discard(self) -> None:
        """The temporaries written beside final names, removed (an install that failed)."""
        for path, data, key in self._items():
            if data is not None:
                with contextlib.suppress(OSError):
                    os.unlink(self._temporary(path, data, key))

    def folders(self) -> Iterator[str]:
        """Each folder a listing or ref was put in."""
        for path, _, _ in self._items():
            yield os.path.dirname(path)
