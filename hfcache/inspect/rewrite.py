"""Write a copy of a checkpoint with a key prefix stripped, as safetensors, into a new folder.

The tensor bytes are streamed (1 MiB at a time) from the source: a safetensors file's data
block is copied as it is behind a new header; a torch zip (one that passed the pickle scan)
has each tensor's storage member copied, which is only right when the tensor covers its whole
storage, contiguous, from offset 0, and that is all this writer accepts. Nothing is ever
overwritten: the folder must be new or empty and outside any Hugging Face cache, every file is
created exclusively, and each header written is read back and compared before the copy counts.
"""

from __future__ import annotations

import json
import os
import posixpath
import re
import struct
import zipfile
from collections.abc import Iterable
from dataclasses import dataclass
from typing import IO, Any

from hfcache import layout
from hfcache.errors import BadInputError, HfcacheError
from hfcache.formats.regular import open_regular
from hfcache.formats.safetensors import Header, HeaderError, read_header
from hfcache.formats.safetensors.dtypes import DTYPE_BITS
from hfcache.inspect.checkpoint import SAFETENSORS, TORCH_ZIP, CheckpointFile
from hfcache.inspect.keys import strip
from hfcache.inspect.target import Target

CHUNK = 1 << 20
COMPANIONS = re.compile(
    r"(config|generation_config|preprocessor_config|processor_config|tokenizer_config|special_tokens_map"
    r"|added_tokens)\.json|tokenizer\.(json|model)|vocab\.(json|txt)|merges\.txt|spiece\.model"
    r"|sentencepiece\.bpe\.model|chat_template\.(jinja|json)"
)
"""Files copied beside the weights: what ``from_pretrained`` and the tokenizer read besides them."""


@dataclass(frozen=True)
class Written:
    """The copy: its folder, the weight files written, the companions copied, names renamed."""

    path: str
    files: tuple[str, ...]
    copied: tuple[str, ...]
    renamed: int
    tensors: int

    def to_json(self) -> dict[str, Any]:
        return {
            "path": self.path,
            "files": list(self.files),
            "copied": list(self.copied),
            "renamed": self.renamed,
            "tensors": self.tensors,
        }


def _refuse_destination(dest: str, roots: Iterable[str]) -> None:
    if os.path.lexists(dest) and (not os.path.isdir(dest) or os.listdir(dest)):
        raise BadInputError(f"--write-to {dest}: exists and is not an empty folder (nothing is overwritten)")
    real = os.path.realpath(dest)
    for root in roots:
        if layout.is_within(real, os.path.realpath(root)):
            raise BadInputError(
                f"--write-to {dest}: inside the Hugging Face cache {root}; choose a new folder"
            )
    probe = real
    while os.path.dirname(probe) != probe:
        if layout.parse_repo_folder(os.path.basename(probe)) is not None:
            raise BadInputError(f"--write-to {dest}: inside the cache repo folder {probe}")
        probe = os.path.dirname(probe)


def _out_name(name: str) -> str:
    """``pytorch_model-00001-of-00002.bin`` → ``model-00001-of-00002.safetensors``."""
    folder, base = posixpath.split(name)
    if not base.endswith(".safetensors"):
        stem = base.rsplit(".", 1)[0]
        base = (stem[len("pytorch_") :] if stem.startswith("pytorch_model") else stem) + ".safetensors"
    return posixpath.join(folder, base)


def _create(dest: str, name: str) -> IO[bytes]:
    path = os.path.join(dest, *name.split("/"))
    os.makedirs(os.path.dirname(path), exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), 0o644)
    return os.fdopen(fd, "wb")


def _copy(src: IO[bytes], dst: IO[bytes], count: int) -> None:
    while count > 0:
        chunk = src.read(min(CHUNK, count))
        if not chunk:
            raise HfcacheError(f"the source ended {count} bytes early while copying")
        dst.write(chunk)
        count -= len(chunk)


def _header_bytes(entries: dict[str, dict[str, Any]], metadata: dict[str, str]) -> bytes:
    doc: dict[str, Any] = {"__metadata__": {"format": "pt", **metadata}, **entries}
    raw = json.dumps(doc, separators=(",", ":")).encode()
    raw += b" " * (-len(raw) % 8)
    return struct.pack("<Q", len(raw)) + raw


def _renamed(names: Iterable[str], prefixes: tuple[str, ...], file: str) -> dict[str, str]:
    mapping = {n: strip(n, prefixes) for n in names}
    if len(set(mapping.values())) != len(mapping):
        raise BadInputError(f"{file}: stripping {', '.join(prefixes)} gives two tensors the same name")
    return mapping


def _from_safetensors(got: CheckpointFile, content: str, out: IO[bytes], mapping: dict[str, str]) -> None:
    header = got.header
    assert header is not None
    entries = {
        mapping[n]: {"dtype": t.dtype, "shape": list(t.shape), "data_offsets": [t.begin, t.end]}
        for n, t in sorted(header.tensors.items(), key=lambda item: item[1].begin)
    }
    out.write(_header_bytes(entries, header.metadata))
    with open_regular(content) as src:
        src.seek(header.data_start)
        _copy(src, out, header.expected_size - header.data_start)


def _is_contiguous(shape: tuple[int, ...], stride: tuple[int, ...]) -> bool:
    """Row-major with no gaps (a dimension of size 1 may have any stride: it is never stepped)."""
    if len(stride) != len(shape):
        return False
    step = 1
    for dim, got in zip(reversed(shape), reversed(stride), strict=True):
        if dim != 1 and got != step:
            return False
        step *= dim
    return True


def _from_torch_zip(got: CheckpointFile, content: str, out: IO[bytes], mapping: dict[str, str]) -> None:
    with zipfile.ZipFile(content) as z:
        roots = {n.split("/", 1)[0] for n in z.namelist() if n.endswith("/data.pkl")}
        root = next(iter(roots))
        sizes = {i.filename: i.file_size for i in z.infolist()}
        order = sorted(got.torch, key=lambda t: (-DTYPE_BITS.get(t.dtype, 8), mapping[t.name]))
        entries: dict[str, dict[str, Any]] = {}
        offset = 0
        for t in order:
            member = f"{root}/data/{t.storage_key}"
            why = None
            if t.dtype not in DTYPE_BITS:
                why = f"dtype {t.dtype} has no safetensors equivalent"
            elif t.offset != 0 or sizes.get(member) != t.nbytes:
                why = "it is a view into part of a larger storage"
            elif t.stride is not None and not _is_contiguous(t.shape, t.stride):
                why = f"its stride {t.stride} is not contiguous"
            if why is not None:
                raise BadInputError(f"{got.name}: cannot convert tensor {t.name!r}: {why}")
            entries[mapping[t.name]] = {
                "dtype": t.dtype,
                "shape": list(t.shape),
                "data_offsets": [offset, offset + t.nbytes],
            }
            offset += t.nbytes
        out.write(_header_bytes(entries, {}))
        for t in order:
            with z.open(f"{root}/data/{t.storage_key}") as src:
                _copy(src, out, t.nbytes)


def _verify(path: str, expected: dict[str, tuple[str, tuple[int, ...]]]) -> Header:
    header = read_header(path)
    if isinstance(header, HeaderError):
        raise HfcacheError(f"the copy {path} does not read back: {header.reason}")
    got = {n: (t.dtype, t.shape) for n, t in header.tensors.items()}
    if got != expected or os.path.getsize(path) != header.expected_size:
        raise HfcacheError(f"the copy {path} does not match what was meant to be written")
    return header


def write_stripped(
    target: Target,
    checkpoints: list[CheckpointFile],
    indexes: list[str],
    prefixes: tuple[str, ...],
    dest: str,
    cache_roots: Iterable[str],
) -> Written:
    """Write ``checkpoints`` with ``prefixes`` stripped from every tensor name into the new ``dest``."""
    dest = os.path.abspath(os.path.expanduser(dest))
    _refuse_destination(dest, [r for r in cache_roots if r])
    for got in checkpoints:
        if got.unsafe or got.problem is not None or got.format not in (SAFETENSORS, TORCH_ZIP):
            why = "imports code" if got.unsafe else got.problem or f"{got.format} files are not supported"
            raise BadInputError(f"cannot write a stripped copy of {got.name}: {why}")
    if not checkpoints:
        raise BadInputError("no safetensors or torch checkpoint to write a copy of")
    names = [t.name for got in checkpoints for t in got.tensors]
    renamed = sum(1 for n in names if strip(n, prefixes) != n)
    if not renamed:
        raise BadInputError(f"no tensor name starts with {' or '.join(prefixes)}: nothing to strip")
    os.makedirs(dest, exist_ok=True)
    written: list[str] = []
    weight_map: dict[str, str] = {}
    total = 0
    for got in checkpoints:
        source = target.files[got.name]
        assert source.path is not None
        mapping = _renamed((t.name for t in got.tensors), prefixes, got.name)
        out_name = _out_name(got.name)
        with _create(dest, out_name) as out:
            try:
                if got.format == SAFETENSORS:
                    _from_safetensors(got, source.path, out, mapping)
                else:
                    _from_torch_zip(got, source.path, out, mapping)
            except (zipfile.BadZipFile, NotImplementedError, EOFError) as e:
                raise HfcacheError(f"cannot read {got.name} while copying it: {e}") from None
        expected = {mapping[t.name]: (t.dtype, t.shape) for t in got.tensors}
        total += _verify(os.path.join(dest, *out_name.split("/")), expected).data_bytes
        weight_map |= dict.fromkeys(expected, posixpath.basename(out_name))
        written.append(out_name)
    for index in indexes:
        name = _out_name(index.removesuffix(".index.json")) + ".index.json"
        doc = {"metadata": {"total_size": total}, "weight_map": dict(sorted(weight_map.items()))}
        with _create(dest, name) as out:
            out.write((json.dumps(doc, indent=2) + "\n").encode())
        written.append(name)
    copied = []
    for name, source in sorted(target.files.items()):
        if "/" not in name and COMPANIONS.fullmatch(name) and source.path is not None:
            with open_regular(source.path) as src, _create(dest, name) as out:
                _copy(src, out, os.fstat(src.fileno()).st_size)
            copied.append(name)
    return Written(dest, tuple(written), tuple(copied), renamed, len(names))
