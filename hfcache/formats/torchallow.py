"""The globals a torch checkpoint may import: torch's ``weights_only`` unpickler, reproduced.

:data:`ALLOWED` is the set ``torch.load(weights_only=True)`` accepts (torch 2.13,
``_get_allowed_globals``; ``tests`` compare it with the installed torch), and :func:`torch_name`
applies the renames that unpickler makes to protocol 2 names first (``__builtin__.set`` is
``builtins.set``). A global outside the set is one torch would refuse to load: it may run code.
"""

from __future__ import annotations

from hfcache.formats.pickleread.values import Import

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
    """Would torch's weights_only unpickler accept this global?"""
    return torch_name(imp) in ALLOWED
