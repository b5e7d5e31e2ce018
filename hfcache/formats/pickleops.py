"""Follow a pickle's opcodes without running it: a symbolic stack machine that only records.

A pickle is a program; ``pickle.load`` runs it, and a hostile one runs any command. This never
does: it walks the opcodes (:mod:`pickletools`) and records what the program would build. An
imported global becomes an :class:`Import` marker, a call a :class:`Call` node, a
``persistent_id`` a :class:`Storage`. Nothing is ever looked up, imported or called, so no input
can make it run code; input it cannot follow is an ``error``, never an exception.
"""

from __future__ import annotations

import io
import pickletools
from dataclasses import dataclass, field
from typing import Any

MAX_PICKLE_BYTES = 256 * 1024 * 1024
MAX_OPS = 50_000_000


@dataclass(frozen=True)
class Import:
    """A global the pickle imports (``module.name``)."""

    module: str
    name: str

    @property
    def qualname(self) -> str:
        return f"{self.module}.{self.name}"


@dataclass(frozen=True)
class Call:
    """What ``REDUCE``/``NEWOBJ`` would have called, never called."""

    func: Any
    args: tuple[Any, ...]


@dataclass(frozen=True)
class Storage:
    """A ``persistent_id``: ``("storage", storage_type, key, location, numel)``."""

    storage_type: Any
    key: str
    location: str
    numel: int


@dataclass
class PickleScan:
    """What the opcodes say: every import, the object built (symbolically), and what went wrong."""

    imports: list[Import] = field(default_factory=list)
    value: Any = None
    error: str | None = None


class _Mark:
    pass


_MARK = _Mark()
_STRINGS = {
    "UNICODE",
    "BINUNICODE",
    "SHORT_BINUNICODE",
    "BINUNICODE8",
    "STRING",
    "BINSTRING",
    "SHORT_BINSTRING",
}
_NUMBERS = {"INT", "BININT", "BININT1", "BININT2", "LONG", "LONG1", "LONG4", "FLOAT", "BINFLOAT"}
_BYTES = {"BINBYTES", "SHORT_BINBYTES", "BINBYTES8", "BYTEARRAY8"}
_PUSH_ARG = _STRINGS | _NUMBERS | _BYTES
_CONSTANTS = {"NONE": None, "NEWTRUE": True, "NEWFALSE": False, "EMPTY_TUPLE": ()}
_TUPLE_SIZES = {"TUPLE1": 1, "TUPLE2": 2, "TUPLE3": 3}
_ORDERED_DICT = "collections.OrderedDict"


def _pop_mark(stack: list[Any]) -> list[Any]:
    for i in range(len(stack) - 1, -1, -1):
        if stack[i] is _MARK:
            items = stack[i + 1 :]
            del stack[i:]
            return items
    raise ValueError("MARK missing")


def _as(obj: Any, kind: type) -> Any:
    if not isinstance(obj, kind):
        raise ValueError(f"a {kind.__name__} operation on {type(obj).__name__}")
    return obj


def _hashable(key: Any) -> Any:
    try:
        hash(key)
    except TypeError:
        raise ValueError("an unhashable dict key") from None
    return key


def _storage(pid: Any) -> Any:
    # ("storage", type, key, location, numel), with a sixth field (view metadata) in legacy files
    if isinstance(pid, tuple) and len(pid) in (5, 6) and pid[0] == "storage":
        _, storage_type, key, location, numel = pid[:5]
        return Storage(storage_type, str(key), str(location), numel if isinstance(numel, int) else 0)
    return Call("persistent_id", (pid,))


def _containers(name: str, arg: Any, stack: list[Any]) -> bool:
    """Tuples, lists, dicts and what fills them; False if ``name`` is none of these."""
    if name in ("EMPTY_DICT", "EMPTY_LIST", "EMPTY_SET"):
        stack.append({} if name == "EMPTY_DICT" else [])
    elif name in ("TUPLE", *_TUPLE_SIZES):
        n = _TUPLE_SIZES.get(name)
        items = _pop_mark(stack) if n is None else [stack.pop() for _ in range(n)][::-1]
        stack.append(tuple(items))
    elif name in ("LIST", "DICT", "FROZENSET"):
        items = _pop_mark(stack)
        stack.append(dict(zip(items[::2], items[1::2], strict=True)) if name == "DICT" else list(items))
    elif name == "APPEND":
        value = stack.pop()
        _as(stack[-1], list).append(value)
    elif name in ("APPENDS", "ADDITEMS"):
        items = _pop_mark(stack)
        _as(stack[-1], list).extend(items)
    elif name == "SETITEM":
        value, key = stack.pop(), stack.pop()
        _as(stack[-1], dict)[_hashable(key)] = value
    elif name == "SETITEMS":
        items = _pop_mark(stack)
        target = _as(stack[-1], dict)
        for k, v in zip(items[::2], items[1::2], strict=True):
            target[_hashable(k)] = v
    else:
        return False
    return True


def _step(name: str, arg: Any, stack: list[Any], memo: dict[int, Any], out: PickleScan) -> bool:
    """Apply one opcode to the symbolic machine; True at STOP. Raises ValueError on anything else."""
    if name in _PUSH_ARG:
        stack.append(arg)
    elif name in _CONSTANTS:
        stack.append(_CONSTANTS[name])
    elif name in ("PROTO", "FRAME") or _containers(name, arg, stack):
        pass  # framing needs nothing; a container opcode was applied by _containers
    elif name == "MARK":
        stack.append(_MARK)
    elif name in ("PUT", "BINPUT", "LONG_BINPUT"):
        memo[int(arg)] = stack[-1]
    elif name == "MEMOIZE":
        memo[len(memo)] = stack[-1]
    elif name in ("GET", "BINGET", "LONG_BINGET"):
        stack.append(memo[int(arg)])
    elif name in ("GLOBAL", "INST"):
        module, _, attr = str(arg).partition(" ")
        out.imports.append(Import(module, attr))
        stack.append(out.imports[-1])
        if name == "INST":
            stack.append(Call(stack.pop(), tuple(_pop_mark(stack))))
    elif name == "STACK_GLOBAL":
        attr, module = stack.pop(), stack.pop()
        if not isinstance(module, str) or not isinstance(attr, str):
            raise ValueError("STACK_GLOBAL of something that is not two strings")
        out.imports.append(Import(module, attr))
        stack.append(out.imports[-1])
    elif name in ("REDUCE", "NEWOBJ"):
        args = stack.pop()
        func = stack.pop()
        if isinstance(func, Import) and func.qualname == _ORDERED_DICT and args in ((), []):
            stack.append({})  # a state_dict: an OrderedDict, filled by SETITEMS like a dict
        else:
            stack.append(Call(func, tuple(args) if isinstance(args, (tuple, list)) else (args,)))
    elif name == "NEWOBJ_EX":
        _, args, cls = stack.pop(), stack.pop(), stack.pop()
        stack.append(Call(cls, tuple(args)))
    elif name in ("BUILD", "POP"):
        stack.pop()  # BUILD's state is recorded nowhere and applied to nothing
    elif name in ("BINPERSID", "PERSID"):
        stack.append(_storage(stack.pop() if name == "BINPERSID" else tuple(str(arg).split())))
    elif name == "POP_MARK":
        _pop_mark(stack)
    elif name == "DUP":
        stack.append(stack[-1])
    elif name == "STOP":
        return True
    else:
        raise ValueError(f"opcode {name} is not one a checkpoint uses")
    return False


def scan_pickle(data: bytes | io.BytesIO) -> PickleScan:
    """Walk the opcodes of one pickle; never raises for bad input (``error`` says what was wrong).

    Given a stream, it stops right after the pickle's STOP, where a next pickle may begin.
    """
    out = PickleScan()
    stack: list[Any] = []
    memo: dict[int, Any] = {}
    if isinstance(data, bytes) and len(data) > MAX_PICKLE_BYTES:
        out.error = "the pickle is too large to scan"
        return out
    try:
        for count, (op, arg, _) in enumerate(pickletools.genops(data)):
            if count > MAX_OPS:
                raise ValueError("too many opcodes")
            if _step(op.name, arg, stack, memo, out):
                out.value = stack.pop() if stack else None
                return out
        raise ValueError("no STOP opcode")
    except (ValueError, IndexError, KeyError, TypeError, OverflowError) as e:
        out.error = f"cannot follow the pickle: {e}"
    return out
