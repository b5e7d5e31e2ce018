"""torch checkpoints (``.bin``, ``.pt``, ``.pth``) read without torch and without unpickling.

Which pickles are read is what ``torch.load`` would run, decided as ``torch/serialization.py``
decides it:

- a file whose first four bytes are a zip local header (``PK\\x03\\x04``, torch's
  ``_is_zipfile``) is the zip ``torch.save`` writes: ``<root>/data.pkl``, where ``<root>`` is
  the folder of the zip's first member (as torch's ``PyTorchFileReader`` finds it). A zip
  that holds ``<root>/constants.pkl`` is a TorchScript archive, which ``torch.load`` hands to
  ``torch.jit.load``: that runs the archive's TorchScript code;
- anything else is the legacy format: first the tar layout of torch before 0.4 (``tarfile``
  opens it), else the pickles in a row: magic number, protocol, system info, the object, the
  storage keys; then each storage's element count and bytes. Every pickle torch would run on
  that path is followed, up to the first one that stops torch. A file with a pickle in front
  and a zip behind is judged by the pickle (torch never looks at the zip);
- :func:`read_pickle_file`: a raw pickle (``pickle.load`` runs its first pickle).

Every global a pickle imports is judged against :data:`ALLOWED`, the set torch's
``weights_only`` unpickler accepts (``_get_allowed_globals``; ``tests`` compare it with the
installed torch), after the renames that unpickler applies to protocol 2 names
(``__builtin__.set`` is ``builtins.set``). Anything else is unsafe, and nothing more is read
from such a file. For a file that passes: every tensor wherever the structure holds it (a bare
tensor, lists, tuples, nested dicts as in training checkpoints), named by its path, with its
storage checked against the bytes the file holds.
"""

from __future__ import annotations

import os
import tarfile
import zipfile
from dataclasses import dataclass, field
from typing import IO, Any, BinaryIO

from hfcache.formats.pickle.scan import scan_pickle
from hfcache.formats.pickle.source import MAX_PICKLE_BYTES
from hfcache.formats.pickle.values import Call, Import, Key, PickleScan, Storage
from hfcache.formats.regular import open_regular

# Globals torch's weights_only unpickler accepts (torch 2.13, _get_allowed_globals), by group.
_DTYPES = (  # noqa: SIM905 - a word list reads better than dozens of quoted names
    "uint8 int8 int16 int32 int64 float16 float32 float64 complex32 complex64 complex128 bool bfloat16 "
    "qint8 quint8 qint32 quint4x2 quint2x4 bits1x8 bits2x4 bits4x2 bits8 bits16 float8_e4m3fn "
    "float8_e5m2 float8_e4m3fnuz float8_e5m2fnuz float8_e8m0fnu float4_e2m1fn_x2 uint16 uint32 uint64 "
    "uint1 uint2 uint3 uint4 uint5 uint6 uint7 int1 int2 int3 int4 int5 int6 int7"
).split()
_TENSOR_TYPES = ["Double", "Float", "Half", "BFloat16", "Long", "Int", "Short", "Char", "Byte", "Bool"]
_STORAGE_TYPES = [*_TENSOR_TYPES, "ComplexFloat", "ComplexDouble", "QInt8", "QUInt8", "QInt32"]
_STORAGE_TYPES += ["QUInt4x2", "QUInt2x4"]
_REBUILDERS = (  # noqa: SIM905 - a word list reads better than dozens of quoted names
    "_rebuild_tensor _rebuild_tensor_v2 _rebuild_tensor_v3 _rebuild_parameter "
    "_rebuild_parameter_with_state _rebuild_qtensor _rebuild_sparse_tensor "
    "_rebuild_meta_tensor_no_storage _rebuild_nested_tensor _rebuild_wrapper_subclass "
    "_rebuild_device_tensor_from_numpy _rebuild_device_tensor_from_cpu_tensor"
).split()
_OTHERS = (  # noqa: SIM905 - a word list reads better than dozens of quoted names
    "collections.OrderedDict collections.Counter torch.nn.parameter.Parameter "
    "torch.serialization._get_layout torch.Size torch.Tensor torch.device _codecs.encode "
    "builtins.bytearray builtins.set builtins.complex torch._tensor._rebuild_from_type_v2 "
    "torch.storage.UntypedStorage torch.storage.TypedStorage torch.per_tensor_affine "
    "torch.per_channel_affine torch.per_tensor_symmetric torch.per_channel_symmetric "
    "torch.per_channel_affine_float_qparams"
).split()
_CUDA_STORAGES = [*_TENSOR_TYPES, "ComplexFloat", "ComplexDouble"]
_SPARSE = [t for t in _TENSOR_TYPES if t != "Bool"]

ALLOWED: frozenset[str] = frozenset(
    _OTHERS
    + [f"torch._utils.{name}" for name in _REBUILDERS]
    + [f"torch.{name}" for name in _DTYPES]
    + [f"torch.{name}Storage" for name in _STORAGE_TYPES]
    + [f"torch.cuda.{name}Storage" for name in _CUDA_STORAGES]
    + [f"torch.{name}Tensor" for name in _TENSOR_TYPES]
    + [f"torch.cuda.{name}Tensor" for name in _TENSOR_TYPES]
    + [f"torch.sparse.{name}Tensor" for name in _SPARSE]
    + [f"torch.cuda.sparse.{name}Tensor" for name in _SPARSE]
)
"""Globals torch's ``weights_only`` unpickler accepts: nothing that can run code."""

NAME_MAPPING: dict[tuple[str, str], tuple[str, str]] = {
    ("__builtin__", "xrange"): ("builtins", "range"),
    ("__builtin__", "reduce"): ("functools", "reduce"),
    ("__builtin__", "intern"): ("sys", "intern"),
    ("__builtin__", "unichr"): ("builtins", "chr"),
    ("__builtin__", "unicode"): ("builtins", "str"),
    ("__builtin__", "long"): ("builtins", "int"),
    ("itertools", "izip"): ("builtins", "zip"),
    ("itertools", "imap"): ("builtins", "map"),
    ("itertools", "ifilter"): ("builtins", "filter"),
    ("itertools", "ifilterfalse"): ("itertools", "filterfalse"),
    ("itertools", "izip_longest"): ("itertools", "zip_longest"),
    ("UserDict", "IterableUserDict"): ("collections", "UserDict"),
    ("UserList", "UserList"): ("collections", "UserList"),
    ("UserString", "UserString"): ("collections", "UserString"),
    ("__builtin__", "basestring"): ("builtins", "str"),
    ("exceptions", "StandardError"): ("builtins", "Exception"),
    ("UserDict", "UserDict"): ("collections", "UserDict"),
}
"""The renames torch's weights_only unpickler applies to every GLOBAL (its ``NAME_MAPPING``)."""
IMPORT_MAPPING: dict[str, str] = {
    "__builtin__": "builtins", "copy_reg": "copyreg", "Queue": "queue", "repr": "reprlib",
    "_abcoll": "collections.abc", "UserDict": "collections", "UserList": "collections",
    "UserString": "collections", "whichdb": "dbm", "StringIO": "io", "cStringIO": "io",
}  # fmt: skip
"""Its module renames (``IMPORT_MAPPING``), applied when no name rename matched."""

LEGACY_MAGIC = 0x1950A86A20F9469CFC6C
"""The number the first pickle of a legacy (before torch 1.6) file holds."""
LEGACY_PROTOCOL = 1001

_STORAGE_DTYPES = {
    "DoubleStorage": ("F64", 8), "FloatStorage": ("F32", 4), "HalfStorage": ("F16", 2),
    "BFloat16Storage": ("BF16", 2), "LongStorage": ("I64", 8), "IntStorage": ("I32", 4),
    "ShortStorage": ("I16", 2), "CharStorage": ("I8", 1), "ByteStorage": ("U8", 1),
    "BoolStorage": ("BOOL", 1), "ComplexFloatStorage": ("C64", 8), "ComplexDoubleStorage": ("C128", 16),
    "QInt8Storage": ("QI8", 1), "QUInt8Storage": ("QU8", 1), "QInt32Storage": ("QI32", 4),
    "QUInt4x2Storage": ("QU4x2", 1), "QUInt2x4Storage": ("QU2x4", 1), "UntypedStorage": ("U8", 1),
}  # fmt: skip
_DTYPE_NAMES = {
    "float64": ("F64", 8), "float32": ("F32", 4), "float16": ("F16", 2), "bfloat16": ("BF16", 2),
    "int64": ("I64", 8), "int32": ("I32", 4), "int16": ("I16", 2), "int8": ("I8", 1), "uint8": ("U8", 1),
    "uint16": ("U16", 2), "uint32": ("U32", 4), "uint64": ("U64", 8), "bool": ("BOOL", 1),
    "complex64": ("C64", 8), "complex128": ("C128", 16), "float8_e4m3fn": ("F8_E4M3", 1),
    "float8_e5m2": ("F8_E5M2", 1), "float8_e4m3fnuz": ("F8_E4M3FNUZ", 1),
    "float8_e5m2fnuz": ("F8_E5M2FNUZ", 1), "float8_e8m0fnu": ("F8_E8M0", 1),
    "float4_e2m1fn_x2": ("F4_E2M1_X2", 1),
}  # fmt: skip
_TENSOR_CALLS = frozenset({"_rebuild_tensor", "_rebuild_tensor_v2", "_rebuild_tensor_v3", "_rebuild_qtensor"})
_WRAPPERS = frozenset({"_rebuild_parameter", "_rebuild_parameter_with_state"})
_PARAMETER = "torch.nn.parameter.Parameter"
_FROM_TYPE = "torch._tensor._rebuild_from_type_v2"

MAX_DEPTH = 64
"""Deepest nesting walked to find tensors (a training checkpoint nests four or five levels)."""
MAX_VISITS = 2_000_000
MAX_TENSORS = 1_000_000
MAX_NAME = 1024
TORCHSCRIPT_KNOWN = ("__torch__", "torch")
"""Module prefixes a TorchScript archive's pickles name: torch.jit.load's own unpickler (C++)
resolves these from the archive's code and torch, and nothing else."""


def torch_name(imp: Import) -> str:
    """The global as torch's weights_only unpickler looks it up (protocol 2 names renamed)."""
    key = (imp.module, imp.name)
    if key in NAME_MAPPING:
        module, name = NAME_MAPPING[key]
    else:
        module, name = IMPORT_MAPPING.get(imp.module, imp.module), imp.name
    return f"{module}.{name}"


def is_safe(imp: Import) -> bool:
    return torch_name(imp) in ALLOWED


@dataclass(frozen=True)
class TensorInfo:
    """One tensor of a checkpoint: where its bytes are (``storage_key``) and how many."""

    name: str
    dtype: str
    shape: tuple[int, ...]
    storage_key: str
    offset: int
    nbytes: int
    stride: tuple[int, ...] | None = None  # elements; None when the call did not give one
    storage_numel: int | None = None  # elements of the storage, as its persistent id says
    itemsize: int = 0

    @property
    def parameters(self) -> int:
        count = 1
        for dim in self.shape:
            count *= dim
        return count


@dataclass(frozen=True)
class TorchFile:
    """What a torch checkpoint holds, read without running it.

    ``format``: ``zip``, ``legacy``, ``tar``, ``torchscript`` or ``pickle``. ``problems``: why
    its contents cannot be known (then ``tensors`` is empty); ``truncated``: storages the file
    holds fewer bytes of than its tensors need; ``ambiguous``: a pickle that readers decode
    differently (unsafe whatever it seems to import).
    """

    format: str
    imports: tuple[Import, ...]
    tensors: tuple[TensorInfo, ...]
    problems: tuple[str, ...]
    truncated: tuple[str, ...] = ()
    ambiguous: bool = False
    notes: tuple[str, ...] = field(default=())

    @property
    def unsafe(self) -> list[Import]:
        if self.format == "torchscript":
            known = TORCHSCRIPT_KNOWN
            return [i for i in self.imports if not (is_safe(i) or i.module.split(".")[0] in known)]
        return [i for i in self.imports if not is_safe(i)]


# -- tensors, wherever the structure holds them
def _dtype_of(storage: Storage, dtype_arg: Any) -> tuple[str, int]:
    kind = storage.storage_type
    name = kind.name if isinstance(kind, Import) else str(kind)
    if name == "UntypedStorage" and isinstance(dtype_arg, Import) and dtype_arg.module == "torch":
        return _DTYPE_NAMES.get(dtype_arg.name, ("?", 0))
    return _STORAGE_DTYPES.get(name, ("?", 0))


def _ints(value: Any) -> tuple[int, ...] | None:
    if isinstance(value, tuple) and all(type(d) is int for d in value):
        return value
    if isinstance(value, Call) and isinstance(value.func, Import) and value.func.qualname == "torch.Size":
        return _ints(value.args[0]) if value.args else None
    return None


def _unwrap(call: Call) -> Call | None:
    """The ``_rebuild_tensor*`` call a value is, through Parameter and subclass wrappers."""
    for _ in range(8):
        func = call.func
        if not isinstance(func, Import):
            return None
        if func.module == "torch._utils" and func.name in _TENSOR_CALLS:
            return call
        inner: Any = None
        if (func.module == "torch._utils" and func.name in _WRAPPERS) or func.qualname == _PARAMETER:
            inner = call.args[0] if call.args else None
        elif func.qualname == _FROM_TYPE and len(call.args) >= 3 and isinstance(call.args[2], tuple):
            inner = Call(call.args[0], call.args[2])
        if not isinstance(inner, Call):
            return None
        call = inner
    return None


def _tensor(name: str, value: Call) -> TensorInfo | str | None:
    """A tensor from its call; ``None`` if the value is not one; a reason if it is one that
    cannot be sized."""
    call = _unwrap(value)
    if call is None:
        return None
    args = call.args
    if len(args) < 3:
        return f"{name}: a tensor call with too few arguments"
    storage, offset, size = args[0], args[1], _ints(args[2])
    if not isinstance(storage, Storage) or type(offset) is not int or size is None:
        return f"{name}: a tensor whose storage, offset or shape hfcache cannot read"
    if offset < 0 or any(d < 0 for d in size):
        return f"{name}: a negative offset or dimension"
    stride = _ints(args[3]) if len(args) > 3 else None
    v3 = isinstance(call.func, Import) and call.func.name == "_rebuild_tensor_v3"
    dtype_arg = args[6] if v3 and len(args) > 6 else None
    dtype, itemsize = _dtype_of(storage, dtype_arg)
    count = 1
    for d in size:
        count *= d
    return TensorInfo(
        name, dtype, size, storage.key, offset, count * itemsize, stride, storage.numel, itemsize
    )


def _key_name(key: Any) -> str:
    if isinstance(key, str):
        return key
    if isinstance(key, (int, float, bool)) or key is None:
        return str(key)
    if isinstance(key, bytes):
        return key.decode("utf-8", "backslashreplace")
    return "?"


def tensors_of(value: Any) -> tuple[list[TensorInfo], list[str]]:
    """Every tensor of the structure built by :func:`scan_pickle`, named by its path
    (``model.layer.weight``, ``0``, ``optimizer.state.0.exp_avg``; a bare tensor is ``tensor``),
    and what stopped the walk. Iterative; each container is walked once (a second path to it
    adds nothing), within :data:`MAX_DEPTH`, :data:`MAX_VISITS` and :data:`MAX_TENSORS`."""
    found: list[TensorInfo] = []
    problems: list[str] = []
    seen: set[int] = set()
    todo: list[tuple[Any, str, int]] = [(value, "", 0)]
    visits = 0
    while todo:
        item, name, depth = todo.pop()
        visits += 1
        if visits > MAX_VISITS or len(found) > MAX_TENSORS:
            return found, [f"more than {MAX_VISITS} values or {MAX_TENSORS} tensors: too large to list"]
        if isinstance(item, Call):
            got = _tensor(name or "tensor", item)
            if isinstance(got, TensorInfo):
                found.append(got)
                continue
            if isinstance(got, str):
                problems.append(got)
                continue
        if not isinstance(item, (dict, list, tuple, Call)) or id(item) in seen:
            continue
        seen.add(id(item))
        if depth >= MAX_DEPTH or len(name) > MAX_NAME:
            problems.append(f"{name[:80]}: nested deeper than hfcache follows")
            continue
        prefix = f"{name}." if name else ""
        children: list[tuple[Any, str]] = []
        if isinstance(item, dict):
            children = [
                (v, prefix + _key_name(k.value if isinstance(k, Key) else k)) for k, v in item.items()
            ]
        elif isinstance(item, (list, tuple)):
            children = [(v, f"{prefix}{i}") for i, v in enumerate(item)]
        else:
            children = [(v, f"{prefix}{i}") for i, v in enumerate(item.args)]
            if item.state is not None:
                children.append((item.state, name))  # an object's attributes: named as the object
        todo.extend((v, n, depth + 1) for v, n in reversed(children))
    return found, problems[:20]


def _extent(t: TensorInfo) -> int:
    """Elements of storage the tensor reaches, from its offset."""
    if any(d == 0 for d in t.shape):
        return 0
    stride = t.stride if t.stride is not None and len(t.stride) == len(t.shape) else None
    if stride is None:
        return t.offset + t.parameters
    return t.offset + 1 + sum((d - 1) * s for d, s in zip(t.shape, stride, strict=True))


def _check_storages(
    tensors: list[TensorInfo], held: dict[str, int | None], where: str
) -> tuple[list[str], list[str]]:
    """(problems, truncated): each tensor's storage is present, within its storage, and held
    whole (``held``: bytes the file has for each storage key; None where unknown)."""
    problems: list[str] = []
    truncated: list[str] = []
    reported: set[str] = set()
    for t in tensors:
        if t.storage_key not in held:
            problems.append(f"{t.name}: its storage {where}{t.storage_key} is not in the file")
            continue
        if t.storage_numel is not None and _extent(t) > t.storage_numel:
            problems.append(f"{t.name}: reaches past the end of its storage ({t.storage_numel} elements)")
            continue
        have = held[t.storage_key]
        need = (t.storage_numel or 0) * t.itemsize
        if have is not None and have < need and t.storage_key not in reported:
            reported.add(t.storage_key)
            truncated.append(f"storage {where}{t.storage_key} holds {have} of its {need} bytes")
    return problems[:20], truncated[:20]


# -- the file, as torch.load decides what it is
def read_torch_file(path: str) -> TorchFile:
    """Scan a torch checkpoint as ``torch.load`` would read it (see the module's text)."""
    with open_regular(path) as f:
        head = f.read(4)
        f.seek(0)
        if head == b"PK\x03\x04":
            return _read_zip(f)
        if _is_tar(f):
            return _read_tar(f)
        f.seek(0)
        return _read_legacy(f, os.fstat(f.fileno()).st_size)


MAX_STACKED = 16
"""Pickles read one after another from a raw pickle file (a second ``pickle.load`` on the same
file, as joblib and hand-written loaders do, runs the next one)."""


def read_pickle_file(path: str) -> TorchFile:
    """A raw pickle (``.pkl``, ``.pickle``, ``.dill``, ``.joblib``...): the first pickle, as
    ``pickle.load`` runs it, whatever its first byte (protocols 0 and 1 have no header).

    Pickles stacked after it are followed too, and what they import counts: ``pickle.load``
    reads one, but a loader that calls it again runs the next. Bytes after the last pickle that
    do not read as one are data (``pickle.load`` never looks at them), not an error.
    """
    with open_regular(path) as f:
        first = scan_pickle(f)
        scans = [first]
        while first.error is None and len(scans) < MAX_STACKED and _more(f):
            more = scan_pickle(f)
            scans.append(more)
            if more.error is not None:
                more.error = None if not more.ambiguous else more.error
                break
    return _judged("pickle", scans, [])


def _more(f: BinaryIO) -> bool:
    """Do bytes follow where ``f`` stands?"""
    if not f.read(1):
        return False
    f.seek(-1, os.SEEK_CUR)
    return True


def read_pickle_stream(f: BinaryIO | IO[bytes], fmt: str) -> TorchFile:
    """The pickle that starts where ``f`` stands (in a ``.npy`` file, after its header)."""
    return _judged(fmt, [scan_pickle(f)], [])  # type: ignore[arg-type]


def _judged(fmt: str, scans: list[PickleScan], problems: list[str]) -> TorchFile:
    imports = tuple(i for s in scans for i in s.imports)
    errors = [s.error for s in scans if s.error]
    return TorchFile(fmt, imports, (), tuple(errors + problems), ambiguous=any(s.ambiguous for s in scans))


def _is_tar(f: BinaryIO) -> bool:
    """Would ``tarfile.open(fileobj=f, mode="r:")`` (torch's first try on a legacy file) open it?"""
    try:
        with tarfile.open(fileobj=f, mode="r:"):
            return True
    except (tarfile.TarError, OSError, ValueError, EOFError):
        return False


def _read_tar(f: BinaryIO) -> TorchFile:
    """torch before 0.4: pickles in the members ``storages``, ``tensors`` and ``pickle``. Only the
    first pickle of each is followed (raw storage bytes come between the others)."""
    f.seek(0)
    scans: list[PickleScan] = []
    try:
        with tarfile.open(fileobj=f, mode="r:") as tar:
            for member in ("storages", "tensors", "pickle"):
                data = tar.extractfile(member)
                if data is None:
                    break
                scans.append(scan_pickle(data))  # type: ignore[arg-type]
    except (tarfile.TarError, KeyError, OSError, ValueError, EOFError) as e:
        return _judged("tar", scans, [f"a tar checkpoint torch cannot read either: {type(e).__name__}"])
    problem = (
        "the tar layout of torch before 0.4: hfcache follows only its first pickles and lists no tensors"
    )
    return _judged("tar", scans, [problem])


def _read_zip(f: BinaryIO) -> TorchFile:
    try:
        z = zipfile.ZipFile(f)
    except (zipfile.BadZipFile, OSError, ValueError, EOFError) as e:
        return TorchFile("zip", (), (), (f"a damaged zip: {e}",))
    with z:
        infos = z.infolist()
        names = [i.filename for i in infos]
        if not names or "/" not in names[0]:
            return TorchFile("zip", (), (), ("its first member is in no folder: not a torch.save zip",))
        if len(set(names)) != len(names):
            return TorchFile(
                "zip", (), (), ("two members share a name: zip readers disagree on which is read",)
            )
        root = names[0].split("/", 1)[0]
        by_name = {i.filename: i for i in infos}
        torchscript = f"{root}/constants.pkl" in by_name
        fmt = "torchscript" if torchscript else "zip"
        pickles = [("data.pkl", "data/")] + ([("constants.pkl", "constants/")] if torchscript else [])
        scans: list[tuple[PickleScan, str]] = []
        for name, folder in pickles:
            info = by_name.get(f"{root}/{name}")
            if info is None:
                return TorchFile(fmt, (), (), (f"no {root}/{name}: not a torch.save zip",))
            if info.file_size > MAX_PICKLE_BYTES:
                return TorchFile(
                    fmt, (), (), (f"{name} is larger than {MAX_PICKLE_BYTES} bytes: too large to follow",)
                )
            try:
                with z.open(info) as member:
                    data = member.read(MAX_PICKLE_BYTES + 1)
            except (
                zipfile.BadZipFile,
                OSError,
                ValueError,
                EOFError,
                NotImplementedError,
                RuntimeError,
            ) as e:
                return TorchFile(fmt, (), (), (f"{name} cannot be read from the zip: {e}",))
            scans.append((scan_pickle(data), folder))
        held: dict[str, int | None] = {
            n[len(root) + 1 :]: i.file_size for n, i in by_name.items() if n.startswith(f"{root}/")
        }
    return _contents(fmt, scans, held)


def _contents(fmt: str, scans: list[tuple[PickleScan, str]], held: dict[str, int | None]) -> TorchFile:
    judged = _judged(fmt, [s for s, _ in scans], [])
    if judged.problems or judged.unsafe or judged.ambiguous:
        return judged
    tensors: list[TensorInfo] = []
    problems: list[str] = []
    truncated: list[str] = []
    for i, (scan, folder) in enumerate(scans):
        found, walk_problems = tensors_of(scan.value)
        if i:  # a TorchScript archive's constants: named apart from the module's attributes
            found = [_renamed(t, f"constants.{t.name}") for t in found]
        mine = {k[len(folder) :]: v for k, v in held.items() if k.startswith(folder)}
        bad, short = _check_storages(found, mine, folder)
        tensors += found
        problems += walk_problems + bad
        truncated += short
    if problems:
        return TorchFile(fmt, judged.imports, (), tuple(problems))
    return TorchFile(fmt, judged.imports, tuple(tensors), (), tuple(truncated))


def _renamed(t: TensorInfo, name: str) -> TensorInfo:
    return TensorInfo(
        name, t.dtype, t.shape, t.storage_key, t.offset, t.nbytes, t.stride, t.storage_numel, t.itemsize
    )


def _read_legacy(f: BinaryIO, size: int) -> TorchFile:
    """Magic number, protocol, system info, the object, storage keys: five pickles, then for each
    storage key in that order, its element count (8 bytes, little-endian) and its bytes."""
    scans: list[PickleScan] = []
    for step in range(5):
        scan = scan_pickle(f)
        scans.append(scan)
        if scan.error:
            break
        stop = (step == 0 and scan.value != LEGACY_MAGIC) or (step == 1 and scan.value != LEGACY_PROTOCOL)
        if stop and not scan.imports:  # torch stops here: it runs nothing after this pickle
            what = "magic number" if step == 0 else "protocol version"
            return _judged(
                "legacy", scans, [f"not a torch checkpoint (neither the zip layout nor the legacy {what})"]
            )
    judged = _judged("legacy", scans, [])
    if judged.problems or judged.unsafe or judged.ambiguous:
        return judged
    if len(scans) < 5:
        return _judged("legacy", scans, ["the legacy pickles are not all there"])
    tensors, problems = tensors_of(scans[3].value)
    keys = scans[4].value
    if not isinstance(keys, list) or not all(isinstance(k, str) for k in keys):
        return _judged("legacy", scans, ["the storage key list is not a list of names"])
    storages = _legacy_storages(scans[3].value)
    held, truncated = _legacy_held(f, size, keys, storages)
    bad, short = _check_storages(tensors, held, "")
    if problems or bad:
        return TorchFile("legacy", judged.imports, (), tuple(problems + bad))
    return TorchFile("legacy", judged.imports, tuple(tensors), (), tuple(truncated + short))


def _legacy_storages(value: Any) -> dict[str, Storage]:
    found: dict[str, Storage] = {}
    todo: list[Any] = [value]
    seen: set[int] = set()
    while todo and len(seen) < MAX_VISITS:
        item = todo.pop()
        if isinstance(item, Storage):
            found.setdefault(item.key, item)
        elif isinstance(item, (dict, list, tuple, Call)) and id(item) not in seen:
            seen.add(id(item))
            if isinstance(item, dict):
                todo.extend(item.values())
            elif isinstance(item, Call):
                todo.extend(item.args)
                todo.append(item.state)
            else:
                todo.extend(item)
    return found


def _legacy_held(
    f: BinaryIO, size: int, keys: list[str], storages: dict[str, Storage]
) -> tuple[dict[str, int | None], list[str]]:
    """Bytes the file holds for each storage, walking the records torch reads in key order."""
    held: dict[str, int | None] = {}
    truncated: list[str] = []
    pos = f.tell()
    for key in keys[:MAX_TENSORS]:
        storage = storages.get(key)
        itemsize = _dtype_of(storage, None)[1] if storage is not None else 0
        f.seek(pos)
        head = f.read(8)
        if len(head) < 8:
            held[key] = 0
            truncated.append(f"the file ends before storage {key} (at byte {pos} of {size})")
            break
        count = int.from_bytes(head, "little")
        nbytes = count * itemsize
        if storage is not None and count != storage.numel:
            truncated.append(f"storage {key} says {count} elements where its tensor says {storage.numel}")
        held[key] = max(0, min(nbytes, size - pos - 8))
        pos += 8 + nbytes
        if pos > size:
            truncated.append(f"storage {key} needs {nbytes} bytes; the file ends {pos - size} bytes early")
            break
    for key in keys:  # storages after the end of the file: none of their bytes are here
        held.setdefault(key, 0)
    return held, truncated[:20]
