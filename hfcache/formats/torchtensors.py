"""Tensors found in the structure a torch pickle builds: named by their path, sized, and checked.

A tensor is a ``torch._utils._rebuild_tensor*`` call (perhaps wrapped in a Parameter or a
subclass rebuild) over a :class:`~hfcache.formats.pickleread.values.Storage`; it may sit anywhere:
a bare tensor, lists, tuples, nested dicts as in training checkpoints. :func:`tensors_of` finds
them all within fixed bounds, and :func:`check_storages` holds each against the bytes the file
has for its storage.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from hfcache.formats.pickleread.values import Call, Import, Key, Storage

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
        return math.prod(self.shape)


def dtype_of(storage: Storage, dtype_arg: Any) -> tuple[str, int]:
    """The dtype and item size of a storage (an untyped one takes the dtype its tensor gives)."""
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
    dtype, itemsize = dtype_of(storage, dtype_arg)
    return TensorInfo(
        name, dtype, size, storage.key, offset, math.prod(size) * itemsize, stride, storage.numel, itemsize
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


def check_storages(
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
