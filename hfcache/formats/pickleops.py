"""Follow a pickle's opcodes without running it: a symbolic stack machine that only records.

A pickle is a program; ``pickle.load`` runs it, and a hostile one runs any command. This never
does: it decodes the opcodes itself and records what the program would build. An imported
global becomes an :class:`Import` marker, a call a :class:`Call` node, a ``persistent_id`` a
:class:`Storage`. Nothing is ever looked up, imported or called, so no input can make it run
code; input it cannot follow is an ``error``, never an exception.

What is decoded is what CPython's C unpickler (``_pickle.c``, the one ``torch.load`` and
``pickle.load`` use) executes, not what :func:`pickletools.genops` lists. The two differ on
framing: the C unpickler reads a whole ``FRAME`` into its buffer, and an opcode or argument
that runs past the frame's end is read from the bytes *after* the frame (from a file), the rest
of the frame being dropped; ``genops`` and the pure-Python unpicklers read straight on. A pickle
can use that to show one program to a scanner and run another. So here an opcode, an argument
or a line that crosses a frame end, a ``FRAME`` inside an unfinished frame, or a ``STOP`` before
its frame ends is an error with ``ambiguous`` set: no reader can say what that pickle runs.
Text arguments are parsed as ``_pickle.c`` parses them (``GLOBAL`` lines as UTF-8, ``INST`` as
ASCII, no escapes); forms the C code would read differently from Python are refused.

The stack keeps MARK as a sentinel where ``_pickle.c`` keeps a separate mark stack with a
fence; any opcode that would consume a mark as a value is refused (the C unpickler refuses it as
"unexpected MARK", or does something no pickler writes). Work is bounded: opcodes, bytes,
argument and line sizes, memo entries and the items held are all limited.
"""

from __future__ import annotations

import codecs
import io
import re
import struct
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, BinaryIO, TypeAlias

MAX_PICKLE_BYTES = 64 * 1024 * 1024
"""Most bytes one pickle may take (a state dict of 400,000 tensors takes about 40 MB)."""
MAX_OPS = 2_000_000
MAX_ITEMS = 2_000_000
"""Most values held at once, in containers, on the stack and in the memo together."""
MAX_LINE = 16 * 1024 * 1024
"""Longest text argument (protocol 0 strings can be long; a long line is also how a pickle pushes
its hidden part past the C unpickler's read buffer, so it must be followed, not given up on)."""
HIGHEST_PROTOCOL = 5


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


class _Mark:
    __slots__ = ()


_MARK = _Mark()
_PLAIN_KEYS = (str, int, float, bytes, bool, type(None))


class _Bad(Exception):
    pass


class _Ambiguous(_Bad):
    pass


class _Source:
    """Bytes read as the C unpickler reads them, FRAME boundaries enforced."""

    def __init__(self, f: BinaryIO, limit: int) -> None:
        self.f = f
        self.pos = 0
        self.limit = limit
        self.frame_end: int | None = None

    def read(self, n: int) -> bytes:
        if n > self.limit - self.pos:
            raise _Bad(f"the pickle is larger than {self.limit} bytes, or an argument says it is")
        if self.frame_end is not None and self.pos + n > self.frame_end:
            raise _Ambiguous("an opcode or argument runs past the end of its FRAME")
        data = self.f.read(n)
        if len(data) < n:
            raise _Bad("the pickle ends early (truncated)")
        self._advance(n)
        return data

    def readline(self) -> bytes:
        room = min(MAX_LINE, self.limit - self.pos)
        if self.frame_end is not None:
            room = min(room, self.frame_end - self.pos)
        line = self.f.readline(room)
        if not line.endswith(b"\n"):
            if self.frame_end is not None and len(line) == self.frame_end - self.pos:
                raise _Ambiguous("a text argument runs past the end of its FRAME")
            raise _Bad("a text argument has no end of line (truncated, or too long)")
        self._advance(len(line))
        return line

    def _advance(self, n: int) -> None:
        self.pos += n
        if self.pos == self.frame_end:
            self.frame_end = None

    def frame(self, length: int) -> None:
        if self.frame_end is not None:
            raise _Ambiguous("a FRAME begins before the previous one ends")
        if length > self.limit - self.pos:
            raise _Bad("a FRAME is longer than the pickle")
        if length:
            self.frame_end = self.pos + length


_INT_LINE = re.compile(rb"-?(0|[1-9][0-9]*)\n")
_LONG_LINE = re.compile(rb"-?(0|[1-9][0-9]*)L?\n")
_INDEX_LINE = re.compile(rb"[0-9]+\n")
_FLOAT_LINE = re.compile(rb"[-+]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][-+]?[0-9]+)?\n|[-+]?(inf|nan)\n")


def _u(data: bytes) -> int:
    return int.from_bytes(data, "little")


def _text(data: bytes, encoding: str, errors: str = "strict") -> str:
    try:
        return data.decode(encoding, errors)
    except UnicodeDecodeError:
        raise _Bad(f"a string that is not {encoding}") from None


class _Machine:
    """The symbolic unpickler: a stack, a memo, and the record of what was imported."""

    def __init__(self, src: _Source, out: PickleScan) -> None:
        self.src = src
        self.out = out
        self.stack: list[Any] = []
        self.memo: dict[int, Any] = {}
        self.items = 0
        self.last = 0

    # -- the stack, with MARK as a sentinel no value-taking opcode may consume
    def push(self, value: Any) -> None:
        self.stack.append(value)

    def pop(self) -> Any:
        if not self.stack or self.stack[-1] is _MARK:
            raise _Bad("stack underflow (or a MARK where a value belongs)")
        return self.stack.pop()

    def top(self) -> Any:
        if not self.stack or self.stack[-1] is _MARK:
            raise _Bad("stack underflow (or a MARK where a value belongs)")
        return self.stack[-1]

    def pop_mark(self) -> list[Any]:
        stack = self.stack
        for i in range(len(stack) - 1, -1, -1):
            if stack[i] is _MARK:
                items = stack[i + 1 :]
                del stack[i:]
                return items
        raise _Bad("no MARK for an opcode that needs one")

    def count(self, n: int) -> None:
        self.items += n
        if self.items > MAX_ITEMS:
            raise _Bad(f"more than {MAX_ITEMS} values: too large to follow")

    def key(self, key: Any) -> Any:
        return key if isinstance(key, _PLAIN_KEYS) else Key(key)

    def target(self, kind: type) -> Any:
        obj = self.top()
        if not isinstance(obj, kind):
            raise _Bad(f"a {kind.__name__} operation on something that is not one")
        return obj

    def set_items(self, target: dict[Any, Any], items: list[Any]) -> None:
        if len(items) % 2:
            raise _Bad("an odd number of items for a dict")
        for i in range(0, len(items), 2):
            target[self.key(items[i])] = items[i + 1]

    def record(self, module: str, name: str) -> Import:
        imp = Import(module, name)
        self.out.imports.append(imp)
        self.count(2)  # an import costs as much as three values
        if len(self.out.imports) > 100_000:
            raise _Bad("more than 100000 imports")
        return imp

    def line(self) -> bytes:
        return self.src.readline()

    def name_line(self, encoding: str) -> str:
        line = self.src.readline()
        if len(line) < 2:
            raise _Bad("an empty name in GLOBAL or INST")
        return _text(line[:-1], encoding)

    def run(self) -> Any:
        src, ops = self.src, 0
        while True:
            ops += 1
            if ops > MAX_OPS:
                raise _Bad(f"more than {MAX_OPS} opcodes: too large to follow")
            code = src.read(1)[0]
            if code == 0x2E:  # STOP
                if src.frame_end is not None:
                    raise _Ambiguous("STOP before the end of its FRAME")
                return self.pop()
            handler = _HANDLERS.get(code)
            if handler is None:
                raise _Bad(f"opcode {code:#04x} is not one the unpickler knows, or one it cannot run here")
            self.last = code
            handler(self)
            if len(self.stack) > MAX_ITEMS:
                raise _Bad("the stack is too deep to follow")


_Handler: TypeAlias = Callable[[_Machine], None]


def _op(codes: str) -> Callable[[_Handler], _Handler]:
    def register(fn: _Handler) -> _Handler:
        for c in codes.encode("latin-1"):
            _HANDLERS[c] = fn
        return fn

    return register


_HANDLERS: dict[int, _Handler] = {}


# -- protocol and framing
@_op("\x80")
def _proto(m: _Machine) -> None:
    proto = m.src.read(1)[0]
    if proto > HIGHEST_PROTOCOL:
        raise _Bad(f"unsupported pickle protocol {proto}")
    m.out.proto = proto


@_op("\x95")
def _frame(m: _Machine) -> None:
    m.src.frame(_u(m.src.read(8)))


# -- constants and numbers
@_op("N")
def _none(m: _Machine) -> None:
    m.push(None)


@_op("\x88\x89")
def _bool(m: _Machine) -> None:
    m.push(m.last == 0x88)


@_op("I")
def _int(m: _Machine) -> None:
    line = m.line()
    if line in (b"00\n", b"01\n"):
        m.push(line == b"01\n")
    elif _INT_LINE.fullmatch(line):
        m.push(int(line))
    else:
        raise _Bad("an INT argument in a form hfcache does not read")


@_op("L")
def _long(m: _Machine) -> None:
    line = m.line()
    if not _LONG_LINE.fullmatch(line):
        raise _Bad("a LONG argument in a form hfcache does not read")
    m.push(int(line.rstrip(b"L\n")))


@_op("F")
def _float(m: _Machine) -> None:
    line = m.line()
    if not _FLOAT_LINE.fullmatch(line):
        raise _Bad("a FLOAT argument in a form hfcache does not read")
    m.push(float(line))


@_op("J")
def _binint(m: _Machine) -> None:
    m.push(int.from_bytes(m.src.read(4), "little", signed=True))


@_op("K")
def _binint1(m: _Machine) -> None:
    m.push(m.src.read(1)[0])


@_op("M")
def _binint2(m: _Machine) -> None:
    m.push(_u(m.src.read(2)))


@_op("\x8a")
def _long1(m: _Machine) -> None:
    n = m.src.read(1)[0]
    m.push(int.from_bytes(m.src.read(n), "little", signed=True))


@_op("\x8b")
def _long4(m: _Machine) -> None:
    n = int.from_bytes(m.src.read(4), "little", signed=True)
    if n < 0:
        raise _Bad("LONG4 with a negative byte count")
    if n > 1 << 16:
        raise _Bad("an integer too large to follow")
    m.push(int.from_bytes(m.src.read(n), "little", signed=True))


@_op("G")
def _binfloat(m: _Machine) -> None:
    m.push(struct.unpack(">d", m.src.read(8))[0])


# -- strings and bytes
@_op("S")
def _string(m: _Machine) -> None:
    line = m.line()[:-1]
    if len(line) < 2 or line[0] != line[-1] or line[:1] not in (b"'", b'"'):
        raise _Bad("a STRING argument that is not quoted")
    try:
        raw = codecs.escape_decode(line[1:-1])[0]
    except ValueError:
        raise _Bad("a STRING argument with a bad escape") from None
    m.push(_text(raw, "utf-8"))


@_op("T")
def _binstring(m: _Machine) -> None:
    m.push(_text(m.src.read(_u(m.src.read(4))), "utf-8"))


@_op("U")
def _short_binstring(m: _Machine) -> None:
    m.push(_text(m.src.read(m.src.read(1)[0]), "utf-8"))


@_op("V")
def _unicode(m: _Machine) -> None:
    m.push(_text(m.line()[:-1], "raw_unicode_escape"))


@_op("X")
def _binunicode(m: _Machine) -> None:
    m.push(_text(m.src.read(_u(m.src.read(4))), "utf-8", "surrogatepass"))


@_op("\x8c")
def _short_binunicode(m: _Machine) -> None:
    m.push(_text(m.src.read(m.src.read(1)[0]), "utf-8", "surrogatepass"))


@_op("\x8d")
def _binunicode8(m: _Machine) -> None:
    m.push(_text(m.src.read(_u(m.src.read(8))), "utf-8", "surrogatepass"))


@_op("B")
def _binbytes(m: _Machine) -> None:
    m.push(m.src.read(_u(m.src.read(4))))


@_op("C")
def _short_binbytes(m: _Machine) -> None:
    m.push(m.src.read(m.src.read(1)[0]))


@_op("\x8e\x96")
def _binbytes8(m: _Machine) -> None:
    m.push(m.src.read(_u(m.src.read(8))))


# -- containers
@_op(")")
def _empty_tuple(m: _Machine) -> None:
    m.push(())


@_op("]\x8f")
def _empty_list(m: _Machine) -> None:
    m.push([])  # a set (0x8f) is kept as a list: only its items matter here


@_op("}")
def _empty_dict(m: _Machine) -> None:
    m.push({})


@_op("(")
def _mark(m: _Machine) -> None:
    m.push(_MARK)


@_op("t")
def _tuple(m: _Machine) -> None:
    m.push(tuple(m.pop_mark()))


@_op("\x85\x86\x87")
def _tuple_n(m: _Machine) -> None:
    items = [m.pop() for _ in range(m.last - 0x84)]
    m.push(tuple(reversed(items)))


@_op("l\x91")
def _list(m: _Machine) -> None:
    m.push(m.pop_mark())  # LIST, and FROZENSET kept as a list


@_op("d")
def _dict(m: _Machine) -> None:
    d: dict[Any, Any] = {}
    m.set_items(d, m.pop_mark())
    m.push(d)


@_op("a")
def _append(m: _Machine) -> None:
    value = m.pop()
    m.target(list).append(value)
    m.count(1)


@_op("e\x90")
def _appends(m: _Machine) -> None:
    items = m.pop_mark()
    if items:
        m.target(list).extend(items)
        m.count(len(items))
    else:
        m.top()


@_op("s")
def _setitem(m: _Machine) -> None:
    value = m.pop()
    key = m.pop()
    m.target(dict)[m.key(key)] = value
    m.count(1)


@_op("u")
def _setitems(m: _Machine) -> None:
    items = m.pop_mark()
    if items:
        m.set_items(m.target(dict), items)
        m.count(len(items))
    else:
        m.top()


# -- stack and memo
@_op("0")
def _pop(m: _Machine) -> None:
    if not m.stack:
        raise _Bad("stack underflow")
    m.stack.pop()  # a MARK on top is popped like a value, as _pickle.c does


@_op("1")
def _pop_mark(m: _Machine) -> None:
    m.pop_mark()


@_op("2")
def _dup(m: _Machine) -> None:
    m.push(m.top())


def _put(m: _Machine, index: int) -> None:
    if index not in m.memo:
        m.count(1)
    m.memo[index] = m.top()


def _get(m: _Machine, index: int) -> None:
    if index not in m.memo:
        raise _Bad("a memo entry read before it is written")
    m.push(m.memo[index])


@_op("p")
def _put_text(m: _Machine) -> None:
    line = m.line()
    if not _INDEX_LINE.fullmatch(line):
        raise _Bad("a PUT argument in a form hfcache does not read")
    _put(m, int(line))


@_op("q")
def _binput(m: _Machine) -> None:
    _put(m, m.src.read(1)[0])


@_op("r")
def _long_binput(m: _Machine) -> None:
    _put(m, _u(m.src.read(4)))


@_op("\x94")
def _memoize(m: _Machine) -> None:
    _put(m, len(m.memo))


@_op("g")
def _get_text(m: _Machine) -> None:
    line = m.line()
    if not _INDEX_LINE.fullmatch(line):
        raise _Bad("a GET argument in a form hfcache does not read")
    _get(m, int(line))


@_op("h")
def _binget(m: _Machine) -> None:
    _get(m, m.src.read(1)[0])


@_op("j")
def _long_binget(m: _Machine) -> None:
    _get(m, _u(m.src.read(4)))


# -- imports and calls: nothing is imported or called, only recorded
@_op("c")
def _global(m: _Machine) -> None:
    module = m.name_line("utf-8")
    name = m.name_line("utf-8")
    m.push(m.record(module, name))


@_op("i")
def _inst(m: _Machine) -> None:
    module = m.name_line("ascii")
    name = m.name_line("ascii")
    cls = m.record(module, name)
    m.push(Call(cls, tuple(m.pop_mark())))


@_op("\x93")
def _stack_global(m: _Machine) -> None:
    name = m.pop()
    module = m.pop()
    if type(module) is not str or type(name) is not str:
        raise _Bad("STACK_GLOBAL of something that is not two strings")
    m.push(m.record(module, name))


@_op("o")
def _obj(m: _Machine) -> None:
    items = m.pop_mark()
    if not items:
        raise _Bad("OBJ with nothing to call")
    m.push(Call(items[0], tuple(items[1:])))


_ORDERED_DICT = Import("collections", "OrderedDict")


@_op("R\x81")
def _reduce(m: _Machine) -> None:
    args = m.pop()
    func = m.pop()
    if isinstance(func, Import) and func == _ORDERED_DICT and args == ():
        m.push({})  # a state_dict: an OrderedDict, filled by SETITEMS like a dict
    else:
        m.push(Call(func, args if isinstance(args, tuple) else (args,)))


@_op("\x92")
def _newobj_ex(m: _Machine) -> None:
    kwargs = m.pop()
    args = m.pop()
    cls = m.pop()
    m.push(Call(cls, (*(args if isinstance(args, tuple) else (args,)), kwargs)))


@_op("b")
def _build(m: _Machine) -> None:
    state = m.pop()
    inst = m.top()
    if isinstance(inst, Call) and inst.state is None:
        inst.state = state  # kept: a TorchScript module's attributes are its BUILD state


@_op("Q")
def _binpersid(m: _Machine) -> None:
    m.push(_storage(m.pop()))


@_op("P")
def _persid(m: _Machine) -> None:
    m.push(Call("persistent_id", (_text(m.line()[:-1], "ascii"),)))


def _storage(pid: Any) -> Any:
    # ("storage", type, key, location, numel), with a sixth field (view metadata) in legacy files
    if isinstance(pid, tuple) and len(pid) in (5, 6) and pid[0] == "storage":
        _, storage_type, key, location, numel = pid[:5]
        if isinstance(key, str) and isinstance(location, str) and type(numel) is int:
            return Storage(storage_type, key, location, numel)
    return Call("persistent_id", (pid,))


def scan_pickle(data: bytes | BinaryIO, *, limit: int = MAX_PICKLE_BYTES) -> PickleScan:
    """Follow one pickle; never raises for bad input (``error`` says what was wrong).

    Given a stream, it reads from where the stream stands and stops right after the pickle's
    STOP, where a next pickle may begin. At most ``limit`` bytes are read.
    """
    out = PickleScan()
    f: BinaryIO = io.BytesIO(data) if isinstance(data, bytes) else data
    src = _Source(f, limit)
    machine = _Machine(src, out)
    try:
        out.value = machine.run()
    except _Ambiguous as e:
        out.error = f"readers disagree on what this pickle runs: {e}"
        out.ambiguous = True
    except _Bad as e:
        out.error = f"cannot follow the pickle: {e}"
    except (OSError, MemoryError, OverflowError, ValueError) as e:
        out.error = f"cannot follow the pickle: {type(e).__name__}"
    out.end = src.pos
    return out
