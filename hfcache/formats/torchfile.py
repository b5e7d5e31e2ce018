"""torch checkpoints (``.bin``, ``.pt``, ``.pth``) read without torch and without unpickling.

Which pickles are read is what ``torch.load`` would run, decided as ``torch/serialization.py``
decides it:

- a file whose first four bytes are a zip local header (``PK\\x03\\x04``, torch's
  ``_is_zipfile``) is the zip ``torch.save`` writes: ``<root>/data.pkl``, where ``<root>`` is
  the folder of the zip's first member (as torch's ``PyTorchFileReader`` finds it). A zip
  that holds ``<root>/constants.pkl`` is a TorchScript archive, which ``torch.load`` hands to
  ``torch.jit.load``: that runs the archive's TorchScript code;
- anything else is the legacy format: first the tar layout of torch before 0.4 (``tarfile``
  opens it), else the pickles in a row: magic number, protocol, system info, the object, the
  storage keys; then each storage's element count and bytes. Every pickle torch would run on
  that path is followed, up to the first one that stops torch. A file with a pickle in front
  and a zip behind is judged by the pickle (torch never looks at the zip);
- :func:`read_pickle_file`: a raw pickle (``pickle.load`` runs its first pickle).

Every global a pickle imports is judged against the set torch's ``weights_only`` unpickler
accepts, after the renames it applies to protocol 2 names (:mod:`hfcache.formats.torchallow`).
Anything else is unsafe, and nothing more is read from such a file. For a file that passes:
every tensor wherever the structure holds it (a bare tensor, lists, tuples, nested dicts as in
training checkpoints), named by its path, with its storage checked against the bytes the file
holds (:mod:`hfcache.formats.torchtensors`).

This module decides which reader a file gets; the readers are :mod:`hfcache.formats.torchzip`
(zip and TorchScript) and :mod:`hfcache.formats.torchlegacy` (legacy pickles and tar), and
every one returns a :class:`~hfcache.formats.torchresult.TorchFile`.
"""

from __future__ import annotations

import os
from typing import IO, BinaryIO

from hfcache.formats.pickleread.scan import scan_pickle
from hfcache.formats.regular import open_regular
from hfcache.formats.torchlegacy import is_tar, read_legacy, read_tar
from hfcache.formats.torchresult import TorchFile, judge
from hfcache.formats.torchtensors import TensorInfo
from hfcache.formats.torchzip import read_zip

__all__ = ["TensorInfo", "TorchFile", "read_pickle_file", "read_pickle_stream", "read_torch_file"]
"""The library API (docs/library.md): the readers, and the types they return."""


# -- the file, as torch.load decides what it is
def read_torch_file(path: str) -> TorchFile:
    """Scan a torch checkpoint as ``torch.load`` would read it (see the module's text)."""
    with open_regular(path) as f:
        head = f.read(4)
        f.seek(0)
        if head == b"PK\x03\x04":
            return read_zip(f)
        if is_tar(f):
            return read_tar(f)
        f.seek(0)
        return read_legacy(f, os.fstat(f.fileno()).st_size)


MAX_STACKED = 16
"""Pickles read one after another from a raw pickle file (a second ``pickle.load`` on the same
file, as joblib and hand-written loaders do, runs the next one)."""


def read_pickle_file(path: str) -> TorchFile:
    """A raw pickle (``.pkl``, ``.pickle``, ``.dill``, ``.joblib``...): the first pickle, as
    ``pickle.load`` runs it, whatever its first byte (protocols 0 and 1 have no header).

    Pickles stacked after it are followed too, and what they import counts: ``pickle.load``
    reads one, but a loader that calls it again runs the next. Bytes after the last pickle that
    do not read as one are data (``pickle.load`` never looks at them), not an error.
    """
    with open_regular(path) as f:
        first = scan_pickle(f)
        scans = [first]
        while first.error is None and len(scans) < MAX_STACKED and _more(f):
            more = scan_pickle(f)
            scans.append(more)
            if more.error is not None:
                more.error = None if not more.ambiguous else more.error
                break
    return judge("pickle", scans, [])


def _more(f: BinaryIO) -> bool:
    """Do bytes follow where ``f`` stands?"""
    if not f.read(1):
        return False
    f.seek(-1, os.SEEK_CUR)
    return True


def read_pickle_stream(f: BinaryIO | IO[bytes], fmt: str) -> TorchFile:
    """The pickle that starts where ``f`` stands (in a ``.npy`` file, after its header)."""
    return judge(fmt, [scan_pickle(f)], [])  # type: ignore[arg-type]
