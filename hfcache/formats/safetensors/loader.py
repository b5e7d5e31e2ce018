"""The safetensors loader's limits and its reasons for refusing a file.

Both come from the Rust crate's ``safetensors/src/tensor.rs``: ``MAX_HEADER_SIZE``, the ``usize``
its shapes and offsets are read in, and the ``SafeTensorError`` variants. Every module of this
package judges a header by these, so that a refusal names the reason ``safe_open`` would give
(:attr:`HeaderError.kind`) and ``tests/test_safetensors_loader.py`` can check it against the
installed loader.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

LOADER_MAX_HEADER_LENGTH: Final = 100_000_000
"""``MAX_HEADER_SIZE``: ``SafeTensors::read_metadata`` refuses a header length above it.

hfcache applies this limit, not huggingface_hub's ``SAFETENSORS_MAX_HEADER_LENGTH`` (25 MB, in
:mod:`hfcache._hf`), because it judges local files as ``safe_open`` loads them; the hub's limit
bounds only ``get_safetensors_metadata``, which reads a remote file's header over HTTP."""

USIZE_MAX: Final = 2**64 - 1
"""Shapes and offsets are ``usize`` (64-bit platforms); products are ``checked_mul`` in it."""

# Why a file is refused: the loader's SafeTensorError variants (tensor.rs), plus UNREADABLE for
# what is not the loader's to judge (no regular file, an I/O error).
TOO_SMALL: Final = "header-too-small"  # HeaderTooSmall: fewer than the 8 length bytes
TOO_LARGE: Final = "header-too-large"  # HeaderTooLarge: length above LOADER_MAX_HEADER_LENGTH
BAD_LENGTH: Final = "header-length"  # InvalidHeaderLength: the header runs past the end of the file
NOT_UTF8: Final = "header-not-utf8"  # InvalidHeader: the header is not UTF-8
BAD_JSON: Final = "header-json"  # InvalidHeaderDeserialization: JSON syntax, types, dtypes, duplicates
BAD_OFFSETS: Final = "offsets"  # InvalidOffset: offsets not contiguous from 0, or end before begin
OVERFLOW: Final = "overflow"  # ValidationOverflow: shape product or its bits overflow usize
MISALIGNED: Final = "misaligned"  # MisalignedSlice: a sub-byte dtype's bits do not fill whole bytes
SIZE_MISMATCH: Final = "size-mismatch"  # TensorInvalidInfo: offsets span other than shape x dtype
NOT_COVERED: Final = "not-covered"  # MetadataIncompleteBuffer: data is not exactly the rest of the file
UNREADABLE: Final = "unreadable"
LOADER_KINDS: Final = (
    TOO_SMALL, TOO_LARGE, BAD_LENGTH, NOT_UTF8, BAD_JSON, BAD_OFFSETS, OVERFLOW, MISALIGNED,
    SIZE_MISMATCH, NOT_COVERED,
)  # fmt: skip


@dataclass(frozen=True)
class HeaderError:
    """Why a header or index could not be used; ``kind`` is the loader's reason (``LOADER_KINDS``)
    or :data:`UNREADABLE`."""

    reason: str
    kind: str = UNREADABLE


class Invalid(Exception):
    """Internal: carries a reason and its kind up to the public function that returns HeaderError."""

    def __init__(self, reason: str, kind: str = UNREADABLE) -> None:
        super().__init__(reason)
        self.kind = kind


def json_error(reason: str) -> Invalid:
    """A refusal of the header's JSON (serde's ``InvalidHeaderDeserialization``)."""
    return Invalid(reason, BAD_JSON)
