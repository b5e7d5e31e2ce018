"""The symbolic unpickler's state: a stack, a memo, the record of imports, and the work limits.

The stack keeps MARK as a sentinel where ``_pickle.c`` keeps a separate mark stack with a
fence; every value-taking operation here refuses to consume a mark (the C unpickler refuses it
as "unexpected MARK", or does something no pickler writes). The opcodes themselves live in
tables of :data:`Handler` functions (:mod:`.literal_ops`, :mod:`.build_ops`), which
:meth:`Machine.run` dispatches on; this module knows none of them but ``STOP``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, TypeAlias

from hfcache.formats.pickleread.source import Ambiguous, Bad, Source, text
from hfcache.formats.pickleread.values import Import, Key, PickleScan

MAX_OPS = 2_000_000
MAX_ITEMS = 2_000_000
"""Most values held at once, in containers, on the stack and in the memo together."""


class _Mark:
    __slots__ = ()


MARK = _Mark()
"""What ``MARK`` pushes: a sentinel no value-taking operation accepts."""
_PLAIN_KEYS = (str, int, float, bytes, bool, type(None))


class Machine:
    """The symbolic unpickler: a stack, a memo, and the record of what was imported."""

    def __init__(self, src: Source, out: PickleScan, handlers: Mapping[int, Handler]) -> None:
        self.src = src
        self.out = out
        self.handlers = handlers
        self.stack: list[Any] = []
        self.memo: dict[int, Any] = {}
        self.items = 0
        self.last = 0

    # -- the stack, with MARK as a sentinel no value-taking opcode may consume
    def push(self, value: Any) -> None:
        self.stack.append(value)

    def pop(self) -> Any:
        if not self.stack or self.stack[-1] is MARK:
            raise Bad("stack underflow (or a MARK where a value belongs)")
        return self.stack.pop()

    def top(self) -> Any:
        if not self.stack or self.stack[-1] is MARK:
            raise Bad("stack underflow (or a MARK where a value belongs)")
        return self.stack[-1]

    def pop_mark(self) -> list[Any]:
        stack = self.stack
        for i in range(len(stack) - 1, -1, -1):
            if stack[i] is MARK:
                items = stack[i + 1 :]
                del stack[i:]
                return items
        raise Bad("no MARK for an opcode that needs one")

    def count(self, n: int) -> None:
        self.items += n
        if self.items > MAX_ITEMS:
            raise Bad(f"more than {MAX_ITEMS} values: too large to follow")

    def key(self, key: Any) -> Any:
        return key if isinstance(key, _PLAIN_KEYS) else Key(key)

    def target(self, kind: type) -> Any:
        obj = self.top()
        if not isinstance(obj, kind):
            raise Bad(f"a {kind.__name__} operation on something that is not one")
        return obj

    def set_items(self, target: dict[Any, Any], items: list[Any]) -> None:
        if len(items) % 2:
            raise Bad("an odd number of items for a dict")
        for i in range(0, len(items), 2):
            target[self.key(items[i])] = items[i + 1]

    def record(self, module: str, name: str) -> Import:
        imp = Import(module, name)
        self.out.imports.append(imp)
        self.count(2)  # an import costs as much as three values
        if len(self.out.imports) > 100_000:
            raise Bad("more than 100000 imports")
        return imp

    def line(self) -> bytes:
        return self.src.readline()

    def name_line(self, encoding: str) -> str:
        line = self.src.readline()
        if len(line) < 2:
            raise Bad("an empty name in GLOBAL or INST")
        return text(line[:-1], encoding)

    def run(self) -> Any:
        src, ops = self.src, 0
        while True:
            ops += 1
            if ops > MAX_OPS:
                raise Bad(f"more than {MAX_OPS} opcodes: too large to follow")
            code = src.read(1)[0]
            if code == 0x2E:  # STOP
                if src.frame_end is not None:
                    raise Ambiguous("STOP before the end of its FRAME")
                return self.pop()
            handler = self.handlers.get(code)
            if handler is None:
                raise Bad(f"opcode {code:#04x} is not one the unpickler knows, or one it cannot run here")
            self.last = code
            handler(self)
            if len(self.stack) > MAX_ITEMS:
                raise Bad("the stack is too deep to follow")


Handler: TypeAlias = Callable[[Machine], None]
"""One opcode's work on the machine (its argument, if any, read from ``m.src``)."""


def registrar(table: dict[int, Handler]) -> Callable[[str], Callable[[Handler], Handler]]:
    """A decorator that files a handler in ``table`` under its opcodes, given as latin-1 text."""

    def op(codes: str) -> Callable[[Handler], Handler]:
        def register(fn: Handler) -> Handler:
            for c in codes.encode("latin-1"):
                table[c] = fn
            return fn

        return register

    return op
