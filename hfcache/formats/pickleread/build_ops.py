"""Opcodes that build: containers, the stack and the memo, imports and calls, persistent ids.

Nothing is imported or called: a global becomes an :class:`Import`, a call a :class:`Call`
node, a torch ``persistent_id`` a :class:`Storage`. An ``OrderedDict()`` call is the one
exception, built as a dict, since that is how a state dict is written and then filled.
"""

from __future__ import annotations

import re
from typing import Any

from hfcache.formats.pickleread.machine import MARK, Handler, Machine, registrar
from hfcache.formats.pickleread.source import Bad, text, u
from hfcache.formats.pickleread.values import Call, Import, Storage

HANDLERS: dict[int, Handler] = {}
"""These opcodes' handlers, by opcode byte."""
_op = registrar(HANDLERS)

_INDEX_LINE = re.compile(rb"[0-9]+\n")


# -- containers
@_op(")")
def _empty_tuple(m: Machine) -> None:
    m.push(())


@_op("]\x8f")
def _empty_list(m: Machine) -> None:
    m.push([])  # a set (0x8f) is kept as a list: only its items matter here


@_op("}")
def _empty_dict(m: Machine) -> None:
    m.push({})


@_op("(")
def _mark(m: Machine) -> None:
    m.push(MARK)


@_op("t")
def _tuple(m: Machine) -> None:
    m.push(tuple(m.pop_mark()))


@_op("\x85\x86\x87")
def _tuple_n(m: Machine) -> None:
    items = [m.pop() for _ in range(m.last - 0x84)]
    m.push(tuple(reversed(items)))


@_op("l\x91")
def _list(m: Machine) -> None:
    m.push(m.pop_mark())  # LIST, and FROZENSET kept as a list


@_op("d")
def _dict(m: Machine) -> None:
    d: dict[Any, Any] = {}
    m.set_items(d, m.pop_mark())
    m.push(d)


@_op("a")
def _append(m: Machine) -> None:
    value = m.pop()
    m.target(list).append(value)
    m.count(1)


@_op("e\x90")
def _appends(m: Machine) -> None:
    items = m.pop_mark()
    if items:
        m.target(list).extend(items)
        m.count(len(items))
    else:
        m.top()


@_op("s")
def _setitem(m: Machine) -> None:
    value = m.pop()
    key = m.pop()
    m.target(dict)[m.key(key)] = value
    m.count(1)


@_op("u")
def _setitems(m: Machine) -> None:
    items = m.pop_mark()
    if items:
        m.set_items(m.target(dict), items)
        m.count(len(items))
    else:
        m.top()


# -- stack and memo
@_op("0")
def _pop(m: Machine) -> None:
    if not m.stack:
        raise Bad("stack underflow")
    m.stack.pop()  # a MARK on top is popped like a value, as _pickle.c does


@_op("1")
def _pop_mark(m: Machine) -> None:
    m.pop_mark()


@_op("2")
def _dup(m: Machine) -> None:
    m.push(m.top())


def _put(m: Machine, index: int) -> None:
    if index not in m.memo:
        m.count(1)
    m.memo[index] = m.top()


def _get(m: Machine, index: int) -> None:
    if index not in m.memo:
        raise Bad("a memo entry read before it is written")
    m.push(m.memo[index])


@_op("p")
def _put_text(m: Machine) -> None:
    line = m.line()
    if not _INDEX_LINE.fullmatch(line):
        raise Bad("a PUT argument in a form hfcache does not read")
    _put(m, int(line))


@_op("q")
def _binput(m: Machine) -> None:
    _put(m, m.src.read(1)[0])


@_op("r")
def _long_binput(m: Machine) -> None:
    _put(m, u(m.src.read(4)))


@_op("\x94")
def _memoize(m: Machine) -> None:
    _put(m, len(m.memo))


@_op("g")
def _get_text(m: Machine) -> None:
    line = m.line()
    if not _INDEX_LINE.fullmatch(line):
        raise Bad("a GET argument in a form hfcache does not read")
    _get(m, int(line))


@_op("h")
def _binget(m: Machine) -> None:
    _get(m, m.src.read(1)[0])


@_op("j")
def _long_binget(m: Machine) -> None:
    _get(m, u(m.src.read(4)))


# -- imports and calls: nothing is imported or called, only recorded
@_op("c")
def _global(m: Machine) -> None:
    module = m.name_line("utf-8")
    name = m.name_line("utf-8")
    m.push(m.record(module, name))


@_op("i")
def _inst(m: Machine) -> None:
    module = m.name_line("ascii")
    name = m.name_line("ascii")
    cls = m.record(module, name)
    m.push(Call(cls, tuple(m.pop_mark())))


@_op("\x93")
def _stack_global(m: Machine) -> None:
    name = m.pop()
    module = m.pop()
    if type(module) is not str or type(name) is not str:
        raise Bad("STACK_GLOBAL of something that is not two strings")
    m.push(m.record(module, name))


@_op("o")
def _obj(m: Machine) -> None:
    items = m.pop_mark()
    if not items:
        raise Bad("OBJ with nothing to call")
    m.push(Call(items[0], tuple(items[1:])))


_ORDERED_DICT = Import("collections", "OrderedDict")


@_op("R\x81")
def _reduce(m: Machine) -> None:
    args = m.pop()
    func = m.pop()
    if isinstance(func, Import) and func == _ORDERED_DICT and args == ():
        m.push({})  # a state_dict: an OrderedDict, filled by SETITEMS like a dict
    else:
        m.push(Call(func, args if isinstance(args, tuple) else (args,)))


@_op("\x92")
def _newobj_ex(m: Machine) -> None:
    kwargs = m.pop()
    args = m.pop()
    cls = m.pop()
    m.push(Call(cls, (*(args if isinstance(args, tuple) else (args,)), kwargs)))


@_op("b")
def _build(m: Machine) -> None:
    state = m.pop()
    inst = m.top()
    if isinstance(inst, Call) and inst.state is None:
        inst.state = state  # kept: a TorchScript module's attributes are its BUILD state


@_op("Q")
def _binpersid(m: Machine) -> None:
    m.push(_storage(m.pop()))


@_op("P")
def _persid(m: Machine) -> None:
    m.push(Call("persistent_id", (text(m.line()[:-1], "ascii"),)))


def _storage(pid: Any) -> Any:
    # ("storage", type, key, location, numel), with a sixth field (view metadata) in legacy files
    if isinstance(pid, tuple) and len(pid) in (5, 6) and pid[0] == "storage":
        _, storage_type, key, location, numel = pid[:5]
        if isinstance(key, str) and isinstance(location, str) and type(numel) is int:
            return Storage(storage_type, key, location, numel)
    return Call("persistent_id", (pid,))
