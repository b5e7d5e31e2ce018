"""One checkpoint file → its tensors (name, dtype, shape, bytes), read without torch and without data.

safetensors files are read through their header, torch files through
:mod:`hfcache.formats.torchfile` (pickle opcodes followed symbolically, never run), GGUF files
through their metadata and tensor infos (:mod:`hfcache.formats.gguf`), ONNX files through the
protobuf fields that hold their initializers (:mod:`hfcache.formats.onnx`). The format is
decided by the file's first bytes where it has a magic number (zip, pickle, GGUF), by its
extension otherwise (safetensors, ONNX).
"""

from __future__ import annotations

import os
import zipfile
from dataclasses import dataclass, field, replace
from typing import Any

from hfcache.formats.gguf import MAGIC as GGUF_MAGIC
from hfcache.formats.gguf import read_gguf
from hfcache.formats.onnx import read_onnx
from hfcache.formats.safetensors import DTYPE_BITS, Header, HeaderError, read_header
from hfcache.formats.torchfile import TensorInfo as TorchTensor
from hfcache.formats.torchfile import read_torch_file

SAFETENSORS = "safetensors"
TORCH_ZIP = "torch-zip"
TORCH_LEGACY = "torch-legacy"
PICKLE = "pickle"
GGUF = "gguf"
ONNX = "onnx"
UNKNOWN = "unknown"

WEIGHT_SUFFIXES = (".safetensors", ".bin", ".pt", ".pth", ".ckpt", ".gguf", ".onnx")
"""File names :func:`read_checkpoint` is meant for."""


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
        count = 1
        for dim in self.shape:
            count *= dim
        return count

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
        with open(content, "rb") as f:
            head = f.read(8)
    except OSError:
        head = b""
    if head.startswith(b"PK\x03\x04"):
        return TORCH_ZIP
    if head.startswith(GGUF_MAGIC):
        return GGUF
    if name.endswith(".safetensors"):
        return SAFETENSORS
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
    if kind in (TORCH_ZIP, TORCH_LEGACY):
        return _torch(base, content)
    if kind == GGUF:
        return _gguf(base, content)
    if kind == ONNX:
        return _onnx(base, content, path)
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
        got = read_torch_file(content)
    except (OSError, ValueError, EOFError, zipfile.BadZipFile, NotImplementedError) as e:
        # a damaged zip directory, a compression zipfile lacks, an unreadable file
        return _with(base, problem=f"cannot read it: {e}")
    fmt = TORCH_ZIP if got.format == "zip" else TORCH_LEGACY
    unsafe = tuple(dict.fromkeys(i.qualname for i in got.unsafe))
    if unsafe:
        return _with(base, format=fmt if got.format == "zip" or not got.problems else PICKLE, unsafe=unsafe)
    if got.problems:
        neither = got.format != "zip" and got.problems[0].startswith("not a torch checkpoint")
        return _with(base, format=UNKNOWN if neither else fmt, problem="; ".join(got.problems))
    records = tuple(
        TensorRecord(t.name, t.dtype, t.shape, base.name, t.nbytes, f"{t.storage_key}@{t.offset}")
        for t in got.tensors
    )
    unknown = sorted({t.dtype for t in got.tensors if t.dtype not in DTYPE_BITS and t.dtype != "C128"})
    details = {"unusual_dtypes": unknown} if unknown else {}
    return _with(base, format=fmt, tensors=records, torch=got.tensors, details=details)


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
