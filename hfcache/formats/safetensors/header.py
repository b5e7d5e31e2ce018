"""A validated safetensors header as hfcache holds it: its tensors, metadata and data start.

The tensors are kept flat (:class:`TensorTable`) so that a header of 400,000 tensors costs about
its own size in memory, not several times it; each is handed out as a :class:`TensorInfo` when
asked for.
"""

from __future__ import annotations

from array import array
from collections.abc import Iterator, Mapping
from dataclasses import dataclass

from hfcache.formats.safetensors.dtypes import DTYPE_NAMES
from hfcache.formats.safetensors.loader import NOT_COVERED, HeaderError


@dataclass(frozen=True)
class TensorInfo:
    """One tensor's entry: ``begin``/``end`` are byte offsets relative to the data start."""

    dtype: str
    shape: tuple[int, ...]
    begin: int
    end: int


class TensorTable(Mapping[str, TensorInfo]):
    """Tensor name -> :class:`TensorInfo`, stored flat: a dict of names to rows, and per row a
    dtype code, a shape (each distinct shape stored once) and the two offsets in arrays.

    The underscored fields belong to this package: the header reader fills them
    (:mod:`~hfcache.formats.safetensors.entries`) and the validation reads them
    (:mod:`~hfcache.formats.safetensors.parse`)."""

    __slots__ = ("_begin", "_dtype", "_end", "_rows", "_shape", "_shapes", "data_len")

    def __init__(self) -> None:
        self._rows: dict[str, int] = {}
        self._dtype = bytearray()
        self._shape = array("I")
        self._shapes: list[tuple[int, ...]] = []
        self._begin = array("Q")
        self._end = array("Q")
        self.data_len = 0
        """Bytes of tensor data (the last tensor's end), once validated."""

    def _put(self, name: str, dtype: int, shape: int, begin: int, end: int) -> None:
        row = self._rows.get(name)
        if row is None:  # a name given twice keeps its first place and its last entry, as the
            self._rows[name] = len(self._dtype)  # loader's HashMap does (the last one wins)
            self._dtype.append(dtype)
            self._shape.append(shape)
            self._begin.append(begin)
            self._end.append(end)
        else:
            self._dtype[row], self._shape[row], self._begin[row], self._end[row] = dtype, shape, begin, end

    def __getitem__(self, name: str) -> TensorInfo:
        row = self._rows[name]
        shape = self._shapes[self._shape[row]]
        return TensorInfo(DTYPE_NAMES[self._dtype[row]], shape, self._begin[row], self._end[row])

    def __contains__(self, name: object) -> bool:
        return name in self._rows

    def __iter__(self) -> Iterator[str]:
        return iter(self._rows)

    def __len__(self) -> int:
        return len(self._rows)

    def __repr__(self) -> str:
        return f"TensorTable({dict(self)!r})" if len(self) <= 8 else f"<TensorTable of {len(self)} tensors>"


@dataclass(frozen=True)
class Header:
    """A validated safetensors header."""

    tensors: Mapping[str, TensorInfo]
    metadata: dict[str, str]
    data_start: int  # 8 + header length

    @property
    def data_bytes(self) -> int:
        """Bytes of tensor data the header describes (validated: the tensors cover them exactly)."""
        if isinstance(self.tensors, TensorTable):
            return self.tensors.data_len
        return max((t.end for t in self.tensors.values()), default=0)

    @property
    def expected_size(self) -> int:
        """Bytes the file must have: the data start plus the last tensor's end."""
        return self.data_start + self.data_bytes

    def coverage_error(self, file_size: int) -> HeaderError | None:
        """The loader's last rule (``read_metadata``: ``buffer_end + N_LEN + n != buffer_len``):
        the tensor data must be exactly the rest of the file, not shorter, not longer."""
        expected = self.expected_size
        if file_size < expected:
            return HeaderError(f"truncated: {file_size} bytes, but the header needs {expected}", NOT_COVERED)
        if file_size > expected:
            extra = file_size - expected
            return HeaderError(
                f"{extra} bytes after the tensor data (the header covers {expected})", NOT_COVERED
            )
        return None
