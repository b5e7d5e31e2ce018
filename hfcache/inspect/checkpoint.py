"""One checkpoint file → its tensors (name, dtype, shape, bytes), read without torch and without data.

safetensors files are read through their header, torch files through
:mod:`hfcache.formats.torchfile` (pickle opcodes followed symbolically, never run), GGUF files
through their metadata and tensor infos (:mod:`hfcache.formats.gguf`), ONNX files through the
protobuf fields that hold their initializers (:mod:`hfcache.formats.onnx`). The format is
decided by the file's first bytes where it has a magic number (zip, pickle, GGUF, ``.npy``), by
its extension otherwise (safetensors, ONNX, raw pickles); a file of no known format that reads
as a pickle is one. Files are opened only if they are regular files, without blocking
(:mod:`hfcache.formats.regular`).
"""

from __future__ import annotations

import math
import os
import zipfile
from dataclasses import dataclass, field, replace
from typing import Any

from hfcache.formats.gguf import MAGIC as GGUF_MAGIC
from hfcache.formats.gguf import read_gguf
from hfcache.formats.onnx import read_onnx
from hfcache.formats.regular import open_regular
from hfcache.formats.safetensors import Header, HeaderError, read_header
from hfcache.formats.safetensors.dtypes import DTYPE_BITS
from hfcache.formats.torchfile import read_pickle_file, read_torch_file
from hfcache.formats.torchfile import read_pickle_stream as read_npy_pickle
from hfcache.formats.torchresult import TorchFile
from hfcache.formats.torchtensors import TensorInfo as TorchTensor

SAFETENSORS = "safetensors"
TORCH_ZIP = "torch-zip"
TORCH_LEGACY = "torch-legacy"
PICKLE = "pickle"
TORCHSCRIPT = "torchscript"
NPY_PICKLE = "npy-pickle"
GGUF = "gguf"
ONNX = "onnx"
UNKNOWN = "unknown"

WEIGHT_SUFFIXES = (".safetensors", ".bin", ".pt", ".pth", ".ckpt", ".gguf", ".onnx")
"""File names :func:`read_checkpoint` is meant for."""
PICKLE_SUFFIXES = (".pkl", ".pickle", ".dill", ".joblib", ".npy")
"""Files that are (or may carry) a pickle, scanned whatever their first byte when named."""


@dataclass(frozen=True, slots=True)
class TensorRecord:
    """One tensor: where it is (``file``, and for torch files its ``storage`` key and offset)."""

    name: str
    dtype: str
    shape: tuple[int, ...]
    file: str
    nbytes: int
    storage: str | None = None
    offset: int | None = None  # GGUF: from the start of the data section

    @property
    def parameters(self) -> int:
        return math.prod(self.shape)

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "dtype": self.dtype,
            "shape": list(self.shape),
            "parameters": self.parameters,
            "bytes": self.nbytes,
            "file": self.file,
        } | ({} if self.offset is None else {"offset": self.offset})


@dataclass(frozen=True)
class CheckpointFile:
    """What one file holds. ``problem`` says why it could not be read; ``unsafe`` lists the
    globals a pickle imports outside torch's ``weights_only`` allowlist (then nothing else is read)."""

    name: str
    path: str
    format: str
    size: int | None
    tensors: tuple[TensorRecord, ...] = ()
    problem: str | None = None
    unsafe: tuple[str, ...] = ()
    details: dict[str, Any] = field(default_factory=dict)
    header: Header | None = None
    torch: tuple[TorchTensor, ...] = ()
    issues: tuple[tuple[str, str], ...] = ()
    """(finding code, sentence) of what is wrong while the tensors could still be listed."""
    ambiguous: str | None = None
    """Why readers disagree on what the file's pickle runs (then it is unsafe, whatever it imports)."""
    short: tuple[str, ...] = ()
    """torch storages the file holds fewer bytes of than its tensors need (a truncated file)."""

    @property
    def parameters(self) -> int:
        return sum(t.parameters for t in self.tensors)

    @property
    def nbytes(self) -> int:
        return sum(t.nbytes for t in self.tensors)

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "path": self.path,
            "format": self.format,
            "size": self.size,
            "tensors": len(self.tensors),
            "parameters": self.parameters,
            "bytes": self.nbytes,
            "problem": self.problem,
            "unsafe_imports": list(self.unsafe),
            "details": self.details,
        }


def sniff(content: str, name: str) -> str:
    """The format of a file, from its first bytes and then its name."""
    try:
        with open_regular(content) as f:  # a FIFO or device is refused, never waited on
            head = f.read(8)
    except OSError:
        head = b""
    if head.startswith(b"PK\x03\x04"):
        return TORCH_ZIP
    if head.startswith(GGUF_MAGIC):
        return GGUF
    if name.endswith(".safetensors"):
        return SAFETENSORS
    if head.startswith(b"\x93NUMPY"):
        return NPY_PICKLE
    if name.endswith(PICKLE_SUFFIXES):
        return PICKLE
    if head.startswith(b"\x80") or name.endswith((".bin", ".pt", ".pth", ".ckpt")):
        return TORCH_LEGACY
    if name.endswith(".onnx"):
        return ONNX
    return UNKNOWN


def read_checkpoint(name: str, path: str, content: str | None, *, follow_symlinks: bool) -> CheckpointFile:
    """Read one file from ``content`` (``None``: its bytes are not here); never raises for bad bytes."""
    if content is None:
        return CheckpointFile(
            name, path, UNKNOWN, None, problem="its bytes are not here (run hfcache doctor)"
        )
    try:
        size: int | None = os.stat(content).st_size
    except OSError as e:
        return CheckpointFile(name, path, UNKNOWN, None, problem=f"cannot read it: {e.strerror or e}")
    kind = sniff(content, name)
    base = CheckpointFile(name, path, kind, size)
    if kind == SAFETENSORS:
        return _safetensors(base, content, follow_symlinks)
    if kind in (TORCH_ZIP, TORCH_LEGACY, PICKLE, NPY_PICKLE):
        return _torch(base, content)
    if kind == GGUF:
        return _gguf(base, content)
    if kind == ONNX:
        return _onnx(base, content, path)
    got = _torch(replace(base, format=PICKLE), content)
    if got.unsafe or got.ambiguous or got.problem is None:
        return got  # a raw pickle under another name: imports something, or reads to its STOP
    return _with(base, problem="not a checkpoint format hfcache knows")


def _with(base: CheckpointFile, **changes: Any) -> CheckpointFile:
    return replace(base, **changes)


def _safetensors(base: CheckpointFile, content: str, follow_symlinks: bool) -> CheckpointFile:
    header = read_header(content, follow_symlinks=follow_symlinks)
    if isinstance(header, HeaderError):
        return _with(base, problem=header.reason)
    records = tuple(
        TensorRecord(n, t.dtype, t.shape, base.name, t.end - t.begin) for n, t in header.tensors.items()
    )
    details: dict[str, Any] = {"metadata": header.metadata, "data_start": header.data_start}
    if base.size is not None and base.size != header.expected_size:  # the loader refuses both
        problem = "truncated" if base.size < header.expected_size else "trailing-bytes"
        return _with(base, tensors=records, header=header, details=details, problem=problem)
    return _with(base, tensors=records, header=header, details=details)


def _torch(base: CheckpointFile, content: str) -> CheckpointFile:
    try:
        if base.format == PICKLE:
            got = read_pickle_file(content)
        elif base.format == NPY_PICKLE:
            got = _npy(content)
        else:
            got = read_torch_file(content)
    except (OSError, ValueError, EOFError, zipfile.BadZipFile, NotImplementedError) as e:
        # a damaged zip directory, a compression zipfile lacks, an unreadable file
        return _with(base, problem=f"cannot read it: {e}")
    fmt = {"zip": TORCH_ZIP, "torchscript": TORCHSCRIPT, "pickle": PICKLE, "npy-pickle": NPY_PICKLE}
    kind = fmt.get(got.format, "npy" if got.format == "npy" else TORCH_LEGACY)
    unsafe = tuple(dict.fromkeys(i.qualname for i in got.unsafe))
    if got.ambiguous:
        reason = next((p for p in got.problems if p.startswith("readers disagree")), "readers disagree")
        return _with(base, format=kind, unsafe=unsafe, ambiguous=reason)
    if unsafe:
        not_torch = got.format == "legacy" and bool(got.problems)
        return _with(base, format=PICKLE if not_torch else kind, unsafe=unsafe)
    if got.problems:
        neither = got.format == "legacy" and got.problems[0].startswith("not a torch checkpoint")
        return _with(base, format=UNKNOWN if neither else kind, problem="; ".join(got.problems))
    records = tuple(
        TensorRecord(t.name, t.dtype, t.shape, base.name, t.nbytes, f"{t.storage_key}@{t.offset}")
        for t in got.tensors
    )
    unknown = sorted({t.dtype for t in got.tensors if t.dtype not in DTYPE_BITS and t.dtype != "C128"})
    details: dict[str, Any] = {"unusual_dtypes": unknown} if unknown else {}
    if got.format == "torchscript":
        details["runs_code"] = "torch.jit.load runs the TorchScript code in this archive"
    return _with(base, format=kind, tensors=records, torch=got.tensors, details=details, short=got.truncated)


def _npy(content: str) -> TorchFile:
    """A ``.npy`` file: with an object dtype, ``np.load(allow_pickle=True)`` unpickles what follows
    its header; the pickle is followed. Without one it holds no pickle."""
    with open_regular(content) as f:
        head = f.read(10)
        major = head[6] if len(head) == 10 else 0
        if major == 1:
            length = int.from_bytes(head[8:10], "little")
        else:
            length = int.from_bytes(head[8:10] + f.read(2), "little")
        header = f.read(min(length, 1 << 16))
        if b"|O'" not in header and b"'O'" not in header:
            return TorchFile("npy", (), (), ())  # plain numbers: np.load unpickles nothing
        return read_npy_pickle(f, "npy-pickle")


def _gguf(base: CheckpointFile, content: str) -> CheckpointFile:
    from hfcache.inspect.exports import ISSUE_CODES, gguf_facts

    g = read_gguf(content)
    if isinstance(g, HeaderError):
        return _with(base, problem=g.reason)
    records = tuple(
        TensorRecord(t.name, t.type.name, t.shape, base.name, t.nbytes, offset=t.offset) for t in g.tensors
    )
    issues = tuple((ISSUE_CODES[kind], text) for kind, text in g.problems)
    return _with(base, tensors=records, details=gguf_facts(g), issues=issues)


def _onnx(base: CheckpointFile, content: str, path: str) -> CheckpointFile:
    from hfcache.inspect.exports import ISSUE_CODES, onnx_facts

    m = read_onnx(content, os.path.dirname(path))
    if isinstance(m, HeaderError):
        return _with(base, problem=f"not an ONNX model: {m.reason}")
    records = tuple(TensorRecord(t.name, t.dtype, t.shape, base.name, t.nbytes) for t in m.tensors)
    shown = "; ".join(m.problems[:3]) + (f"; and {len(m.problems) - 3} more" if len(m.problems) > 3 else "")
    issues = ((ISSUE_CODES["onnx"], shown),) if m.problems else ()
    return _with(base, tensors=records, details=onnx_facts(m), issues=issues)
