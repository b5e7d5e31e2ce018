"""Read safetensors headers and checkpoint index files, never the tensor data.

A safetensors file is an 8-byte little-endian header length ``N``, ``N`` bytes of UTF-8
JSON, then the tensor bytes.  Reading just the header tells how long the file must be, so
a truncated multi-GB download is spotted without reading it.

The header is judged as the safetensors loader judges it: the Rust crate's
``SafeTensors::read_metadata`` (``safetensors/src/tensor.rs``), which ``safe_open``,
``load_file`` and transformers' ``from_pretrained`` all go through.  Each rule names the
part of that file it comes from; ``tests/test_safetensors_loader.py`` checks every one against
the installed loader, file by file.  A file hfcache accepts is one the loader opens; a file it
refuses carries the loader's reason (:attr:`HeaderError.kind`).

The header is parsed one tensor entry at a time into flat arrays (:class:`TensorTable`), so a
header of 400,000 tensors costs about its own size in memory, not several times it.

Nothing here raises on bad content or I/O trouble: problems come back as
:class:`HeaderError` with a plain-English reason.

The package, from the bottom up:

- :mod:`.loader`: the loader's limits and refusal reasons (``HeaderError.kind``);
- :mod:`.dtypes`: the loader's dtype table;
- :mod:`.header`: :class:`Header`, :class:`TensorTable`, :class:`TensorInfo`;
- :mod:`.serdejson`: JSON read as serde_json reads it;
- :mod:`.entries`: the header's entries read as serde's derive reads them;
- :mod:`.parse`: bytes judged as ``read_metadata`` judges them (``Metadata::validate``);
- :mod:`.fileio`, :mod:`.read`: a file's header read from disk;
- :mod:`.index`: sharded checkpoints' ``*.index.json``.

This module gives the library API (``docs/library.md``): the read and parse functions and the
types they return. Everything else (the refusal kinds, the dtype table) is imported from its
module.
"""

from __future__ import annotations

from hfcache.formats.safetensors.header import Header, TensorInfo
from hfcache.formats.safetensors.index import CheckpointIndex, parse_index, read_index
from hfcache.formats.safetensors.loader import HeaderError
from hfcache.formats.safetensors.parse import parse_header, read_metadata
from hfcache.formats.safetensors.read import read_checked, read_header

__all__ = [
    "CheckpointIndex",
    "Header",
    "HeaderError",
    "TensorInfo",
    "parse_header",
    "parse_index",
    "read_checked",
    "read_header",
    "read_index",
    "read_metadata",
]
