"""The one result contract: what every command's library call returns.

A result knows its JSON document (``to_json``, without the envelope's ``schema_version``, which
the CLI's output sink adds) and its exit status, derived from what it holds. The CLI renders a
result for people or prints its document; it never builds JSON or decides an exit status itself.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from typing import Any, Protocol, overload

EXIT_OK = 0
"""Clean: nothing wrong (after the repair, with ``--fix``), or the work was done."""
EXIT_PROBLEMS = 1
"""Problems found or left, a refusal, or a failure met while working."""
EXIT_BAD_INPUT = 2
"""The input cannot be used: no such path, not a cache, a bad option value."""


class Result(Protocol):
    """What a command's library call returns."""

    def to_json(self) -> dict[str, Any]:
        """The command's JSON document (data only; the CLI adds ``schema_version``)."""
        ...

    @property
    def exit_code(self) -> int:
        """:data:`EXIT_OK` or :data:`EXIT_PROBLEMS`, from what the result holds."""
        ...


class JsonArray(Sequence[Any]):
    """A long JSON array of a document, made item by item as the output sink writes it: the
    400,000 tensors of a checkpoint need not exist as dicts all at once. It is a sequence of the
    converted items and compares equal to the list it stands for."""

    def __init__(self, items: Sequence[Any], convert: Callable[[Any], Any]) -> None:
        self._items, self._convert = items, convert

    def __len__(self) -> int:
        return len(self._items)

    def __iter__(self) -> Iterator[Any]:
        return map(self._convert, self._items)

    @overload
    def __getitem__(self, index: int) -> Any: ...
    @overload
    def __getitem__(self, index: slice) -> list[Any]: ...
    def __getitem__(self, index: int | slice) -> Any:
        if isinstance(index, slice):
            return [self._convert(x) for x in self._items[index]]
        return self._convert(self._items[index])

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Sequence) or isinstance(other, str):
            return NotImplemented
        return len(self) == len(other) and all(a == b for a, b in zip(self, other, strict=True))

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"JsonArray({len(self)} items)"
