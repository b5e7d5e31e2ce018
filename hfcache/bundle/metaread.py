"""A bundle's metadata members (manifest, tree listings, refs) read from its tar, bounded.

Each is refused by its header when larger than :data:`MAX_MANIFEST_BYTES`, before a byte of it
is read, and is read a step at a time (one read of a large member from a pipe holds it three
times over in ``tarfile``).
"""

from __future__ import annotations

import codecs
import hashlib
import tarfile
from collections.abc import Iterator

from hfcache.bundle.manifest import MAX_MANIFEST_BYTES
from hfcache.bundle.shortfall import CutShortError
from hfcache.errors import BundleError

_READ_STEP = 1 << 20


def _pieces(tf: tarfile.TarFile, ti: tarfile.TarInfo, what: str) -> Iterator[bytes]:
    """A member that is not a blob (the manifest, a tree listing, a ref), a step at a time: at
    most :data:`MAX_MANIFEST_BYTES` (one read of a large member from a pipe holds it three times
    over in ``tarfile``)."""
    if ti.size > MAX_MANIFEST_BYTES:
        raise BundleError(f"bundle member {ti.name!r} is {ti.size} bytes, more than any bundle metadata")
    f = tf.extractfile(ti)
    if f is None:
        raise BundleError(f"cannot read bundle member {ti.name!r}")
    done = 0
    while done < ti.size and (chunk := f.read(min(_READ_STEP, ti.size - done))):
        yield chunk
        done += len(chunk)
    if done != ti.size:
        raise CutShortError(f"the bundle is cut short inside {what}")


def read_small(tf: tarfile.TarFile, ti: tarfile.TarInfo, what: str) -> bytearray:
    """A metadata member whole, read into one buffer."""
    data = bytearray(ti.size)
    done = 0
    for chunk in _pieces(tf, ti, what):
        data[done : done + len(chunk)] = chunk
        done += len(chunk)
    return data


def read_text(tf: tarfile.TarFile, ti: tarfile.TarInfo, what: str) -> tuple[str, str]:
    """The manifest's text and the sha256 of its bytes, the bytes never held whole beside the
    text (an ASCII text grows in place)."""
    sha = hashlib.sha256()
    decoder = codecs.getincrementaldecoder("utf-8")()
    text = ""
    try:
        for chunk in _pieces(tf, ti, what):
            sha.update(chunk)
            text += decoder.decode(chunk)
        text += decoder.decode(b"", final=True)
    except UnicodeDecodeError as e:
        raise BundleError(f"not a valid hfcache bundle manifest: {e}") from None
    return text, sha.hexdigest()
