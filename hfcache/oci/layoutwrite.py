"""Write an OCI image layout: blobs put in by content, then ``index.json`` last, atomically.

The order is what keeps a layout honest: every blob is in place (and its bytes checked) before
the index that names it is renamed into place, so a reader never sees a manifest whose blobs
are missing, and a crash leaves the previous index intact. An existing layout is added to:
blobs are content-addressed, and descriptors tagged with a name this pack writes are replaced.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
from collections.abc import Callable
from typing import Any

from hfcache.errors import BadInputError
from hfcache.fs import fsops
from hfcache.fs.hashing import Algo
from hfcache.fs.streamcopy import copy_hashed
from hfcache.oci import mediatypes as mt
from hfcache.oci.read import parse_json
from hfcache.oci.source import INDEX_FILE, LAYOUT_FILE, MAX_INDEX_BYTES

_NO_LINK = (errno.EXDEV, errno.EPERM, errno.EMLINK, errno.ENOTSUP, errno.EOPNOTSUPP)


class LayoutWriter:
    """Blobs into ``path``/blobs/sha256, then :meth:`commit` writes ``index.json``."""

    def __init__(self, path: str, *, overwrite: bool = False) -> None:
        self.path = os.path.abspath(path)
        self.blobs = os.path.join(self.path, "blobs", "sha256")
        self.linked = self.copied = self.kept = 0
        self._dirs: set[str] = set()
        self._existing: list[dict[str, Any]] = []
        if os.path.lexists(self.path) and not os.path.isdir(self.path):
            raise BadInputError(f"{path} exists and is not a folder")
        entries = os.listdir(self.path) if os.path.isdir(self.path) else []
        if entries and LAYOUT_FILE not in entries and not overwrite:
            raise BadInputError(f"{path} is a folder that is not an OCI layout: name a new or empty folder")
        if LAYOUT_FILE in entries and os.path.isfile(os.path.join(self.path, INDEX_FILE)):
            with open(os.path.join(self.path, INDEX_FILE), "rb") as f:
                index = parse_json(f.read(MAX_INDEX_BYTES + 1), path, INDEX_FILE, MAX_INDEX_BYTES)
            listed = index.get("manifests")
            self._existing = [d for d in listed if isinstance(d, dict)] if isinstance(listed, list) else []
        os.makedirs(self.blobs, exist_ok=True)

    def _dest(self, digest: str) -> str:
        return os.path.join(self.blobs, digest)

    def has(self, digest: str, size: int, same_as: str | None = None) -> bool:
        """Is the blob already here: the very file ``same_as`` (a link made earlier), or a file of
        the right size whose bytes ``check`` passes when the caller asks (see :meth:`put_file`)."""
        st = fsops.lstat_or_none(self._dest(digest))
        if st is None or st.st_size != size:
            return False
        if same_as is not None:
            with contextlib.suppress(OSError):
                src = os.stat(same_as)
                return (src.st_dev, src.st_ino) == (st.st_dev, st.st_ino)
        return False

    def put_bytes(self, data: bytes, digest: str) -> None:
        dest = self._dest(digest)
        if fsops.lstat_or_none(dest) is not None:
            with open(dest, "rb") as f:
                if f.read(len(data) + 1) == data:
                    self.kept += 1
                    return
        tmp = fsops.stage_bytes(dest, data)
        os.replace(tmp, dest)
        self._dirs.add(self.blobs)

    def put_file(
        self, source: str, digest: str, size: int, *, trusted: bool, progress: Callable[[int], None]
    ) -> str | None:
        """Put the file ``source`` in as blob ``digest``: hard-linked where the file system allows
        (no copy), else copied. Unless ``trusted`` (its bytes hashed to ``digest`` and unchanged
        since), the bytes are hashed, in the copy's own pass. Returns the sha256 found when it is
        not ``digest`` (nothing is then left in the layout), else ``None``."""
        dest = self._dest(digest)
        if self.has(digest, size, same_as=source):
            self.kept += 1
            progress(size)
            return None
        tmp = fsops.tmp_name(dest)
        try:
            os.link(source, tmp, follow_symlinks=True)
            linked = True
        except OSError as e:
            if e.errno not in _NO_LINK:
                raise fsops.public_error(e, dest, tmp) from e
            linked = False
        try:
            if linked and trusted:
                progress(size)
                actual = digest
            elif linked:
                with open(tmp, "rb") as f:
                    actual = copy_hashed(f, None, size, (Algo.SHA256,), progress=progress)[Algo.SHA256]
            else:
                with open(source, "rb") as fin, fsops.named(dest, tmp), open(tmp, "xb") as fout:
                    actual = copy_hashed(fin, fout, size, (Algo.SHA256,), progress=progress)[Algo.SHA256]
                    fout.flush()
                    os.fsync(fout.fileno())
            if actual != digest:
                return actual
            os.replace(tmp, dest)
        finally:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)
        self._dirs.add(self.blobs)
        if linked:
            self.linked += 1
        else:
            self.copied += 1
        return None

    def commit(self, descriptors: list[dict[str, Any]]) -> None:
        """Write ``oci-layout`` and ``index.json``: the descriptors here before, less those whose
        tag one of ``descriptors`` takes, then ``descriptors``."""
        for folder in sorted(self._dirs):
            fsops.fsync_dir(folder)
        taken = {_ref(d) for d in descriptors} - {None}
        kept = [d for d in self._existing if _ref(d) not in taken]
        index = {"schemaVersion": 2, "mediaType": mt.OCI_INDEX, "manifests": kept + descriptors}
        layout = json.dumps({"imageLayoutVersion": mt.OCI_LAYOUT_VERSION}).encode()
        fsops.write_atomic(os.path.join(self.path, LAYOUT_FILE), layout)
        fsops.write_atomic(os.path.join(self.path, INDEX_FILE), json.dumps(index, indent=1).encode() + b"\n")


def _ref(d: dict[str, Any]) -> str | None:
    notes = d.get("annotations")
    ref = notes.get(mt.REF_NAME) if isinstance(notes, dict) else None
    return ref if isinstance(ref, str) else None
