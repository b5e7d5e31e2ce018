"""The malicious and benign samples of picklescan, modelscan and fickling, rebuilt here.

Each peer's public test suite builds its own labelled samples (picklescan:
``tests/init_data_files.py`` and ``tests/test_scanner.py``; modelscan: ``tests/test_modelscan.py``
and ``tests/test_utils.py``; fickling: ``test/test_bypasses.py``, ``test_analysis.py``,
``test_crashes.py``, ``test_expansion_attack_analysis.py``, ``test_pickle.py``, ``test_polyglot.py``,
``test_pytorch.py``). The generators below were written from reading those suites (the peers' own
code is not copied and nothing binary is committed): a representative set, every technique the
suites exercise, each sample with the label the peer's own test gives it.

Payloads are harmless if ever run (``true``, ``1+1``, ``/dev/null``, an address that does not
answer). Nothing here runs a payload: building a sample only *pickles a reference* to a
callable, and the callables that would need a module this process has not imported are stood in
by a function registered under that module's name for the duration of the ``pickle.dumps`` call
(so the bytes are exactly what ``pickle`` writes for the real callable, and ``idlelib``,
``torch._dynamo`` and friends are never imported).

:func:`loader_imports` is the ground truth the tests judge ``inspect`` against: the globals
CPython's C unpickler asks for when the loader reads the file the way ``torch.load`` (and
``pickle.load`` / ``numpy.load(allow_pickle=True)``) would, recorded by a ``find_class`` that
resolves nothing. :func:`inspect_verdict` is ``inspect``'s verdict in one word.
"""

from __future__ import annotations

import ast
import io
import json
import os
import pickle
import struct
import subprocess
import sys
import types
import zipfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

PEERS = ("picklescan", "modelscan", "fickling")
MALICIOUS, BENIGN = "malicious", "benign"

# inspect's verdicts, in one word (inspect_verdict)
UNSAFE = "unsafe"  # a pickle-unsafe-import finding
UNREADABLE = "unreadable"  # checkpoint-unreadable, and no pickle-unsafe-import
AMBIGUOUS = "ambiguous"  # pickle-ambiguous: readers decode different programs; "do not load" as a whole
CLEAN = "clean"  # no error and no warning: "No problems found"
REFUSED = "refused"  # "not a checkpoint file hfcache knows" (exit 2)

FLAGGED = frozenset({UNSAFE, AMBIGUOUS})
FLAGGED_OR_UNREADABLE = frozenset({UNSAFE, AMBIGUOUS, UNREADABLE})
ONLY_CLEAN = frozenset({CLEAN})
NOT_A_PICKLE = frozenset({CLEAN, REFUSED, UNREADABLE})  # no pickle in it: never "unsafe", never a crash

TORCH_MAGIC = 0x1950A86A20F9469CFC6C
CMD = "true"
CODE = "1+1"
PYCODE = "__import__('os').system('true')"


@dataclass(frozen=True)
class Sample:
    peer: str
    name: str
    """The file name (the peer's own where its suite names the file)."""
    label: str
    """The verdict the peer's own test expects: malicious or benign."""
    technique: str
    build: Callable[[Path], None] = field(repr=False, compare=False)
    ref: str
    """Where in the peer's suite the sample comes from."""
    want: frozenset[str]
    """inspect verdicts this project accepts for it."""
    needs: tuple[str, ...] = ()
    """Modules the generator needs (the test skips the sample without them)."""
    slow: bool = False
    """Built to make a reader hang or balloon: inspect runs in a subprocess with a time limit."""

    @property
    def key(self) -> str:
        return f"{self.peer}/{self.name}"


# --------------------------------------------------------------------------------------------
# Building blocks


class _Reduce:
    def __init__(self, fn: Any, args: tuple[Any, ...]) -> None:
        self.fn, self.args = fn, args

    def __reduce__(self) -> tuple[Any, tuple[Any, ...]]:
        return self.fn, self.args


def _stand_in(module: str, qualname: str) -> Any:
    def stand_in(*_a: Any, **_k: Any) -> None:
        raise RuntimeError("a sample's stand-in callable was called")

    parts = qualname.split(".")
    fn = types.FunctionType(stand_in.__code__, {}, parts[-1])
    fn.__module__, fn.__qualname__ = module, qualname
    return fn


@contextmanager
def _global(module: str, qualname: str) -> Iterator[Any]:
    """The callable ``module.qualname``: the real one where its module is already imported,
    otherwise a stand-in registered under that name in ``sys.modules`` while the block runs."""
    if module in sys.modules:
        obj: Any = sys.modules[module]
        for part in qualname.split("."):
            obj = getattr(obj, part, None)
            if obj is None:
                break
        if obj is not None:
            yield obj
            return
        if "." not in qualname:  # imported, but this version lacks the name: a stand-in for the dump
            fn = _stand_in(module, qualname)
            setattr(sys.modules[module], qualname, fn)
            try:
                yield fn
            finally:
                delattr(sys.modules[module], qualname)
            return
        raise LookupError(f"{module} is imported but has no {qualname}")
    added = []
    parts = module.split(".")
    for i in range(1, len(parts) + 1):
        name = ".".join(parts[:i])
        if name not in sys.modules:
            sys.modules[name] = types.ModuleType(name)
            added.append(name)
    owner: Any = sys.modules[module]
    names = qualname.split(".")
    for i, part in enumerate(names[:-1]):
        cls = type(part, (), {})
        cls.__module__, cls.__qualname__ = module, ".".join(names[: i + 1])
        setattr(owner, part, cls)
        owner = cls
    fn = _stand_in(module, qualname)
    setattr(owner, names[-1], fn)
    try:
        yield fn
    finally:
        for name in reversed(added):
            del sys.modules[name]


def call(module: str, qualname: str, args: tuple[Any, ...] = (), protocol: int = 4) -> bytes:
    """What ``pickle.dumps`` writes for an object whose ``__reduce__`` calls ``module.qualname(*args)``."""
    with _global(module, qualname) as fn:
        return pickle.dumps(_Reduce(fn, args), protocol=protocol)


def obj_call(fn: Any, args: tuple[Any, ...] = (), protocol: int = 4) -> bytes:
    return pickle.dumps(_Reduce(fn, args), protocol=protocol)


def _write(data: bytes) -> Callable[[Path], None]:
    return lambda p: p.write_bytes(data)


def _lazy(make: Callable[[], bytes]) -> Callable[[Path], None]:
    return lambda p: p.write_bytes(make())


def _zip(members: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        for name, data in members.items():
            z.writestr(name, data)
    return buf.getvalue()


def sbu(s: str) -> bytes:
    """SHORT_BINUNICODE."""
    b = s.encode()
    return pickle.SHORT_BINUNICODE + bytes([len(b)]) + b


def framed(body: bytes, protocol: int = 4, length: int | None = None) -> bytes:
    n = len(body) if length is None else length
    return pickle.PROTO + bytes([protocol]) + pickle.FRAME + struct.pack("<Q", n) + body


def stack_call(module: str, name: str, *args: str, protocol: int = 4, memo: bool = True) -> bytes:
    """``module.name(*args)`` through STACK_GLOBAL, as fickling's tests assemble it with its opcode API."""
    m = pickle.MEMOIZE if memo else b""
    tup = {0: pickle.EMPTY_TUPLE, 1: pickle.TUPLE1, 2: pickle.TUPLE2, 3: pickle.TUPLE3}[len(args)]
    body = sbu(module) + m + sbu(name) + m + pickle.STACK_GLOBAL + m
    body += b"".join(sbu(a) + m for a in args) + tup + m + pickle.REDUCE + m + pickle.STOP
    return pickle.PROTO + bytes([protocol]) + body


def getattr_chain(module: str, cls: str, ctor_args: tuple[str, ...], attr: str, arg: str) -> bytes:
    """``getattr(module.cls(*ctor_args), attr)(arg)``: the builtins.getattr gadget of fickling's tests."""
    m = pickle.MEMOIZE
    tup = {0: pickle.EMPTY_TUPLE, 1: pickle.TUPLE1}[len(ctor_args)]
    body = sbu("builtins") + m + sbu("getattr") + m + pickle.STACK_GLOBAL + m
    body += sbu(module) + m + sbu(cls) + m + pickle.STACK_GLOBAL + m
    body += b"".join(sbu(a) + m for a in ctor_args) + tup + m + pickle.REDUCE + m
    body += sbu(attr) + m + pickle.TUPLE2 + m + pickle.REDUCE + m
    body += sbu(arg) + m + pickle.TUPLE1 + m + pickle.REDUCE + m + pickle.STOP
    return pickle.PROTO + b"\x05" + body


def _injecting(payload: Any, base: type[Any]) -> type[Any]:
    """modelscan's ``PickleInject``/``DillInject`` pickler: the payload saved before the object, in
    one pickle whose value is the object (the payload's result is left on the stack)."""

    class Injecting(base):  # type: ignore[misc, valid-type]
        def dump(self, o: Any) -> None:
            if self.proto >= 2:
                self.write(pickle.PROTO + struct.pack("<B", self.proto))
            if self.proto >= 4:
                self.framer.start_framing()
            self.save(payload)
            self.save(o)
            self.write(pickle.STOP)
            self.framer.end_framing()

    return Injecting


def inject_first(payload: Any, obj: Any, protocol: int = 4, pickler: type[Any] | None = None) -> bytes:
    """The bytes modelscan's injecting pickler writes for ``obj`` with ``payload`` before it."""
    buf = io.BytesIO()
    _injecting(payload, pickler or pickle._Pickler)(buf, protocol).dump(obj)  # type: ignore[attr-defined]
    return buf.getvalue()


def _torch_state() -> dict[str, Any]:
    import torch

    return {"linear.weight": torch.arange(6, dtype=torch.float32).reshape(2, 3), "linear.bias": torch.zeros(2)}


def _torch_bytes(obj: Any, *, zip_format: bool = True, pickle_module: Any = None) -> bytes:
    import torch

    buf = io.BytesIO()
    kw: dict[str, Any] = {"_use_new_zipfile_serialization": zip_format}
    if pickle_module is not None:
        kw["pickle_module"] = pickle_module
    torch.save(obj, buf, **kw)
    return buf.getvalue()


def _replace_data_pkl(torch_zip: bytes, change: Callable[[bytes], bytes]) -> bytes:
    """A torch zip whose ``archive/data.pkl`` went through ``change``; every other member as it was."""
    members = {}
    with zipfile.ZipFile(io.BytesIO(torch_zip)) as z:
        for info in z.infolist():
            data = z.read(info)
            members[info.filename] = change(data) if info.filename.endswith("/data.pkl") else data
    return _zip(members)


def _prepend_call(pkl: bytes, module: str, name: str, arg: str) -> bytes:
    """An existing protocol-2+ pickle with ``module.name(arg)`` run (and popped) right after PROTO,
    as fickling's ``insert_python_exec`` injection does."""
    assert pkl[:1] == pickle.PROTO
    call_ops = pickle.GLOBAL + f"{module}\n{name}\n".encode() + pickle.BINUNICODE
    call_ops += struct.pack("<I", len(arg.encode())) + arg.encode() + pickle.TUPLE1 + pickle.REDUCE + pickle.POP
    return pkl[:2] + call_ops + pkl[2:]


def _inject_module(payload: Any) -> Any:
    """A ``pickle_module`` for ``torch.save``: modelscan's ``PickleInject([payload])``, whose
    ``Pickler`` saves the payload before the object in the same pickle."""

    mod = types.ModuleType("pickle_inject")
    mod.Pickler = _injecting(payload, pickle._Pickler)  # type: ignore[attr-defined]
    mod.dump = pickle.dump  # type: ignore[attr-defined]
    mod.dumps = pickle.dumps  # type: ignore[attr-defined]
    return mod


def _npy(arr_maker: Callable[[], Any]) -> Callable[[Path], None]:
    def build(p: Path) -> None:
        import numpy as np

        np.save(p, arr_maker(), allow_pickle=True)

    return build


# --------------------------------------------------------------------------------------------
# picklescan (mmaitre314/picklescan: tests/init_data_files.py, tests/test_scanner.py)

_SOUR = (
    b"c__builtin__\nglobals\n(tRp100\n0c__builtin__\ncompile\n(S'fl=open(\"/dev/null\");picklesmashed=fl.read();"
    b"'\nS''\nS'exec'\ntRp101\n0c__builtin__\neval\n(g101\ng100\ntRp102\n0c__builtin__\ngetattr\n(c__builtin__\n"
    b"dict\nS'get'\ntRp103\n0c__builtin__\napply\n(g103\n(g100\nS'picklesmashed'\nltRp104\n0g104\n."
)
"""The "Sour Pickles" (BlackHat 2011) payload both picklescan and modelscan test; reads /dev/null here."""

_CTF = b"".join(
    [
        pickle.UNICODE + b"os\n", pickle.PUT + b"2\n", pickle.POP,
        pickle.UNICODE + b"system\n", pickle.PUT + b"3\n", pickle.POP,
        pickle.UNICODE + b"torch\n", pickle.PUT + b"0\n", pickle.POP,
        pickle.UNICODE + b"LongStorage\n", pickle.PUT + b"1\n", pickle.POP,
        pickle.GET + b"2\n", pickle.GET + b"3\n", pickle.STACK_GLOBAL,
        pickle.MARK, pickle.UNICODE + CMD.encode() + b"\n", pickle.TUPLE, pickle.REDUCE, pickle.STOP,
    ]
)  # fmt: skip
"""imaginaryctf 'Safe Pickle' (picklescan issue 22): STACK_GLOBAL from memo, no PROTO, decoy torch names."""

_INST = b"(S'" + CODE.encode() + b"'\ni__builtin__\nexec\n."

_MAGIC_BYPASS = (
    obj_call(eval, (hex(TORCH_MAGIC),), 2)
    + pickle.dumps(1001, protocol=2)
    + pickle.dumps({}, protocol=2)
    + pickle.dumps([], protocol=2)
    + obj_call(os.system, (CMD,), 2)
    + pickle.dumps(None, protocol=2)
)
"""Legacy torch layout whose magic number pickle is ``eval('0x1950…')``, payload in the 5th pickle."""

_KEYERROR = b"".join(
    [
        pickle.PROTO, b"\x04", pickle.GLOBAL, b"os\nsystem\n", pickle.UNICODE, CMD.encode() + b"\n",
        pickle.TUPLE1, pickle.REDUCE, pickle.POP, pickle.SHORT_BINUNICODE, b"\x02os", pickle.MEMOIZE,
        pickle.BINGET, b"\x03", pickle.BINGET, b"\x00", pickle.STACK_GLOBAL,
        pickle.BININT1, b"\x42", pickle.STOP,
    ]
)  # fmt: skip

_TYPE_CONFUSION = b"".join(
    [
        pickle.PROTO, b"\x04", pickle.GLOBAL, b"os\nsystem\n", pickle.UNICODE, CMD.encode() + b"\n",
        pickle.TUPLE1, pickle.REDUCE, pickle.POP, pickle.BININT, b"\x2a\x00\x00\x00", pickle.MEMOIZE,
        pickle.SHORT_BINUNICODE, b"\x02os", pickle.MEMOIZE, pickle.BINGET, b"\x00", pickle.BINGET, b"\x01",
        pickle.STACK_GLOBAL, pickle.BININT1, b"\x42", pickle.STOP,
    ]
)  # fmt: skip

_STRING_STACK_GLOBAL = b"".join(
    [
        pickle.STRING + b"'os'\n", pickle.STRING + b"'system'\n", pickle.STACK_GLOBAL,
        pickle.STRING + b"'" + CMD.encode() + b"'\n", pickle.TUPLE1, pickle.REDUCE, pickle.STOP,
    ]
)  # fmt: skip
"""GHSA-9gvj-pp9x-gcfr: STACK_GLOBAL fed by protocol-0 STRING opcodes, no PROTO."""

_ATTRGETTER = b"".join(
    [
        pickle.PROTO, b"\x04",
        sbu("operator"), pickle.MEMOIZE, sbu("attrgetter"), pickle.MEMOIZE, pickle.STACK_GLOBAL, pickle.MEMOIZE,
        sbu("system"), pickle.MEMOIZE, pickle.TUPLE1, pickle.MEMOIZE, pickle.REDUCE, pickle.MEMOIZE,
        sbu("builtins"), pickle.MEMOIZE, sbu("__import__"), pickle.MEMOIZE, pickle.STACK_GLOBAL, pickle.MEMOIZE,
        sbu("os"), pickle.MEMOIZE, pickle.TUPLE1, pickle.MEMOIZE, pickle.REDUCE, pickle.MEMOIZE,
        pickle.TUPLE1, pickle.MEMOIZE, pickle.REDUCE, pickle.MEMOIZE,
        sbu(CMD), pickle.MEMOIZE, pickle.TUPLE1, pickle.MEMOIZE, pickle.REDUCE, pickle.MEMOIZE, pickle.STOP,
    ]
)  # fmt: skip
"""malicious12.pkl (pickleassem): operator.attrgetter('system')(__import__('os'))('…')."""


def _methodcaller_gadget() -> bytes:
    """GHSA-84r2-jw7c-4r5q: methodcaller('system', cmd)(pydoc.locate('os'))."""
    import operator

    with _global("pydoc", "locate") as locate:
        return obj_call(operator.methodcaller("system", CMD), (_Reduce(locate, ("os",)),))


def _partial_torch_load() -> bytes:
    """malicious19.pkl: functools.partial(torch.load, path, weights_only=False) reduced with ()."""
    import functools

    with _global("torch", "load") as load:
        return pickle.dumps(
            _Reduce(functools.partial(load, "/dev/null", weights_only=False), ()), protocol=4
        )


def _codetype() -> bytes:
    """types_CodeType.pkl: a code object built from pickled CodeType arguments (never run here)."""
    code = compile(CODE, "<sample>", "exec")
    args = (
        code.co_argcount, code.co_posonlyargcount, code.co_kwonlyargcount, code.co_nlocals,
        code.co_stacksize, code.co_flags, code.co_code, code.co_consts, code.co_names, code.co_varnames,
        code.co_filename, code.co_name, code.co_qualname, code.co_firstlineno, code.co_linetable,
        code.co_exceptiontable, code.co_freevars, code.co_cellvars,
    )  # fmt: skip
    body = pickle.dumps(args, protocol=4)[2:-1]
    return pickle.PROTO + b"\x04" + sbu("types") + pickle.MEMOIZE + sbu("CodeType") + pickle.MEMOIZE + (
        pickle.STACK_GLOBAL + pickle.MEMOIZE + body + pickle.REDUCE + pickle.STOP
    )


def _zip_crc_broken() -> bytes:
    data = _zip({"data.pkl": obj_call(eval, ("print('456')",))})
    return data.replace(b"print('456')", b"print('123')", 1)


def _zip_central_dir_renamed() -> bytes:
    return _zip({"data.pkl": obj_call(eval, (CODE,))}).replace(b"data.pkl", b"datap.kl", 1)


def _picklescan() -> list[Sample]:
    ref = "tests/init_data_files.py"
    out: list[Sample] = []

    def add(name: str, label: str, technique: str, build: Callable[[Path], None], want: frozenset[str],
            needs: tuple[str, ...] = (), where: str = ref) -> None:  # fmt: skip
        out.append(Sample("picklescan", name, label, technique, build, where, want, needs))

    def mal(name: str, technique: str, data: bytes | Callable[[], bytes], want: frozenset[str] = FLAGGED,
            needs: tuple[str, ...] = ()) -> None:  # fmt: skip
        build = _write(data) if isinstance(data, bytes) else _lazy(data)
        add(name, MALICIOUS, technique, build, want, needs)

    for v in (0, 3, 4):
        add(f"benign0_v{v}.pkl", BENIGN, f"list of str, protocol {v}", _write(pickle.dumps(["a", "b", "c"], protocol=v)), ONLY_CLEAN)
        mal(f"malicious1_v{v}.pkl", f"builtins.eval via __reduce__, protocol {v}", obj_call(eval, (CODE,), v))
        mal(f"malicious2_v{v}.pkl", f"os.system (posix.system) via __reduce__, protocol {v}", obj_call(os.system, (CMD,), v))
    mal("malicious0.pkl", "Sour Pickles: __builtin__ globals/compile/eval/getattr/apply, protocol 0", _SOUR)
    mal("malicious3.pkl", "http.client.HTTPSConnection (httplib), protocol 0",
        lambda: call("http.client", "HTTPSConnection", ("127.0.0.1",), 0))  # fmt: skip
    mal("malicious4.pickle", "requests.api.get", lambda: call("requests.api", "get", ("http://127.0.0.1:9/",)))
    mal("malicious5.pickle", "aiohttp.client.ClientSession", lambda: call("aiohttp.client", "ClientSession"))
    mal("malicious6.pkl", "benign pickle, then a second pickle calling requests.api.get",
        lambda: pickle.dumps(["a", "b", "c"]) + call("requests.api", "get", ("http://127.0.0.1:9/",)),
        FLAGGED_OR_UNREADABLE)  # fmt: skip
    mal("malicious7.pkl", "socket.create_connection", lambda: call("socket", "create_connection", (("127.0.0.1", 9),)))
    mal("malicious8.pkl", "subprocess.run", lambda: call("subprocess", "run", ([CMD],)))
    mal("malicious9.pkl", "sys.exit", obj_call(sys.exit, (0,)))
    mal("malicious10.pkl", "INST opcode: __builtin__.exec, protocol 0", _INST)
    mal("malicious11.pkl", "STACK_GLOBAL from memoized UNICODE strings, no PROTO (CTF 'Safe Pickle')", _CTF)
    mal("malicious12.pkl", "operator.attrgetter + builtins.__import__ chain (pickleassem)", _ATTRGETTER)
    mal("malicious13a.pkl", "pickle.loads of a nested pickle, protocol 0", obj_call(pickle.loads, (b"I12345\n.",), 0))
    mal("malicious13b.pkl", "_pickle.loads of a nested pickle, protocol 4", obj_call(pickle.loads, (b"I12345\n.",), 4))
    mal("malicious14.pkl", "runpy._run_code", lambda: call("runpy", "_run_code", (CODE,)))
    mal("malicious15a.pkl", "bdb.Bdb.run (method via getattr reduce), protocol 2",
        lambda: call("bdb", "Bdb.run", ("x", PYCODE), 2))  # fmt: skip
    mal("malicious15b.pkl", "bdb.Bdb.run (dotted STACK_GLOBAL), protocol 4", lambda: call("bdb", "Bdb.run", ("x", PYCODE), 4))
    mal("malicious16.pkl", "pip.main, protocol 0", lambda: call("pip", "main", (["--version"],), 0))
    mal("malicious17.pkl", "torch._inductor.codecache.compile_file",
        lambda: call("torch._inductor.codecache", "compile_file", ("", "", [CMD])))  # fmt: skip
    mal("malicious18.pkl", "pydoc.pipepager", lambda: call("pydoc", "pipepager", ("", CMD)))
    mal("malicious19.pkl", "functools.partial(torch.load, weights_only=False)", _partial_torch_load)
    mal("malicious20.pkl", "venv.create", lambda: call("venv", "create", ("/dev/null/venv",)))
    mal("malicious21.pkl", "timeit.timeit", lambda: call("timeit", "timeit", ("", PYCODE)))
    mal("malicious22.pkl", "numpy.testing._private.utils.runstring",
        lambda: call("numpy.testing._private.utils", "runstring", (PYCODE, {})))  # fmt: skip
    mal("malicious23.pkl", "STACK_GLOBAL fed by protocol-0 STRING, no PROTO (GHSA-9gvj-pp9x-gcfr)", _STRING_STACK_GLOBAL)
    mal("keyerror-exploit.pkl", "GLOBAL os.system, then STACK_GLOBAL on a missing memo key", _KEYERROR)
    mal("type-confusion-exploit.pkl", "GLOBAL os.system, then STACK_GLOBAL on an int module name", _TYPE_CONFUSION)
    mal("broken_model.pkl", "builtins.exec, pickle truncated after the call",
        b"cbuiltins\nexec\n(X>\x00\x00\x00f = open('/dev/null', 'a'); f.write(''); f.close()tRX.")  # fmt: skip
    gadgets = [
        ("GHSA-4r9r-ch6f-vxmx", "torch.utils.bottleneck.__main__", "run_cprofile", (PYCODE, {})),
        ("GHSA-86cj-95qr-2p4f", "torch._dynamo.guards", "GuardBuilder.get", ({}, PYCODE)),
        ("GHSA-f745-w6jp-hpxx", "torch.utils.collect_env", "run", (CMD,)),
        ("GHSA-vr7h-p6mm-wpmh", "torch.jit.unsupported_tensor_ops", "execWrapper", (PYCODE, {}, {})),
        ("GHSA-5qwp-399c-mjwf", "trace", "Trace.run", ({}, PYCODE)),
        ("GHSA-x696-vm39-cp64", "profile", "Profile.run", ({}, PYCODE)),
        ("GHSA-f54q-57x4-jg88", "lib2to3.pgen2.grammar", "Grammar.loads", ({}, b"")),
        ("GHSA-3vg9-h568-4w9m", "idlelib.debugobj", "ObjectTreeItem.SetText", ({}, PYCODE)),
        ("GHSA-cj3c-v495-4xqh", "code", "InteractiveInterpreter.runcode", ({}, PYCODE)),
        ("GHSA-xp4f-hrf8-rxw7", "ensurepip", "_run_pip", ([],)),
        ("GHSA-fqq6-7vqf-w3fg", "doctest", "debug_script", (PYCODE, True)),
        ("GHSA-49gj-c84q-6qm9", "cProfile", "run", (PYCODE,)),
        ("GHSA-q77w-mwjj-7mqx", "asyncio.unix_events", "_UnixSubprocessTransport._start", ({}, CMD, True)),
        ("GHSA-m273-6v24-x4m4", "distutils.file_util", "write_file", ("/dev/null", [""])),
        ("GHSA-4675-36f9-wf6r", "ctypes", "CDLL", (None,)),
        ("GHSA-vqmv-47xg-9wpr", "pty", "spawn", ([CMD],)),
        ("GHSA-r8g5-cgf2-4m4m", "numpy.f2py.crackfortran", "getlincoef", (PYCODE, [])),
        ("GHSA-vvpj-8cmc-gx39", "pkgutil", "resolve_name", ("os:system",)),
        ("GHSA-g38g-8gr9-h9xp-uuid", "uuid", "_get_command_stdout", (CMD,)),
        ("GHSA-g38g-8gr9-h9xp-imaplib", "imaplib", "IMAP4_stream", (CMD,)),
        ("GHSA-g38g-8gr9-h9xp-pyrepl-pager", "_pyrepl.pager", "pipe_pager", ("text", CMD)),
        ("io_FileIO", "_io", "FileIO", ("/dev/null", "r")),
        ("urllib_request_urlopen", "urllib.request", "urlopen", ("http://127.0.0.1:9/",)),
        ("logging_FileHandler", "logging", "FileHandler", ("/dev/null",)),
    ]
    for gname, module, qual, args in gadgets:
        mal(f"{gname}.pkl", f"{module}.{qual} (advisory gadget)", lambda m=module, q=qual, a=args: call(m, q, a))
    mal("GHSA-jgw4-cr84-mqxg.bin", "asyncio.unix_events._UnixSubprocessTransport._start in a .bin",
        lambda: call("asyncio.unix_events", "_UnixSubprocessTransport._start", ({}, CMD, True)))  # fmt: skip
    mal("GHSA-84r2-jw7c-4r5q.pkl", "operator.methodcaller('system') applied to pydoc.locate('os')", _methodcaller_gadget)
    mal("types_CodeType.pkl", "types.CodeType built from pickled code-object fields", _codetype)
    mal("pytorch_magic_bypass.pt", "legacy torch layout, magic number from eval, os.system in the 5th pickle", _MAGIC_BYPASS)
    mal("malicious1.zip", "eval pickle as data.pkl at the root of a plain zip",
        lambda: _zip({"data.pkl": obj_call(eval, (CODE,))}), FLAGGED_OR_UNREADABLE)  # fmt: skip
    mal("malicious1_wrong_ext.zip", "eval pickle as data.txt in a plain zip",
        lambda: _zip({"data.txt": obj_call(eval, (CODE,))}), FLAGGED_OR_UNREADABLE)  # fmt: skip
    mal("malicious1_crc.zip", "eval pickle in a zip whose CRC no longer matches", _zip_crc_broken, FLAGGED_OR_UNREADABLE)
    mal("malicious1_central_directory.zip", "zip whose local header names data.pkl, central directory datap.kl",
        _zip_central_dir_renamed, FLAGGED_OR_UNREADABLE)  # fmt: skip
    mal("zip_archive_data.pkl.pt", "eval pickle as archive/data.pkl (the torch zip layout; test_scanner mock)",
        lambda: _zip({"archive/data.pkl": obj_call(eval, (CODE,)), "archive/version": b"3\n"}))  # fmt: skip
    add("bad_pytorch.pt", BENIGN, "PNG header named .pt", _write(b"\x89PNG\r\n\x1a\n"), NOT_A_PICKLE)
    add("not_a_pickle.bin", BENIGN, "GLOBAL opcode then invalid UTF-8 (scan must not crash)",
        _write(b"cmod\n\xf8\n"), NOT_A_PICKLE)  # fmt: skip
    add("pytorch_model.bin", BENIGN, "torch.save state dict, legacy (non-zip) format",
        _lazy(lambda: _torch_bytes(_torch_state(), zip_format=False)), ONLY_CLEAN, ("torch",), "tests/test_scanner.py")  # fmt: skip
    add("new_pytorch_model.bin", BENIGN, "torch.save state dict, zip format",
        _lazy(lambda: _torch_bytes(_torch_state())), ONLY_CLEAN, ("torch",), "tests/test_scanner.py")  # fmt: skip
    add("int_array.npy", BENIGN, "numpy int array (no pickle)", _npy(lambda: __import__("numpy").arange(4)), NOT_A_PICKLE,
        ("numpy",), "initialize_numpy_files")  # fmt: skip
    add("object_array.npy", BENIGN, "numpy object array: pickle of numpy._reconstruct/ndarray/dtype",
        _npy(lambda: __import__("numpy").array([(1, 2), (3, 4)], dtype=object)), FLAGGED, ("numpy",),
        "initialize_numpy_files")  # fmt: skip
    add("dns_exfiltration.npy", MALICIOUS, "numpy object array holding ssl.get_server_certificate",
        _npy(_dns_array), FLAGGED, ("numpy",), "initialize_numpy_files")  # fmt: skip
    return out


def _dns_array() -> Any:
    import numpy as np

    class _Pay:
        def __reduce__(self) -> Any:
            import ssl

            return ssl.get_server_certificate, (("127.0.0.1", 9),)

    arr = np.empty(1, dtype=object)
    arr[0] = _Pay()
    return arr


# --------------------------------------------------------------------------------------------
# modelscan (protectai/modelscan: tests/test_modelscan.py, tests/test_utils.py)

_MS12_INNER = (
    pickle.PROTO + b"\x05" + pickle.GLOBAL + b"os\nsystem\n" + pickle.UNICODE + CMD.encode() + b"\n"
    + pickle.TUPLE1 + pickle.REDUCE + pickle.STOP
)
_MS12 = (
    pickle.PROTO + b"\x05" + pickle.GLOBAL + b"pickle\nloads\n" + pickle.BINBYTES
    + len(_MS12_INNER).to_bytes(4, "little") + _MS12_INNER + pickle.TUPLE1 + pickle.REDUCE
    + pickle.POP + pickle.NONE + pickle.STOP
)
_MS13 = (
    pickle.PROTO + b"\x05" + pickle.GLOBAL + b"builtins\neval.__call__\n" + pickle.UNICODE + CODE.encode() + b"\n"
    + pickle.TUPLE1 + pickle.REDUCE + pickle.STOP
)


def _dill(obj: Any, protocol: int) -> bytes:
    import dill  # type: ignore[import-untyped]

    return bytes(dill.dumps(obj, protocol=protocol))


def _modelscan() -> list[Sample]:
    ref = "tests/test_modelscan.py"
    out: list[Sample] = []

    def add(name: str, label: str, technique: str, build: Callable[[Path], None], want: frozenset[str],
            needs: tuple[str, ...] = (), where: str = ref) -> None:  # fmt: skip
        out.append(Sample("modelscan", name, label, technique, build, where, want, needs))

    for v in (0, 3, 4):
        add(f"benign0_v{v}.pkl", BENIGN, f"list of str, protocol {v}", _write(pickle.dumps(["a", "b", "c"], protocol=v)), ONLY_CLEAN)
        add(f"benign0_v{v}.dill", BENIGN, f"list of str through dill, protocol {v}",
            _lazy(lambda v=v: _dill(["a", "b", "c"], v)), ONLY_CLEAN, ("dill",))  # fmt: skip
        add(f"malicious1_v{v}.pkl", MALICIOUS, f"builtins.eval, protocol {v}", _write(obj_call(eval, (CODE,), v)), FLAGGED)
        add(f"malicious1_v{v}.dill", MALICIOUS, f"builtins.eval through dill, protocol {v}",
            _lazy(lambda v=v: _dill(_Reduce(eval, (CODE,)), v)), FLAGGED, ("dill",))  # fmt: skip
        add(f"malicious2_v{v}.pkl", MALICIOUS, f"os.system (posix.system), protocol {v}", _write(obj_call(os.system, (CMD,), v)), FLAGGED)
    add("malicious0.pkl", MALICIOUS, "Sour Pickles, protocol 0", _write(_SOUR), FLAGGED)
    add("malicious3.pkl", MALICIOUS, "http.client.HTTPSConnection, protocol 0",
        _lazy(lambda: call("http.client", "HTTPSConnection", ("127.0.0.1",), 0)), FLAGGED)  # fmt: skip
    add("malicious4.pickle", MALICIOUS, "requests.api.get",
        _lazy(lambda: call("requests.api", "get", ("http://127.0.0.1:9/",))), FLAGGED)  # fmt: skip
    add("malicious5.pickle", MALICIOUS, "aiohttp.client.ClientSession", _lazy(lambda: call("aiohttp.client", "ClientSession")), FLAGGED)
    add("malicious6.pkl", MALICIOUS, "benign pickle, then requests.api.get in a second pickle",
        _lazy(lambda: pickle.dumps(["a", "b", "c"]) + call("requests.api", "get", ("http://127.0.0.1:9/",))),
        FLAGGED_OR_UNREADABLE)  # fmt: skip
    add("malicious7.pkl", MALICIOUS, "socket.create_connection",
        _lazy(lambda: call("socket", "create_connection", (("127.0.0.1", 9),))), FLAGGED)  # fmt: skip
    add("malicious8.pkl", MALICIOUS, "subprocess.run", _lazy(lambda: call("subprocess", "run", ([CMD],))), FLAGGED)
    add("malicious9.pkl", MALICIOUS, "sys.exit", _write(obj_call(sys.exit, (0,))), FLAGGED)
    add("malicious10.pkl", MALICIOUS, "INST opcode: __builtin__.exec, protocol 0", _write(_INST), FLAGGED)
    add("malicious11.pkl", MALICIOUS, "STACK_GLOBAL from memoized UNICODE, no PROTO (CTF)", _write(_CTF), FLAGGED)
    add("malicious12.pkl", MALICIOUS, "pickle.loads of an os.system pickle held in BINBYTES", _write(_MS12), FLAGGED)
    add("malicious13.pkl", MALICIOUS, "GLOBAL builtins 'eval.__call__' (dotted name)", _write(_MS13), FLAGGED)
    add("malicious14.pkl", MALICIOUS, "CTF pickle followed by trailing whitespace", _write(_CTF + b"\n\n\t\t"), FLAGGED)
    add("malicious15.pkl", MALICIOUS, "bdb.Bdb.run with a pickled Bdb instance, protocol 4",
        _lazy(_bdb_run), FLAGGED)  # fmt: skip
    add("malicious1.zip", MALICIOUS, "eval pickle as data.pkl at the root of a plain zip",
        _lazy(lambda: _zip({"data.pkl": obj_call(eval, (CODE,))})), FLAGGED_OR_UNREADABLE)  # fmt: skip
    add("bad_pytorch.pt", BENIGN, "PNG header named .pt", _write(b"\x89PNG\r\n\x1a\n"), NOT_A_PICKLE)
    add("safe_zip_pytorch.pt", BENIGN, "torch.save state dict, zip format",
        _lazy(lambda: _torch_bytes(_torch_state())), ONLY_CLEAN, ("torch",))  # fmt: skip
    add("safe_old_format_pytorch.pt", BENIGN, "torch.save state dict, legacy format",
        _lazy(lambda: _torch_bytes(_torch_state(), zip_format=False)), ONLY_CLEAN, ("torch",))  # fmt: skip
    add("unsafe_zip_pytorch.pt", MALICIOUS, "torch.save through PickleInject: os.system before the state dict in data.pkl",
        _lazy(lambda: _torch_bytes(_torch_state(), pickle_module=_inject_module(_Reduce(os.system, (CMD,))))),
        FLAGGED, ("torch",), "tests/test_utils.py PyTorchTestModel")  # fmt: skip
    add("unsafe_old_format_pytorch.pt", MALICIOUS, "PickleInject on the legacy (non-zip) torch format",
        _lazy(lambda: _torch_bytes(_torch_state(), zip_format=False, pickle_module=_inject_module(_Reduce(os.system, (CMD,))))),
        FLAGGED, ("torch",), "tests/test_utils.py PyTorchTestModel(zipfile=False)")  # fmt: skip
    add("safe_numpy.npy", BENIGN, "numpy int array (no pickle)", _npy(lambda: __import__("numpy").array([[1, 2, 3], [4, 5, 6]])),
        NOT_A_PICKLE, ("numpy",))  # fmt: skip
    add("unsafe_numpy.npy", MALICIOUS, "PickleInject: builtins.exec before a pickled ndarray, named .npy",
        _lazy(lambda: inject_first(_Reduce(exec, (CODE,)), __import__("numpy").array([[1, 2, 3], [4, 5, 6]]))),
        FLAGGED, ("numpy",), "tests/test_utils.py generate_unsafe_pickle_file")  # fmt: skip
    add("unsafe.dill", MALICIOUS, "DillInject: builtins.exec before the model (keras model replaced by a dict)",
        _lazy(lambda: inject_first(_Reduce(exec, (CODE,)), {"layers": [1, 2]}, pickler=_dill_pickler())),
        FLAGGED, ("dill",), "tests/test_utils.py generate_dill_unsafe_file")  # fmt: skip
    add("runpy_inject.pkl", MALICIOUS, "PickleInject RunPy: runpy._run_code(code, {})",
        _lazy(_runpy_inject),
        FLAGGED, (), "tests/test_utils.py PickleInject.RunPy")  # fmt: skip
    return out


def _runpy_inject() -> bytes:
    with _global("runpy", "_run_code") as fn:
        return inject_first(_Reduce(fn, (CODE, {})), {"w": [1.0]})


def _dill_pickler() -> type[Any]:
    import dill

    return dill._dill.Pickler  # type: ignore[no-any-return]


def _bdb_run() -> bytes:
    import bdb

    return obj_call(bdb.Bdb.run, (bdb.Bdb(), PYCODE))


# --------------------------------------------------------------------------------------------
# fickling (trailofbits/fickling: test/*.py)


def frame_divergence(cmd: str = CMD) -> bytes:
    """test_frame_boundary_divergence (cpython#154848): BINBYTES of 0x107 bytes in a 2-byte frame
    placed past the C unpickler's read buffer; ``pickle.load(file)`` runs the GLOBAL hidden in it."""
    hidden = pickle.GLOBAL + b"os\nsystem\n" + pickle.UNICODE + cmd.encode() + b"\n" + pickle.TUPLE1 + pickle.REDUCE
    assert len(hidden) < 250
    return (
        pickle.PROTO + b"\x05" + pickle.NONE + pickle.UNICODE + b"a" * (8192 * 16 - 17) + b"\n" + pickle.POP
        + pickle.MARK + pickle.FRAME + struct.pack("<Q", 2) + pickle.BINBYTES + b"\x07\x01\x00\x00" + b"\x00\x00"
        + (hidden + pickle.MARK).ljust(256 + 5, pickle.NONE) + pickle.POP_MARK + pickle.STOP
    )


def polyglot(cmd: str = CMD) -> bytes:
    """A legacy-format pickle with a valid torch zip appended (fickling.polyglot's technique): torch
    picks the reader from the first bytes, so it runs the leading pickle."""
    return obj_call(os.system, (cmd,), 2) + _torch_bytes(_torch_state())


def _laughs(depth: int) -> bytes:
    """memo[i+1] = [memo[i], memo[i]] for ``depth`` levels; the result is the last list."""
    out = pickle.PROTO + b"\x04" + pickle.EMPTY_LIST + pickle.BINPUT + b"\x00"
    for i in range(depth):
        out += pickle.POP + pickle.EMPTY_LIST + pickle.BINPUT + bytes([i + 1])
        out += pickle.MARK + pickle.BINGET + bytes([i]) + pickle.BINGET + bytes([i]) + pickle.APPENDS
    return out + pickle.STOP


def _deep(n: int, open_op: bytes, close: bytes) -> bytes:
    return pickle.PROTO + b"\x04" + open_op * n + close * n + pickle.STOP


def _self_dict() -> bytes:
    d: dict[str, Any] = {}
    d["self"] = d
    return pickle.dumps(d, protocol=4)


def _fickling_insert(pkl: bytes) -> bytes:
    return _prepend_call(pkl, "builtins", "eval", "[5, 6, 7, 8]")


def _fickling() -> list[Sample]:
    out: list[Sample] = []

    def add(name: str, label: str, technique: str, data: bytes | Callable[[], bytes], want: frozenset[str],
            where: str, needs: tuple[str, ...] = (), slow: bool = False) -> None:  # fmt: skip
        build = _write(data) if isinstance(data, bytes) else _lazy(data)
        out.append(Sample("fickling", name, label, technique, build, where, want, needs, slow))

    bp = "test/test_bypasses.py"
    m = pickle.MEMOIZE

    def mal(name: str, technique: str, data: bytes | Callable[[], bytes], where: str = bp,
            want: frozenset[str] = FLAGGED) -> None:  # fmt: skip
        add(name, MALICIOUS, technique, data, want, where)

    pty_framed = sbu("pty") + m + sbu("spawn") + m + pickle.STACK_GLOBAL + m + sbu("id") + m + pickle.TUPLE1 + m
    pty_framed += pickle.REDUCE + m + sbu("gottem") + m + pickle.BUILD + pickle.STOP
    mal("pty_spawn_framed.pkl", "pty.spawn, protocol 4 with FRAME, BUILD after", framed(pty_framed))
    mal("pty_spawn_obj.pkl", "OBJ opcode on GLOBAL pty.spawn, protocol 0", pickle.MARK + pickle.GLOBAL + b"pty\nspawn\n"
        + pickle.STRING + b"'" + CMD.encode() + b"'\n" + pickle.OBJ + pickle.STOP)  # fmt: skip
    code = bytes(__import__("marshal").dumps(compile(CODE, "<s>", "exec")))
    marsh = sbu("marshal") + sbu("loads") + pickle.STACK_GLOBAL + m + pickle.BINGET + b"\x00"
    marsh += pickle.SHORT_BINBYTES + bytes([len(code)]) + code + pickle.TUPLE1 + pickle.REDUCE + m
    marsh += sbu("types") + sbu("FunctionType") + pickle.STACK_GLOBAL + m + pickle.BINGET + b"\x02" + pickle.BINGET + b"\x01"
    marsh += pickle.EMPTY_DICT + pickle.TUPLE2 + pickle.REDUCE + m + pickle.BINGET + b"\x03" + pickle.EMPTY_TUPLE
    marsh += pickle.REDUCE + m + sbu("gottem") + pickle.BUILD + pickle.STOP
    mal("marshal_functiontype.pkl", "marshal.loads code + types.FunctionType, called", framed(marsh, length=0))
    mal("runpy_run_path.pkl", "runpy.run_path", stack_call("runpy", "run_path", "/dev/null/x.py", protocol=5))
    mal("cprofile_run.pkl", "cProfile.run", stack_call("cProfile", "run", CODE, protocol=5))
    mal("ctypes_getattr.pkl", "builtins.getattr(ctypes.CDLL('libc'), 'system')('true')",
        getattr_chain("ctypes", "CDLL", ("libc.so.6",), "system", CMD))  # fmt: skip
    mal("pydoc_locate.pkl", "pydoc.locate('os.system')('true')", stack_call("pydoc", "locate", "os.system", protocol=5)[:-1]
        + sbu(CMD) + m + pickle.TUPLE1 + m + pickle.REDUCE + m + pickle.STOP)  # fmt: skip
    mal("importlib_getattr.pkl", "builtins.getattr(importlib.import_module('os'), 'system')",
        getattr_chain("importlib", "import_module", ("os",), "system", CMD))  # fmt: skip
    mal("code_interpreter.pkl", "builtins.getattr(code.InteractiveInterpreter(), 'runsource')",
        getattr_chain("code", "InteractiveInterpreter", (), "runsource", CODE))  # fmt: skip
    mal("multiprocessing_spawnv.pkl", "multiprocessing.util.spawnv_passfds",
        stack_call("multiprocessing.util", "spawnv_passfds", "/bin/true", protocol=5))  # fmt: skip
    mal("builtins_import_getattr.pkl", "GLOBAL builtins.__import__ + builtins.getattr, protocol 0",
        pickle.GLOBAL + b"builtins\n__import__\n" + pickle.STRING + b"'os'\n" + pickle.TUPLE1 + pickle.REDUCE
        + pickle.PUT + b"0\n" + pickle.POP + pickle.GLOBAL + b"builtins\ngetattr\n" + pickle.GET + b"0\n"
        + pickle.STRING + b"'system'\n" + pickle.TUPLE2 + pickle.REDUCE + pickle.PUT + b"1\n" + pickle.POP
        + pickle.GET + b"1\n" + pickle.STRING + b"'" + CMD.encode() + b"'\n" + pickle.TUPLE1 + pickle.REDUCE
        + pickle.STOP)  # fmt: skip
    mal("operator_methodcaller.pkl", "_operator.methodcaller('system', …)(builtins.__import__('os')), protocol 0",
        pickle.GLOBAL + b"_operator\nmethodcaller\n" + pickle.MARK + pickle.UNICODE + b"system\n"
        + pickle.UNICODE + CMD.encode() + b"\n" + pickle.TUPLE + pickle.REDUCE + pickle.GLOBAL
        + b"builtins\n__import__\n" + pickle.MARK + pickle.UNICODE + b"os\n" + pickle.TUPLE + pickle.REDUCE
        + pickle.TUPLE1 + pickle.REDUCE + pickle.STOP)  # fmt: skip
    mal("distutils_write_file.pkl", "distutils.file_util.write_file",
        stack_call("distutils.file_util", "write_file", "/dev/null", "", memo=False))  # fmt: skip
    mal("io_fileio.pkl", "_io.FileIO", stack_call("_io", "FileIO", "/dev/null", memo=False))
    mal("numpy_f2py.pkl", "numpy.f2py.crackfortran.getlincoef", stack_call("numpy.f2py.crackfortran", "getlincoef", PYCODE, memo=False))
    for module, cls in (("smtplib", "SMTP"), ("ftplib", "FTP"), ("telnetlib", "Telnet"), ("poplib", "POP3")):
        mal(f"ssrf_{module}.pkl", f"{module}.{cls}('127.0.0.1') (network SSRF)", stack_call(module, cls, "127.0.0.1", memo=False))
    mal("asyncio_subprocess.pkl", "asyncio.unix_events._UnixSubprocessTransport._start (dotted STACK_GLOBAL)",
        stack_call("asyncio.unix_events", "_UnixSubprocessTransport._start", CMD, memo=False))  # fmt: skip
    mal("obj_pop_smtplib.pkl", "OBJ call on smtplib.SMTP discarded by POP, result None",
        pickle.PROTO + b"\x04" + pickle.MARK + sbu("smtplib") + sbu("SMTP") + pickle.STACK_GLOBAL + sbu("127.0.0.1")
        + pickle.OBJ + pickle.POP + pickle.NONE + pickle.STOP)  # fmt: skip
    mal("uuid_command.pkl", "uuid._get_command_stdout", stack_call("uuid", "_get_command_stdout", "echo", CMD, memo=False))
    mal("aix_support.pkl", "_aix_support._read_cmd_output", stack_call("_aix_support", "_read_cmd_output", CMD, memo=False))
    mal("osx_support.pkl", "_osx_support._find_build_tool", stack_call("_osx_support", "_find_build_tool", "x", memo=False))
    mal("pathlib_os_system.pkl", "STACK_GLOBAL pathlib 'os.system' (dotted attribute of a stdlib module)",
        stack_call("pathlib", "os.system", memo=False))  # fmt: skip
    mal("ast_parse.pkl", "STACK_GLOBAL ast.parse, never called (MLAllowlist)",
        pickle.PROTO + b"\x04" + sbu("ast") + sbu("parse") + pickle.STACK_GLOBAL + pickle.STOP)  # fmt: skip
    mal("interpreters_create.pkl", "_interpreters.create", stack_call("_interpreters", "create", memo=False))
    mal("frame_boundary_divergence.pkl", "BINBYTES longer than its FRAME, past the read buffer: C unpickler runs os.system",
        frame_divergence, want=FLAGGED_OR_UNREADABLE)  # fmt: skip
    straddle = {
        "BINBYTES": framed(pickle.BINBYTES + struct.pack("<I", 20) + b"A" * 20 + pickle.STOP, 5, 5),
        "SHORT_BINUNICODE": framed(b"\x8c\x14" + b"A" * 20 + pickle.STOP, 5, 3),
        "GLOBAL_module": framed(pickle.GLOBAL + b"macos\nsystem\n" + pickle.STOP, 5, 4),
        "GLOBAL_attr": framed(pickle.GLOBAL + b"os\nsystem\n" + pickle.STOP, 5, 7),
        "BININT": framed(pickle.BININT + struct.pack("<i", 7) + pickle.STOP, 5, 2),
        "frame_in_frame": pickle.PROTO + b"\x05" + pickle.FRAME + struct.pack("<Q", 30) + pickle.NONE
        + pickle.FRAME + struct.pack("<Q", 2) + pickle.NONE + pickle.STOP,
    }
    for what, data in straddle.items():
        has_global = what.startswith("GLOBAL")
        want = FLAGGED if has_global else FLAGGED_OR_UNREADABLE
        if what == "BINBYTES":
            # Its frame ends exactly where the argument begins: the C and the Python unpickler both
            # read the argument from the file after the frame, so they decode the same harmless
            # program; clean is right (the loader imports nothing).
            want = want | ONLY_CLEAN
        add(f"frame_straddle_{what}.pkl", MALICIOUS, f"{what} argument crossing its FRAME's end", data, want, bp)
    # benign, as fickling's own tests expect them
    ta = "test/test_analysis.py"
    for module, name in (("collections", "deque"), ("collections.abc", "Iterable")):
        add(f"benign_{name}.pkl", BENIGN, f"STACK_GLOBAL {module}.{name}, never called",
            pickle.PROTO + b"\x04" + sbu(module) + m + sbu(name) + m + pickle.STACK_GLOBAL + pickle.STOP, FLAGGED, ta)  # fmt: skip
    add("builtins_len.pkl", BENIGN, "GLOBAL builtins.len called on []",
        pickle.GLOBAL + b"builtins\nlen\n" + pickle.EMPTY_LIST + pickle.TUPLE1 + pickle.REDUCE + pickle.STOP, FLAGGED, bp)  # fmt: skip
    add("builtins_dict.pkl", BENIGN, "GLOBAL builtins.dict called with ()",
        pickle.GLOBAL + b"builtins\ndict\n" + pickle.EMPTY_TUPLE + pickle.REDUCE + pickle.STOP, FLAGGED, bp)  # fmt: skip
    add("codecs_encode.pkl", BENIGN, "STACK_GLOBAL _codecs.encode (numpy's bytes), never called",
        pickle.PROTO + b"\x04" + sbu("_codecs") + sbu("encode") + pickle.STACK_GLOBAL + pickle.STOP, ONLY_CLEAN, bp)  # fmt: skip
    wf = "test/test_bypasses.py test_well_formed_frames_are_not_flagged"
    for what, obj, protos in (
        ("small_list", [1, 2, 3, 4], (2, 4, 5)),
        ("large_unframed_bytes", b"x" * 100000, (4, 5)),
        ("interleaved", [1, b"y" * 100000, 2], (5,)),
        ("several_frames", list(range(200000)), (4,)),
        ("nested", {"a": [1, 2, {"b": (3, 4)}], "c": [5, 6]}, (2, 5)),
    ):
        for p in protos:
            add(f"wellformed_{what}_v{p}.pkl", BENIGN, f"{what.replace('_', ' ')}, protocol {p}",
                pickle.dumps(obj, protocol=p), ONLY_CLEAN, wf)  # fmt: skip
    tp = "test/test_pickle.py"
    add("insert_python_eval.pkl", MALICIOUS, "insert_python_eval: builtins.eval call inserted into a pickled list",
        _fickling_insert(pickle.dumps([1, 2, 3, 4], protocol=4)), FLAGGED, tp)  # fmt: skip
    add("stacked_pickles.pkl", BENIGN, "two benign pickles back to back",
        pickle.dumps([1, 2, 3, 4]) + pickle.dumps([5, 6, 7, 8]), ONLY_CLEAN, tp)  # fmt: skip
    add("stacked_insert.pkl", MALICIOUS, "benign pickle, then a second one with an inserted builtins.eval",
        pickle.dumps([1, 2, 3, 4]) + _fickling_insert(pickle.dumps([5, 6, 7, 8], protocol=4)), FLAGGED_OR_UNREADABLE, tp)  # fmt: skip
    tc = "test/test_crashes.py"
    add("missing_mark_before_tuple.pkl", MALICIOUS, "TUPLE with no MARK: unreadable",
        pickle.PROTO + b"\x04" + pickle.NONE + pickle.TUPLE + pickle.STOP, FLAGGED_OR_UNREADABLE, tc)  # fmt: skip
    add("cyclic_list.pkl", BENIGN, "a list that contains itself",
        lambda: pickle.dumps(_cyclic_list(), protocol=4), ONLY_CLEAN, tc)  # fmt: skip
    add("cyclic_dict.pkl", BENIGN, "a dict that contains itself", _self_dict, ONLY_CLEAN, tc)
    te = "test/test_expansion_attack_analysis.py"
    add("memo_expansion.pkl", MALICIOUS, "one list appended to itself 60 times through BINGET (fickling: >= SUSPICIOUS)",
        pickle.PROTO + b"\x04" + pickle.EMPTY_LIST + m + (pickle.BINGET + b"\x00" + pickle.APPEND) * 60 + pickle.STOP,
        ONLY_CLEAN, te)  # fmt: skip
    add("dup_expansion.pkl", MALICIOUS, "150 DUPs of one list (fickling: >= SUSPICIOUS)",
        pickle.PROTO + b"\x04" + pickle.EMPTY_LIST + pickle.DUP * 150 + pickle.STOP, ONLY_CLEAN | {UNREADABLE}, te)  # fmt: skip
    add("billion_laughs_40.pkl", BENIGN, "lists that each hold the previous twice, 40 levels (2**40 paths)",
        _laughs(40), ONLY_CLEAN | {UNREADABLE}, te, slow=True)  # fmt: skip
    add("deep_nesting.pkl", BENIGN, "20,000 nested lists (MARK/LIST)",
        pickle.PROTO + b"\x04" + pickle.MARK * 20000 + pickle.LIST * 20000 + pickle.STOP, ONLY_CLEAN | {UNREADABLE}, tc, slow=True)  # fmt: skip
    tt = "test/test_pytorch.py"
    add("torch_injection_insertion.pt", MALICIOUS, "PyTorchModelWrapper.inject_payload insertion: eval call in data.pkl",
        lambda: _replace_data_pkl(_torch_bytes(_torch_state()), _fickling_insert), FLAGGED, tt, ("torch",))  # fmt: skip
    add("torch_v1_3.pt", BENIGN, "torch.save state dict (PyTorch v1.3 zip)", lambda: _torch_bytes(_torch_state()),
        ONLY_CLEAN, "test/test_polyglot.py", ("torch",))  # fmt: skip
    add("torch_v0_1_10.pt", BENIGN, "torch.save legacy stacked pickles (PyTorch v0.1.10)",
        lambda: _torch_bytes(_torch_state(), zip_format=False), ONLY_CLEAN, "test/test_polyglot.py", ("torch",))  # fmt: skip
    add("numpy_pickle.npy", BENIGN, "np.save of a dict: an object .npy (is_numpy_pickle)", lambda: _npy_bytes({"test": [1, 2, 3]}),
        FLAGGED, "test/test_polyglot.py", ("numpy",))  # fmt: skip
    add("polyglot_pickle_then_zip.pt", MALICIOUS, "legacy pickle running os.system, then a valid torch zip (fickling.polyglot)",
        polyglot, FLAGGED, "fickling/polyglot.py (technique)", ("torch",))  # fmt: skip
    return out


def _cyclic_list() -> list[Any]:
    a: list[Any] = []
    a.append(a)
    return a


def _npy_bytes(obj: Any) -> bytes:
    import numpy as np

    buf = io.BytesIO()
    np.save(buf, np.array(obj, dtype=object), allow_pickle=True)
    return buf.getvalue()


def samples() -> list[Sample]:
    """Every sample, picklescan's first, in the peers' own order."""
    return _picklescan() + _modelscan() + _fickling()


def missing_needs(s: Sample) -> list[str]:
    out = []
    for mod in s.needs:
        try:
            __import__(mod)
        except ImportError:
            out.append(mod)
    return out


def build(s: Sample, folder: Path) -> Path:
    path = folder / s.peer / s.name
    path.parent.mkdir(parents=True, exist_ok=True)
    s.build(path)
    return path


# --------------------------------------------------------------------------------------------
# Ground truth: what the loader's C unpickler would import


def _normal(module: str, name: str) -> str:
    from _compat_pickle import IMPORT_MAPPING, NAME_MAPPING

    if (module, name) in NAME_MAPPING:
        module, name = NAME_MAPPING[(module, name)]
    elif module in IMPORT_MAPPING:
        module = IMPORT_MAPPING[module]
    return f"{module}.{name}"


class _Anything:
    """What a recorded global resolves to: accepts every call, item, append and state."""

    def __init__(self, *_a: Any, **_k: Any) -> None:
        pass

    def __call__(self, *_a: Any, **_k: Any) -> _Anything:
        return _Anything()

    def __setstate__(self, _state: Any) -> None:
        pass

    def __setitem__(self, _k: Any, _v: Any) -> None:
        pass

    def append(self, _v: Any) -> None:
        pass

    def extend(self, _v: Any) -> None:
        pass

    def add(self, _v: Any) -> None:
        pass


class _Recorder(pickle.Unpickler):
    def __init__(self, f: Any, seen: list[str]) -> None:
        super().__init__(f)
        self.seen = seen

    def find_class(self, module: str, name: str) -> Any:
        self.seen.append(_normal(module, name))
        return type(name.replace(".", "_") or "_", (_Anything,), {})

    def persistent_load(self, pid: Any) -> Any:
        return _Anything()


def _record(f: Any, seen: list[str]) -> tuple[Any, str | None]:
    try:
        return _Recorder(f, seen).load(), None
    except RecursionError:
        return None, "RecursionError"
    except Exception as e:  # what the loader would raise after the imports it asked for
        return None, f"{type(e).__name__}: {e}"[:120]


def loader_imports(path: Path) -> tuple[list[str], str]:
    """The globals the C unpickler asks for when the file is loaded as torch.load
    (``weights_only=False``), ``pickle.load`` or ``numpy.load(allow_pickle=True)`` would load it,
    and how it was read. Nothing is resolved: every global becomes an inert stand-in."""
    seen: list[str] = []
    with open(path, "rb") as f:
        head = f.read(8)
        f.seek(0)
        if head.startswith(b"PK\x03\x04"):
            with zipfile.ZipFile(f) as z:
                names = z.namelist()
                top = names[0].split("/", 1)[0] if names and "/" in names[0] else None
                if top is None or f"{top}/data.pkl" not in names:
                    return [], "zip without <folder>/data.pkl: torch.load refuses it"
                with z.open(f"{top}/data.pkl") as member:
                    _record(member, seen)
                return seen, f"torch zip: {top}/data.pkl"
        if head.startswith(b"\x93NUMPY"):
            major = head[6]
            f.seek(8)
            size = struct.unpack("<H" if major == 1 else "<I", f.read(2 if major == 1 else 4))[0]
            header = ast.literal_eval(f.read(size).decode("latin1"))
            if "O" not in str(header.get("descr")):
                return [], "npy without objects: no pickle"
            _record(f, seen)
            return seen, "npy object array: pickle.load after the header"
        if head.startswith(b"7z\xbc\xaf\x27\x1c"):
            return [], "7z: no loader opens it"
        value, err = _record(f, seen)
        if value != TORCH_MAGIC:
            return seen, "first pickle (pickle.load, torch.load's magic number)" + (f"; {err}" if err else "")
        for _ in range(4):  # protocol version, sys info, the object, storage keys
            value, err = _record(f, seen)
            if err:
                break
        return seen, "legacy torch: magic, version, sys info, object, storage keys"


def torch_allowed() -> frozenset[str] | None:
    """``torch.load(weights_only=True)``'s allowlist, from the installed torch (None without torch)."""
    try:
        from torch import _weights_only_unpickler as w
    except ImportError:
        return None
    return frozenset(w._get_allowed_globals()) | frozenset(w._get_user_allowed_globals())


def outside_allowlist(path: Path) -> list[str] | None:
    allowed = torch_allowed()
    if allowed is None:
        return None
    seen, _ = loader_imports(path)
    return sorted({g for g in seen if g not in allowed})


# --------------------------------------------------------------------------------------------
# inspect's verdict


def verdict_of(doc: dict[str, Any]) -> str:
    codes = {f["code"] for f in doc["findings"]}
    serious = sorted({f["code"] for f in doc["findings"] if f["severity"] in ("error", "warning")})
    if "pickle-unsafe-import" in codes:
        return UNSAFE
    if "pickle-ambiguous" in codes:
        return AMBIGUOUS
    if "checkpoint-unreadable" in codes:
        return UNREADABLE
    if not serious:
        return CLEAN
    return "problems: " + ", ".join(serious)


def inspect_verdict(path: Path, *, timeout: float | None = None) -> str:
    """inspect's verdict on one file: unsafe, unreadable, clean, refused, ``problems: …``,
    ``crash: …`` or ``timeout``. With ``timeout``, the CLI runs in a child process."""
    if timeout is not None:
        return _cli_verdict(path, timeout)
    from hfcache.errors import BadInputError
    from hfcache.inspect import inspect_target

    try:
        return verdict_of(inspect_target(str(path)).to_json())
    except BadInputError:
        return REFUSED
    except RecursionError:
        return "crash: RecursionError"
    except Exception as e:
        return f"crash: {type(e).__name__}"


def _cli_verdict(path: Path, timeout: float) -> str:
    root = Path(__file__).resolve().parent.parent
    env = {**os.environ, "PYTHONPATH": str(root)}
    try:
        r = subprocess.run(
            [sys.executable, "-m", "hfcache", "inspect", str(path), "--json"],
            capture_output=True,
            timeout=timeout,
            env=env,
            check=False,
        )
    except subprocess.TimeoutExpired:
        return "timeout"
    if r.returncode == 2:
        return REFUSED
    try:
        return verdict_of(json.loads(r.stdout))
    except ValueError:
        err = r.stderr.decode(errors="replace").strip().splitlines()
        return "crash: " + (err[-1][:80] if err else f"exit {r.returncode}")


def main() -> None:  # pragma: no cover - a quick look: python tests/peer_samples.py DIR
    folder = Path(sys.argv[1])
    for s in samples():
        if missing_needs(s):
            continue
        p = build(s, folder)
        with suppress(Exception):
            print(s.key, s.label, inspect_verdict(p), outside_allowlist(p))


if __name__ == "__main__":  # pragma: no cover
    main()
