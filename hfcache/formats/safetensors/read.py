"""Read a safetensors file's header from disk, never its tensor data.

Only the 8 length bytes and the header are read, and the header's bytes are let go before its
tensors are parsed; the file's size then tells whether the data is all there, so a truncated
multi-GB download is spotted without reading it. :func:`read_checked` is the verdict
``safe_open(path)`` reaches.
"""

from __future__ import annotations

import os

from hfcache.formats.safetensors.fileio import describe, open_file, read_exact, read_into
from hfcache.formats.safetensors.header import Header
from hfcache.formats.safetensors.loader import BAD_LENGTH, HeaderError, Invalid
from hfcache.formats.safetensors.parse import decode, header_length, parse_json


def read_header(path: str | os.PathLike[str], *, follow_symlinks: bool = False) -> Header | HeaderError:
    """Read and validate the header of the safetensors file at ``path``.

    Reads 8 bytes plus the header, nothing more.  A header longer than the file is
    reported as such; whether the tensor data is exactly the rest of the file is
    :meth:`Header.coverage_error` (:func:`read_checked` applies it).
    """
    try:
        fd = open_file(path, follow_symlinks)
        try:
            size = os.fstat(fd).st_size
            head = read_exact(fd, 8)
            length = header_length(head)
            if 8 + length > size:
                raise Invalid(
                    f"header length {length} points past the end of the {size} byte file", BAD_LENGTH
                )
            raw = read_into(fd, length)
            if len(raw) < length:
                raise Invalid(
                    f"header is truncated: needs {length} bytes, only {len(raw)} present", BAD_LENGTH
                )
            text = decode(raw)
            del raw  # the header's bytes go before its tensors are read
            return parse_json(text, 8 + length)
        finally:
            os.close(fd)
    except Invalid as exc:
        return HeaderError(str(exc), exc.kind)
    except OSError as exc:
        return HeaderError(describe(exc, follow_symlinks))


def read_checked(path: str | os.PathLike[str], *, follow_symlinks: bool = False) -> Header | HeaderError:
    """:func:`read_header` and the loader's last rule: the verdict ``safe_open(path)`` reaches."""
    header = read_header(path, follow_symlinks=follow_symlinks)
    if isinstance(header, HeaderError):
        return header
    try:
        size = os.stat(path, follow_symlinks=follow_symlinks).st_size
    except OSError as exc:
        return HeaderError(describe(exc, follow_symlinks))
    return header.coverage_error(size) or header
