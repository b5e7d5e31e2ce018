"""torch checkpoints (``.bin``, ``.pt``, ``.pth``) read without torch and without unpickling.

The opcodes are followed by :mod:`hfcache.formats.pickleops`, which never runs anything. Every
global a file imports is judged against :data:`ALLOWED`, an allowlist equivalent to torch's
``weights_only`` unpickler; anything else is unsafe, and nothing more is read from such a file.
For a file that passes: every tensor's name, dtype, shape and storage, from the
``_rebuild_tensor_v2`` calls of the state dict, checked against the ``data/<key>`` members of the
zip layout ``torch.save`` writes (or read from the five pickles of the format before torch 1.6).
"""

from __future__ import annotations

import io
import re
import zipfile
from dataclasses import dataclass
from typing import Any

from hfcache.formats.pickleops import MAX_PICKLE_BYTES, Call, Import, Storage, scan_pickle

_TORCH_DTYPES = (  # noqa: SIM905 - a word list reads better than dozens of quoted names
    "float16 float32 float64 bfloat16 half float double complex32 complex64 complex128 cfloat cdouble "
    "uint8 uint16 uint32 uint64 int8 int16 int32 int64 short int long bool quint8 qint8 qint32 quint4x2 "
    "quint2x4 bits1x8 bits2x4 bits4x2 bits8 bits16 float8_e4m3fn float8_e5m2 float8_e4m3fnuz "
    "float8_e5m2fnuz float8_e8m0fnu float4_e2m1fn_x2 int1 int2 int3 int4 int5 int6 int7 uint1 uint2 "
    "uint3 uint4 uint5 uint6 uint7"
).split()
_STORAGES = {
    "DoubleStorage": ("F64", 8), "FloatStorage": ("F32", 4), "HalfStorage": ("F16", 2),
    "BFloat16Storage": ("BF16", 2), "LongStorage": ("I64", 8), "IntStorage": ("I32", 4),
    "ShortStorage": ("I16", 2), "CharStorage": ("I8", 1), "ByteStorage": ("U8", 1),
    "BoolStorage": ("BOOL", 1), "ComplexFloatStorage": ("C64", 8), "ComplexDoubleStorage": ("C128", 16),
    "QInt8Storage": ("QI8", 1), "QUInt8Storage": ("QU8", 1), "QInt32Storage": ("QI32", 4),
    "QUInt4x2Storage": ("QU4x2", 1), "QUInt2x4Storage": ("QU2x4", 1), "UntypedStorage": ("U8", 1),
}  # fmt: skip
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
    "torch.per_channel_affine_float_qparams torch.strided torch.sparse_coo torch.sparse_csr "
    "torch.sparse_csc torch.sparse_bsr torch.sparse_bsc torch._mkldnn"
).split()

ALLOWED: frozenset[str] = frozenset(
    _OTHERS
    + [f"torch._utils.{name}" for name in _REBUILDERS]
    + [f"torch.{name}" for name in _TORCH_DTYPES]
    + [f"torch.{name}" for name in _STORAGES]
)
"""Globals torch's ``weights_only`` unpickler accepts: nothing that can run code."""

LEGACY_MAGIC = 0x1950A86A20F9469CFC6C
"""The number the first pickle of a legacy (before torch 1.6) file holds."""


def is_safe(imp: Import) -> bool:
    return imp.qualname in ALLOWED


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

    @property
    def parameters(self) -> int:
        count = 1
        for dim in self.shape:
            count *= dim
        return count


@dataclass(frozen=True)
class TorchFile:
    """What a torch checkpoint holds, read without running it."""

    format: str  # "zip" or "legacy"
    imports: tuple[Import, ...]
    tensors: tuple[TensorInfo, ...]
    problems: tuple[str, ...]

    @property
    def unsafe(self) -> list[Import]:
        return [i for i in self.imports if not is_safe(i)]


def _tensor(name: str, call: Call) -> TensorInfo | None:
    """A ``_rebuild_tensor_v2(storage, offset, size, stride, ...)`` call, or a Parameter around one."""
    func = call.func
    if isinstance(func, Import) and func.name == "_rebuild_parameter" and call.args:
        inner = call.args[0]
        return _tensor(name, inner) if isinstance(inner, Call) else None
    if not (isinstance(func, Import) and func.name in ("_rebuild_tensor_v2", "_rebuild_tensor")):
        return None
    if len(call.args) < 3:
        return None
    storage, offset, size = call.args[0], call.args[1], call.args[2]
    if not isinstance(storage, Storage) or not isinstance(offset, int) or not isinstance(size, tuple):
        return None
    kind = (
        storage.storage_type.name if isinstance(storage.storage_type, Import) else str(storage.storage_type)
    )
    dtype, itemsize = _STORAGES.get(kind, ("?", 0))
    shape = tuple(int(d) for d in size)
    count = 1
    for d in shape:
        count *= d
    raw_stride = call.args[3] if len(call.args) > 3 else None
    stride = (
        tuple(int(d) for d in raw_stride)
        if isinstance(raw_stride, tuple) and all(isinstance(d, int) for d in raw_stride)
        else None
    )
    return TensorInfo(name, dtype, shape, storage.key, offset, count * itemsize, stride)


def tensors_of(value: Any, prefix: str = "") -> list[TensorInfo]:
    """Every tensor of a (nested) state dict built symbolically by :func:`scan_pickle`."""
    found: list[TensorInfo] = []
    if isinstance(value, dict):
        for key, item in value.items():
            name = f"{prefix}{key}"
            tensor = _tensor(name, item) if isinstance(item, Call) else None
            if tensor is not None:
                found.append(tensor)
            else:
                found.extend(tensors_of(item, f"{name}."))
    return found


def read_torch_file(path: str) -> TorchFile:
    """Scan a torch checkpoint: the zip ``torch.save`` writes, or the legacy pickles before 1.6."""
    if zipfile.is_zipfile(path):
        return _read_zip(path)
    return _read_legacy(path)


def _read_zip(path: str) -> TorchFile:
    with zipfile.ZipFile(path) as z:
        names = z.namelist()
        pkl = [n for n in names if re.fullmatch(r"[^/]+/data\.pkl", n)]
        if len(pkl) != 1:
            return TorchFile("zip", (), (), ("no single <root>/data.pkl: not a torch.save zip",))
        info = z.getinfo(pkl[0])
        if info.file_size > MAX_PICKLE_BYTES:
            return TorchFile("zip", (), (), ("data.pkl is too large to scan",))
        scan = scan_pickle(z.read(info))
        root = pkl[0].split("/", 1)[0]
        stored = {n[len(root) + len("/data/") :] for n in names if n.startswith(f"{root}/data/")}
    imports = tuple(scan.imports)
    if scan.error or not all(is_safe(i) for i in imports):
        return TorchFile("zip", imports, (), (scan.error,) if scan.error else ())
    tensors = tensors_of(scan.value)
    missing = [
        f"{t.name}: its storage data/{t.storage_key} is not in the file"
        for t in tensors
        if t.storage_key not in stored
    ]
    return TorchFile("zip", imports, tuple(tensors), tuple(missing))


def _read_legacy(path: str) -> TorchFile:
    """Magic number, protocol, system info, the object, storage keys: five pickles, then raw data."""
    with open(path, "rb") as f:
        stream = io.BytesIO(f.read(MAX_PICKLE_BYTES))
    scans = []
    for _ in range(5):
        scans.append(scan_pickle(stream))
        if scans[-1].error:
            break
    imports = tuple(i for s in scans for i in s.imports)
    problems = [s.error for s in scans if s.error]
    if scans[0].value != LEGACY_MAGIC:
        problems.insert(0, "not a torch checkpoint (neither the zip layout nor the legacy magic number)")
    if problems or not all(is_safe(i) for i in imports) or len(scans) < 4:
        return TorchFile("legacy", imports, (), tuple(p for p in problems if p))
    return TorchFile("legacy", imports, tuple(tensors_of(scans[3].value)), ())
