"""What a symbolic pickle scan records and builds, in place of what ``pickle.load`` would make.

Kept apart from the machine that builds them: the torch readers walk these values (imports to
judge, calls that rebuild tensors, storages) without needing anything of the decoder.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True, slots=True)
class Import:
    """A global the pickle imports (``module.name``), as the pickle writes it."""

    module: str
    name: str

    @property
    def qualname(self) -> str:
        return f"{self.module}.{self.name}"


class Call:
    """What ``REDUCE``/``NEWOBJ``/``INST``/``OBJ`` would have called, never called; ``state``
    is what a ``BUILD`` would have given it. Compared and hashed by identity: a pickle can nest
    values deeper than any recursive comparison survives."""

    __slots__ = ("args", "func", "state")

    def __init__(self, func: Any, args: tuple[Any, ...]) -> None:
        self.func = func
        self.args = args
        self.state: Any = None


@dataclass(frozen=True, eq=False, slots=True)
class Storage:
    """A ``persistent_id``: ``("storage", storage_type, key, location, numel)``."""

    storage_type: Any
    key: str
    location: str
    numel: int


class Key:
    """A dict key that is not a plain value (a tuple, an object): kept by identity, never
    hashed or compared by content."""

    __slots__ = ("value",)

    def __init__(self, value: Any) -> None:
        self.value = value


@dataclass
class PickleScan:
    """What the opcodes say: every import, the object built (symbolically), and what went wrong.

    ``ambiguous``: the pickle is framed so that readers decode different programs from it.
    ``end``: bytes read, the STOP included (where a next pickle in the stream begins).
    """

    imports: list[Import] = field(default_factory=list)
    value: Any = None
    error: str | None = None
    ambiguous: bool = False
    end: int = 0
    proto: int = 0
