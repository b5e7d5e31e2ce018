"""GGUF files built byte by byte, the way llama.cpp's ``tests/test-gguf.cpp`` builds them.

``handcrafted(kind, seed)`` follows its ``get_handcrafted_file``: random keys of every
``gguf_type`` (arrays of every type but array), random tensors of every ggml type with a first
dimension of 1-10 blocks and up to 4 dimensions, offsets padded to the alignment, data bytes
``i % 256``, and one corruption per kind (the ``HANDCRAFTED_*`` names, lower-cased).
"""

from __future__ import annotations

import random
import struct

from hfcache.formats.ggml_types import GGML_TYPES

SIZES = {0: 1, 1: 1, 2: 2, 3: 2, 4: 4, 5: 4, 6: 4, 7: 1, 10: 8, 11: 8, 12: 8}
STRING, ARRAY, TYPE_COUNT = 8, 9, 13


def s(text: str | bytes) -> bytes:
    raw = text.encode() if isinstance(text, str) else text
    return struct.pack("<Q", len(raw)) + raw


def kv_u32(key: str, value: int) -> bytes:
    return s(key) + struct.pack("<iI", 4, value)


def kv_str(key: str, value: str) -> bytes:
    return s(key) + struct.pack("<i", STRING) + s(value)


def kv_strs(key: str, values: list[str]) -> bytes:
    return s(key) + struct.pack("<iiQ", ARRAY, STRING, len(values)) + b"".join(s(v) for v in values)


def pad(n: int, align: int) -> int:
    return (n + align - 1) // align * align


def nbytes(type_id: int, shape: tuple[int, ...]) -> int:
    t = GGML_TYPES[type_id]
    n = 1
    for d in shape:
        n *= d
    return n // t.block * t.size


def tensor_info(name: str, type_id: int, shape: tuple[int, ...], offset: int) -> bytes:
    dims = b"".join(struct.pack("<q", d) for d in shape)
    return s(name) + struct.pack("<I", len(shape)) + dims + struct.pack("<iQ", type_id, offset)


def build(
    kvs: list[bytes],
    tensors: list[tuple[str, int, tuple[int, ...]]],
    *,
    alignment: int = 32,
    data: bool = True,
    offsets: list[int] | None = None,
    version: int = 3,
) -> bytes:
    """A whole file: header, keys, tensor infos, padding, then each tensor's bytes padded."""
    places, at = [], 0
    for _, type_id, shape in tensors:
        places.append(at)
        at += pad(nbytes(type_id, shape), alignment)
    offsets = offsets if offsets is not None else places
    out = b"GGUF" + struct.pack("<IQQ", version, len(tensors), len(kvs)) + b"".join(kvs)
    out += b"".join(tensor_info(n, t, sh, o) for (n, t, sh), o in zip(tensors, offsets, strict=True))
    out += b"\0" * (pad(len(out), alignment) - len(out))
    if data and tensors:
        out += bytes(i % 256 for i in range(at))
    return out


def _random_kvs(rng: random.Random) -> list[tuple[int, int]]:
    kinds = []
    for _ in range(100):
        t = rng.randrange(TYPE_COUNT)
        if t == ARRAY:
            inner = rng.randrange(TYPE_COUNT)
            if inner != ARRAY:
                kinds.append((t, inner))
            continue
        kinds.append((t, -1))
    rng.shuffle(kinds)
    return kinds


def _random_tensors(rng: random.Random) -> list[tuple[int, tuple[int, ...]]]:
    types = sorted(GGML_TYPES)
    out = []
    for _ in range(100):
        t = GGML_TYPES[rng.choice(types)]
        shape = [(1 + rng.randrange(10)) * t.block] + [1 + rng.randrange(10) for _ in range(rng.randrange(4))]
        out.append((t.id, tuple(shape)))
    return out


def _kv_bytes(kind: str, i: int, t: int, inner: int, rng: random.Random) -> bytes:
    key = "" if kind == "kv_empty_key" else f"my_key_{i // 2 if kind == 'kv_duplicate_key' else i}"
    head = struct.pack("<Q", 2**64 - 1) + key.encode() if kind == "kv_bad_key_size" else s(key)
    data = bytes(rng.randrange(1, 256) for _ in range(64))
    if kind == "kv_bad_type":
        return head + struct.pack("<i", TYPE_COUNT) + data[:1]
    head += struct.pack("<i", t)
    if t == STRING:
        return head + s(data[: rng.randrange(64)])
    if t != ARRAY:
        return head + data[: SIZES[t]]
    head += struct.pack("<i", inner)
    if inner == STRING:
        n = rng.randrange(17)
        strings = b"".join(s(data[j * 4 : j * 4 + rng.randrange(5)]) for j in range(n))
        return head + struct.pack("<Q", n) + strings
    n = rng.randrange(64) // SIZES[inner]
    return head + struct.pack("<Q", n) + data[: n * SIZES[inner]]


def handcrafted(kind: str, seed: int = 1) -> bytes:
    """One of test-gguf.cpp's kinds: ``header_*``, ``kv_*``, ``tensors_*`` or ``data_*``."""
    rng = random.Random(seed)
    has_kv = not kind.startswith("header")
    has_tensors = kind.startswith(("tensors", "data"))
    configs = _random_tensors(rng) if has_tensors else []
    if kind == "data_mem_size_overflow":
        configs = [(24, (0x7FFFFFFFFFFFFFC0,)), (24, (0x7FFFFFFFFFFFFFC0,))]
    kinds = _random_kvs(rng) if has_kv else []
    kvs = [_kv_bytes(kind, i, t, inner, rng) for i, (t, inner) in enumerate(kinds)]
    alignment = 32
    if kind in ("kv_bad_align", "kv_wrong_type_align", "tensors_bad_align", "tensors_custom_align",
                "data_bad_align", "data_custom_align"):  # fmt: skip
        alignment = 1 if kind.endswith("custom_align") else 13
        vtype = 5 if kind == "kv_wrong_type_align" else 4
        kvs.append(s("general.alignment") + struct.pack("<iI", vtype, alignment))
    magic = b"FUGG" if kind == "header_bad_magic" else b"GGUF"
    versions = {"header_bad_version_0": 0, "header_bad_version_1": 1, "header_bad_version_future": 4}
    version = versions.get(kind, 3)
    n_tensors = 2**64 - 1 if kind == "header_bad_n_tensors" else len(configs)
    n_kv = 2**64 - 1 if kind == "header_bad_n_kv" else len(kvs)
    out = magic + struct.pack("<IQQ", version, n_tensors, n_kv) + b"".join(kvs)
    layout_align = 1 if kind.endswith("inconsistent_align") else alignment
    offset = 0
    for i, (type_id, shape) in enumerate(configs):
        name = "my_tensor" if kind == "tensors_duplicate_name" else f"my_tensor_{i}"
        if kind == "tensors_bad_name_size":
            name += "_with_a_very_long_name_which_is_longer_than_what_is_allowed_for_ggml_tensors"
        if kind == "tensors_bad_type":
            type_id = 42
        dims: list[int] = list(shape)
        if kind == "tensors_bad_shape":
            dims = [-1] * len(shape)
        elif kind == "tensors_zero_dim":
            dims = [shape[0], 0]
        elif kind == "tensors_ne_too_big":
            dims = [4 * (2**31 - 1)] * 2
        elif kind == "tensors_nbytes_too_big":
            type_id, dims = 27, [1_536_000_000, 1_536_000_000]
        n_dims = 5 if kind == "tensors_bad_n_dims" else len(dims)
        body = b"".join(struct.pack("<q", d) for d in dims)
        at = 2**64 - 1 if kind == "tensors_bad_offset" else offset % 2**64
        out += s(name) + struct.pack("<I", n_dims) + body + struct.pack("<iQ", type_id, at)
        known = type_id in GGML_TYPES and min(dims) >= 0 and kind != "tensors_zero_dim"
        size = nbytes(type_id, tuple(dims)) if known else 0
        offset += pad(size, layout_align)
    out += b"\0" * (pad(len(out), alignment) - len(out))
    if kind.startswith("data"):
        n = 32 if kind == "data_mem_size_overflow" else offset - (kind == "data_not_enough_data")
        out += bytes(i % 256 for i in range(n))
    return out
