"""hfcache's safetensors verdicts against the safetensors loader's own, file by file.

The table holds the hostile and unusual files of the loader's test suite (``safetensors/src/
tensor.rs`` ``mod tests``, ``bindings/python/tests/test_pread_backend.py``), the six files on
which hfcache and the loader used to disagree (issue 16), and the corners of serde's reading
that the loader's rules rest on. Each row says what the loader does with the file (accept, or
its ``SafeTensorError`` as :mod:`hfcache.formats.safetensors.loader` names it); the test checks that
hfcache says the same and, where the ``safetensors`` package is installed, that the installed
loader still does (``safe_open`` on the written file).
"""

from __future__ import annotations

import importlib.util
import json
import os
import struct
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hfcache.formats.safetensors import Header, read_checked, read_metadata
from hfcache.formats.safetensors.dtypes import DTYPE_BITS
from hfcache.formats.safetensors.loader import (
    BAD_JSON,
    BAD_LENGTH,
    BAD_OFFSETS,
    LOADER_KINDS,
    MISALIGNED,
    NOT_COVERED,
    NOT_UTF8,
    OVERFLOW,
    SIZE_MISMATCH,
    TOO_LARGE,
    TOO_SMALL,
)

ACCEPT = "accept"

LOADER_MESSAGES = {  # SafeTensorError's Display (tensor.rs) -> the kind hfcache gives
    "header too small": TOO_SMALL,
    "header too large": TOO_LARGE,
    "invalid header length": BAD_LENGTH,
    "invalid UTF-8 in header": NOT_UTF8,
    "invalid JSON in header": BAD_JSON,
    "invalid offset for tensor": BAD_OFFSETS,
    "overflow computing buffer size": OVERFLOW,
    "slicing for subbytes dtypes": MISALIGNED,
    "invalid shape, data type, or offset for tensor": SIZE_MISMATCH,
    "incomplete metadata, file not fully covered": NOT_COVERED,
}


def loader_kind(message: str) -> str:
    kinds = [kind for text, kind in LOADER_MESSAGES.items() if text in message]
    assert len(kinds) == 1, message
    return kinds[0]


def raw(header: str | bytes, data: bytes = b"", length: int | None = None) -> bytes:
    body = header.encode("utf-8", "surrogatepass") if isinstance(header, str) else header
    return struct.pack("<Q", len(body) if length is None else length) + body + data


def entry(dtype: str = "F32", shape: str = "[1]", offsets: str = "[0,4]", extra: str = "") -> str:
    return f'{{"dtype":"{dtype}","shape":{shape},"data_offsets":{offsets}{extra}}}'


def one(
    dtype: str = "F32", shape: str = "[1]", offsets: str = "[0,4]", data: int = 4, extra: str = ""
) -> bytes:
    return raw(f'{{"a":{entry(dtype, shape, offsets, extra)}}}', bytes(data))


def nested(levels: int) -> bytes:
    """A tensor entry with an unknown field nested ``levels`` arrays deep (total depth + 2)."""
    return one(extra=',"x":' + "[" * levels + "]" * levels)


def big_header(megabytes: int) -> bytes:
    """A valid header of ``megabytes`` MB: one tensor, padded with spaces as writers pad."""
    body = '{"a":' + entry() + "}"
    return raw(body + " " * (megabytes * 1_000_000 - len(body)), bytes(4))


I32_2x2 = '{"test":{"dtype":"I32","shape":[2,2],"data_offsets":[0,16]}}'
U64_MAX = 2**64 - 1

# (case, the file's bytes, the loader's verdict)
CASES: list[tuple[str, Callable[[], bytes], str]] = [
    # --- safetensors/src/tensor.rs, mod tests ---
    ("test_empty_shapes_allowed", lambda: raw(entry("I32", "[]").join(['{"test":', "}"]), bytes(4)), ACCEPT),
    ("test_deserialization", lambda: raw(I32_2x2, bytes(16)), ACCEPT),
    ("test_zero_sized_tensor", lambda: raw(entry("I32", "[2,0]", "[0, 0]").join(['{"test":', "}"])), ACCEPT),
    ("test_empty", lambda: raw("{}"), ACCEPT),
    ("test_serialization_fp4", lambda: one("F4", "[2,3]", "[0,3]", 3), ACCEPT),
    (
        "test_json_attack",
        lambda: raw(
            "{" + ",".join(f'"weight_{i}":{entry("F32", "[2,2]", "[0,16]")}' for i in range(10)) + "}",
            bytes(16),
        ),
        BAD_OFFSETS,
    ),
    (
        "test_metadata_incomplete_buffer (extra)",
        lambda: raw(I32_2x2, bytes(16) + b"extra_bogus_data_for_polyglot_file"),
        NOT_COVERED,
    ),
    ("test_metadata_incomplete_buffer (short)", lambda: raw(I32_2x2, bytes(14)), NOT_COVERED),
    (
        "test_header_too_large",
        lambda: raw(I32_2x2, bytes(16), length=0xFFFFFF0000000000 + len(I32_2x2)),
        TOO_LARGE,
    ),
    ("test_header_too_small", lambda: b"", TOO_SMALL),
    ("test_invalid_header_length", lambda: struct.pack("<Q", 60), BAD_LENGTH),
    ("test_invalid_header_non_utf8", lambda: raw(b"\xff"), NOT_UTF8),
    ("test_invalid_header_not_json", lambda: raw("{"), BAD_JSON),
    ("test_whitespace_padded_header", lambda: raw("{}\r \t\n"), ACCEPT),
    ("test_whitespace_leading_padded_header", lambda: raw("\t\n{}\r "), ACCEPT),
    (
        "test_invalid_info",
        lambda: raw(entry("I32", "[2,2]", "[0, 4]").join(['{"test":', "}"])),
        SIZE_MISMATCH,
    ),
    ("test_validation_overflow (elements)", lambda: one("I32", f"[2,{U64_MAX - 1}]", "[0,16]", 16), OVERFLOW),
    ("test_validation_overflow (bits)", lambda: one("I32", f"[2,{2**63 - 1}]", "[0,16]", 16), OVERFLOW),
    ("test_serialization_fp4_misaligned (header)", lambda: one("F4", "[3]", "[0,2]", 2), MISALIGNED),
    # --- bindings/python/tests/test_pread_backend.py ---
    (
        "test_truncated_header_is_rejected",
        lambda: raw(I32_2x2, bytes(16))[: 8 + len(I32_2x2) // 2],
        BAD_LENGTH,
    ),
    (
        "test_data_offset_overflow_is_rejected",
        lambda: one("F32", "[1024,1024]", "[0,4194304]", 1),
        NOT_COVERED,
    ),
    # --- the six of issue 16 ---
    ("issue16: trailing bytes after the data", lambda: one(data=5), NOT_COVERED),
    ("issue16: unknown dtype XYZ", lambda: one("XYZ"), BAD_JSON),
    ("issue16: dtype float32 (numpy's name)", lambda: one("float32"), BAD_JSON),
    ("issue16: leading whitespace", lambda: raw(" \n{" + f'"a":{entry()}' + "}", bytes(4)), ACCEPT),
    (
        "issue16: __metadata__ null",
        lambda: raw('{"__metadata__":null,' + f'"a":{entry()}' + "}", bytes(4)),
        ACCEPT,
    ),
    ("issue16: 26 MB header (over the hub's 25 MB)", lambda: big_header(26), ACCEPT),
    # --- the header length limit, MAX_HEADER_SIZE = 100_000_000 ---
    ("length 100_000_000, short file", lambda: raw("{}", length=100_000_000), BAD_LENGTH),
    ("length 100_000_001", lambda: raw("{}", length=100_000_001), TOO_LARGE),
    ("length 2**64 - 1", lambda: raw("{}", length=U64_MAX), TOO_LARGE),
    ("length 0", lambda: raw(""), BAD_JSON),
    # --- dtypes: enum Dtype, every kind incl. FP8/FP6/FP4 and the FNUZ ones ---
    ("F8_E4M3FNUZ", lambda: one("F8_E4M3FNUZ", "[4]"), ACCEPT),
    ("F8_E5M2FNUZ", lambda: one("F8_E5M2FNUZ", "[4]"), ACCEPT),
    ("F8_E8M0", lambda: one("F8_E8M0", "[4]"), ACCEPT),
    ("F6_E2M3 of 4 (3 bytes)", lambda: one("F6_E2M3", "[4]", "[0,3]", 3), ACCEPT),
    ("F6_E3M2 of 3 (18 bits)", lambda: one("F6_E3M2", "[3]", "[0,2]", 2), MISALIGNED),
    ("C64", lambda: one("C64", "[1]", "[0,8]", 8), ACCEPT),
    ("dtype in lower case", lambda: one("f32"), BAD_JSON),
    ("dtype Q4_K (a GGUF type)", lambda: one("Q4_K", "[7]", "[0,5]", 5), BAD_JSON),
    (
        "dtype as a one-key map",
        lambda: raw('{"a":{"dtype":{"F32":null},"shape":[1],"data_offsets":[0,4]}}', bytes(4)),
        ACCEPT,
    ),
    (
        "dtype as a map to a list",
        lambda: raw('{"a":{"dtype":{"F32":[]},"shape":[1],"data_offsets":[0,4]}}', bytes(4)),
        BAD_JSON,
    ),
    (
        "dtype as a number",
        lambda: raw('{"a":{"dtype":1,"shape":[1],"data_offsets":[0,4]}}', bytes(4)),
        BAD_JSON,
    ),
    # --- serde's reading of the entries ---
    ("unknown field in an entry", lambda: one(extra=',"x":[1,{"y":null}]'), ACCEPT),
    ("entry as a list of three", lambda: raw('{"a":["F32",[1],[0,4]]}', bytes(4)), ACCEPT),
    ("entry as a list of four", lambda: raw('{"a":["F32",[1],[0,4],1]}', bytes(4)), BAD_JSON),
    ("entry null", lambda: raw('{"a":null}'), BAD_JSON),
    ("missing field", lambda: raw('{"a":{"dtype":"F32","data_offsets":[0,4]}}', bytes(4)), BAD_JSON),
    (
        "duplicate field",
        lambda: raw('{"a":{"dtype":"F32","dtype":"F32","shape":[1],"data_offsets":[0,4]}}', bytes(4)),
        BAD_JSON,
    ),
    ("duplicate unknown field", lambda: one(extra=',"x":1,"x":2'), ACCEPT),
    ("shape 1.0", lambda: one(shape="[1.0]"), BAD_JSON),
    ("shape 1e0", lambda: one(shape="[1e0]"), BAD_JSON),
    ("shape -0", lambda: one(shape="[-0]", offsets="[0,0]", data=0), BAD_JSON),
    ("shape -1", lambda: one(shape="[-1]"), BAD_JSON),
    ("shape 2**64", lambda: one(shape=f"[{2**64}]"), BAD_JSON),
    ("shape true", lambda: one(shape="[true]"), BAD_JSON),
    ("shape [u64max, 0] (no overflow)", lambda: one(shape=f"[{U64_MAX},0]", offsets="[0,0]", data=0), ACCEPT),
    (
        "shape [u64max, 2, 0] (overflow first)",
        lambda: one(shape=f"[{U64_MAX},2,0]", offsets="[0,0]", data=0),
        OVERFLOW,
    ),
    ("data_offsets of three", lambda: one(offsets="[0,4,4]"), BAD_JSON),
    ("data_offsets end u64max", lambda: one(offsets=f"[0,{U64_MAX}]"), SIZE_MISMATCH),
    ("data_offsets end before begin", lambda: one(shape="[0]", offsets="[4,0]"), BAD_OFFSETS),
    ("data starting at 4", lambda: one(offsets="[4,8]", data=8), BAD_OFFSETS),
    (
        "overlapping tensors",
        lambda: raw(
            '{"a":' + entry("F32", "[2]", "[0,8]") + ',"b":' + entry("F32", "[1]", "[4,8]") + "}", bytes(8)
        ),
        BAD_OFFSETS,
    ),
    (
        "a gap between tensors",
        lambda: raw('{"a":' + entry() + ',"b":' + entry(offsets="[8,12]") + "}", bytes(12)),
        BAD_OFFSETS,
    ),
    (
        "offsets out of order in the JSON",
        lambda: raw('{"b":' + entry(offsets="[4,8]") + ',"a":' + entry() + "}", bytes(8)),
        ACCEPT,
    ),
    (
        "two empty tensors at 0",
        lambda: raw(
            '{"a":'
            + entry(shape="[0]", offsets="[0,0]")
            + ',"b":'
            + entry(shape="[0]", offsets="[0,0]")
            + "}"
        ),
        ACCEPT,
    ),
    (
        "a tensor named twice, last fits",
        lambda: raw('{"a":' + entry() + ',"a":' + entry(shape="[2]", offsets="[0,8]") + "}", bytes(8)),
        ACCEPT,
    ),
    (
        "a tensor named twice, first fits",
        lambda: raw('{"a":' + entry(shape="[2]", offsets="[0,8]") + ',"a":' + entry() + "}", bytes(8)),
        NOT_COVERED,
    ),
    ("empty tensor name", lambda: raw('{"":' + entry() + "}", bytes(4)), ACCEPT),
    ("escaped name (a surrogate pair)", lambda: raw('{"\\ud83d\\ude00":' + entry() + "}", bytes(4)), ACCEPT),
    ("lone surrogate in a name", lambda: raw('{"\\ud800":' + entry() + "}", bytes(4)), BAD_JSON),
    ("lone surrogate in an unknown field", lambda: one(extra=',"x":"\\udc00"'), BAD_JSON),
    ("control character in a name", lambda: raw('{"a\x01":' + entry() + "}", bytes(4)), BAD_JSON),
    ("nesting 127 levels deep", lambda: nested(125), ACCEPT),
    ("nesting 128 levels deep", lambda: nested(126), BAD_JSON),
    ("nesting 100,000 levels deep", lambda: nested(100_000), BAD_JSON),
    ("1e400 in an unknown field", lambda: one(extra=',"x":1e400'), BAD_JSON),
    ("a 400-digit integer in an unknown field", lambda: one(extra=',"x":' + "9" * 400), BAD_JSON),
    ("a 30-digit integer in an unknown field", lambda: one(extra=',"x":' + "9" * 30), ACCEPT),
    ("NaN in an unknown field", lambda: one(extra=',"x":NaN'), BAD_JSON),
    # --- __metadata__: Option<HashMap<String, String>> ---
    ("__metadata__ strings", lambda: raw('{"__metadata__":{"format":"pt"}}'), ACCEPT),
    ("__metadata__ twice", lambda: raw('{"__metadata__":{},"__metadata__":{}}'), BAD_JSON),
    ("__metadata__ key twice", lambda: raw('{"__metadata__":{"k":"1","k":"2"}}'), ACCEPT),
    ("__metadata__ with a number", lambda: raw('{"__metadata__":{"a":1}}'), BAD_JSON),
    ("__metadata__ a list", lambda: raw('{"__metadata__":[]}'), BAD_JSON),
    ("__metadata__ spelled with an escape", lambda: raw('{"__metadat\\u0061__":null}'), ACCEPT),
    ("lone surrogate in __metadata__", lambda: raw('{"__metadata__":{"k":"\\udc00"}}'), BAD_JSON),
    # --- the JSON around it ---
    ("byte order mark", lambda: raw("\ufeff{}"), BAD_JSON),
    ("form feed before", lambda: raw("\x0c{}"), BAD_JSON),
    ("NUL padding", lambda: raw("{}\x00\x00"), BAD_JSON),
    ("trailing characters", lambda: raw("{}x"), BAD_JSON),
    ("a list, not an object", lambda: raw("[]"), BAD_JSON),
    ("trailing comma", lambda: raw('{"a":' + entry() + ",}", bytes(4)), BAD_JSON),
    ("leading zero", lambda: one(shape="[01]"), BAD_JSON),
]


def _loader_verdict(path: Path) -> str:
    safetensors = pytest.importorskip("safetensors")
    # safe_open judges the header whatever the framework, but imports it: numpy, else torch.
    framework = next((name for name in ("numpy", "torch") if importlib.util.find_spec(name)), None)
    if framework is None:
        pytest.skip("safe_open needs numpy or torch (hfcache's verdict was checked)")
    try:
        with safetensors.safe_open(str(path), framework="pt" if framework == "torch" else framework) as f:
            f.keys()
    except safetensors.SafetensorError as exc:
        return loader_kind(str(exc))
    return ACCEPT


def _hfcache_verdict(path: Path) -> str:
    got = read_checked(path)
    return ACCEPT if isinstance(got, Header) else got.kind


@pytest.mark.parametrize(("case", "build", "verdict"), CASES, ids=[c[0] for c in CASES])
def test_hfcache_judges_as_the_loader(
    tmp_path: Path, case: str, build: Callable[[], bytes], verdict: str
) -> None:
    path = tmp_path / "model.safetensors"
    path.write_bytes(build())
    assert _hfcache_verdict(path) == verdict
    assert _loader_verdict(path) == verdict


def test_the_table_covers_every_reason() -> None:
    assert {v for _, _, v in CASES} == {ACCEPT, *LOADER_KINDS}


# --- random headers, judged by both ------------------------------------------------------------

_DTYPES = [*DTYPE_BITS, "XYZ", "f32"]
_json = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**65), 2**65)
    | st.floats(allow_nan=False)
    | st.text(max_size=4),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=4), inner, max_size=3),
    max_leaves=8,
)
_entries = st.fixed_dictionaries(
    {},
    optional={
        "dtype": st.sampled_from(_DTYPES) | _json,
        "shape": st.lists(st.integers(0, 5) | st.just(2**63), max_size=3) | _json,
        "data_offsets": st.lists(st.integers(0, 24), min_size=2, max_size=2) | _json,
        "extra": _json,
    },
)


@st.composite
def _files(draw: st.DrawFn) -> bytes:
    names = draw(st.lists(st.sampled_from(["a", "b", "c", "__metadata__"]), max_size=4))
    values: list[Any] = [draw(_entries | _json) for _ in names]
    pairs = zip(names, values, strict=True)
    body = "{" + ",".join(f"{json.dumps(n)}:{json.dumps(v)}" for n, v in pairs) + "}"
    if draw(st.booleans()):  # the usual layout: back to back from 0
        offset, parts = 0, []
        for n in draw(st.lists(st.sampled_from(["x", "y"]), max_size=3)):
            dtype = draw(st.sampled_from(list(DTYPE_BITS)))
            count = draw(st.integers(0, 4))
            size = count * DTYPE_BITS[dtype] // 8
            parts.append(f'"{n}":{entry(dtype, f"[{count}]", f"[{offset},{offset + size}]")}')
            offset += size
        body = "{" + ",".join(parts) + "}"
    padding = draw(st.sampled_from(["", " ", "\n", "  \t"]))
    data = draw(st.integers(0, 32))
    return raw(padding + body + padding, bytes(data))


@settings(max_examples=300, deadline=None)
@given(_files())
def test_random_files_judged_as_the_loader(data: bytes) -> None:
    safetensors = pytest.importorskip("safetensors")
    got = read_metadata(data)
    mine = ACCEPT if isinstance(got, Header) else got.kind
    try:
        safetensors.deserialize(data)
        theirs = ACCEPT
    except safetensors.SafetensorError as exc:
        theirs = loader_kind(str(exc))
    # Tensors with equal offsets are validated in the loader's HashMap order, which varies: the
    # first to fail names the reason, so only refuse/accept is fixed then.
    if {mine, theirs} <= {BAD_OFFSETS, OVERFLOW, MISALIGNED, SIZE_MISMATCH}:
        assert (mine == ACCEPT) == (theirs == ACCEPT)
    else:
        assert mine == theirs


# --- memory -----------------------------------------------------------------------------------

_MEASURE = """
import resource, sys
from hfcache.formats.safetensors import Header, read_checked
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
got = read_checked(sys.argv[1])
after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
assert isinstance(got, Header), got
print(len(got.tensors), before, after)
"""


def test_a_big_header_costs_about_its_size(tmp_path: Path) -> None:
    """200,000 tensors in a 17 MB header: reading it grows the process by less than 3x the header
    (the header's text while it is read, and the table it becomes)."""
    path = tmp_path / "big.safetensors"
    count = 200_000
    body = ",".join(
        f'"model.layers.{i}.weight":{{"dtype":"I8","shape":[1],"data_offsets":[{i},{i + 1}]}}'
        for i in range(count)
    )
    path.write_bytes(raw("{" + body + "}", bytes(count)))
    out = subprocess.run(
        [sys.executable, "-c", _MEASURE, str(path)], capture_output=True, text=True, check=True
    )
    tensors, before, after = (int(x) for x in out.stdout.split())
    kib = 1024 if sys.platform != "darwin" else 1  # ru_maxrss: KiB on Linux, bytes on macOS
    assert tensors == count
    assert (after - before) * kib < 3 * len(body), (before, after, len(body))


_INSPECT = """
import resource, subprocess, sys
with open(sys.argv[2], "wb") as out:
    command = [sys.executable, "-m", "hfcache", "inspect", sys.argv[1], "--json"]
    subprocess.run(command, stdout=out, check=True)
print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)
"""


def test_inspect_json_of_a_big_header_stays_small(tmp_path: Path) -> None:
    """100,000 tensors (a 7 MB header): ``inspect --json`` stays under 200 MB in all (80 MB); it took
    about 300 MB when the header and the document were built whole."""
    path = tmp_path / "model.safetensors"
    count = 100_000
    body = ",".join(
        f'"layers.{i}.w":{{"dtype":"I8","shape":[1],"data_offsets":[{i},{i + 1}]}}' for i in range(count)
    )
    path.write_bytes(raw("{" + body + "}", bytes(count)))
    doc = tmp_path / "doc.json"
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).parent.parent)}
    out = subprocess.run(
        [sys.executable, "-c", _INSPECT, str(path), str(doc)],
        capture_output=True,
        text=True,
        check=True,
        env=env,
    )
    kib = 1024 if sys.platform != "darwin" else 1
    assert int(out.stdout) * kib < 200 * 2**20
    tensors = json.loads(doc.read_text())["tensors"]
    assert len(tensors) == count and tensors[-1]["name"] == f"layers.{count - 1}.w"
