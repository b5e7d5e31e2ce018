"""GGUF files read as llama.cpp reads them: valid files of many types, and test-gguf.cpp's corruptions."""

from __future__ import annotations

import json
import os
import struct
import time
from pathlib import Path
from typing import Any

import pytest
from ggufgen import build, handcrafted, kv_str, kv_strs, kv_u32, nbytes

from hfcache.cli import app
from hfcache.formats.ggml_types import GGML_TYPES
from hfcache.formats.gguf import GgufFile, read_gguf
from hfcache.formats.safetensors import HeaderError
from hfcache.inspect import inspect_target

# llama.cpp's test-gguf.cpp: which handcrafted files its reader accepts (expect_context_not_null).
ACCEPTED = ["header_empty", "kv_success", "tensors_success", "tensors_custom_align", "tensors_zero_dim"]
ACCEPTED += ["data_success", "data_custom_align"]
REFUSED = [
    "header_bad_magic", "header_bad_version_0", "header_bad_version_1", "header_bad_version_future",
    "header_bad_n_tensors", "header_bad_n_kv", "kv_bad_key_size", "kv_empty_key", "kv_bad_type",
    "kv_duplicate_key", "kv_bad_align", "kv_wrong_type_align", "tensors_bad_name_size", "tensors_bad_n_dims",
    "tensors_bad_shape", "tensors_ne_too_big", "tensors_nbytes_too_big", "tensors_bad_type",
    "tensors_duplicate_name", "tensors_bad_align",
]  # fmt: skip
# Refused by llama.cpp after the header: hfcache lists the tensors and reports a finding.
LAYOUT = {
    "tensors_bad_offset": "gguf-tensor-offsets",
    "tensors_inconsistent_align": "gguf-tensor-offsets",
    "data_inconsistent_align": "gguf-tensor-offsets",
    "data_not_enough_data": "shard-truncated",
    "data_mem_size_overflow": "shard-truncated",
    "data_bad_align": "checkpoint-unreadable",
}


def _doc(path: Path) -> dict[str, Any]:
    r = inspect_target(str(path))
    return json.loads(json.dumps(r.to_json()))


def _codes(path: Path) -> list[str]:
    return [f["code"] for f in _doc(path)["findings"]]


Tensors = list[tuple[str, int, tuple[int, ...]]]


def _model(tmp_path: Path, *, name: str = "model-Q4_K_M.gguf") -> tuple[Path, Tensors]:
    tensors = [
        ("token_embd.weight", 1, (64, 100)),  # F16
        ("blk.0.attn_q.weight", 12, (256, 64)),  # Q4_K
        ("blk.0.ffn_down.weight", 14, (256, 64)),  # Q6_K
        ("blk.0.attn_k.weight", 8, (64, 16)),  # Q8_0
        ("blk.0.attn_norm.weight", 0, (64,)),  # F32
        ("output.weight", 30, (64, 100)),  # BF16
    ]
    kvs = [
        kv_str("general.architecture", "llama"),
        kv_u32("llama.context_length", 8192),
        kv_u32("llama.block_count", 1),
        kv_u32("llama.embedding_length", 64),
        kv_u32("llama.attention.head_count", 4),
        kv_u32("llama.attention.head_count_kv", 2),
        kv_u32("general.file_type", 15),
        kv_str("tokenizer.chat_template", "{% for m in messages %}{{ m.content }}{% endfor %}"),
        kv_strs("tokenizer.ggml.tokens", [f"t{i}" for i in range(100)]),
    ]
    path = tmp_path / name
    path.write_bytes(build(kvs, tensors))
    return path, tensors


def test_a_quantized_model_is_listed_with_types_shapes_offsets_and_bytes(tmp_path: Path) -> None:
    path, tensors = _model(tmp_path)
    doc = _doc(path)
    assert doc["findings"] == []
    (f,) = doc["files"]
    assert (f["format"], f["tensors"]) == ("gguf", 6)
    d = f["details"]
    assert (d["architecture"], d["context_length"], d["block_count"]) == ("llama", 8192, 1)
    assert (d["head_count"], d["head_count_kv"], d["file_type"], d["tokens"]) == (4, 2, "MOSTLY_Q4_K_M", 100)
    assert d["chat_template"] is True and d["chat_template_chars"] > 10
    assert d["types"]["Q4_K"] == {"block": 256, "type_size": 144, "tensors": 1, "parameters": 256 * 64,
                                  "bytes": 64 * 144}  # fmt: skip
    listed = {t["name"]: t for t in doc["tensors"]}
    offset = 0
    for name, type_id, shape in tensors:
        t = listed[name]
        assert (t["dtype"], t["shape"], t["offset"]) == (GGML_TYPES[type_id].name, list(shape), offset)
        assert t["bytes"] == nbytes(type_id, shape)
        offset += -(-t["bytes"] // 32) * 32
    assert doc["totals"]["bytes"] == sum(nbytes(t, s) for _, t, s in tensors)
    assert doc["dtypes"]["Q6_K"]["bytes"] == 64 * 210


def test_every_ggml_type_sizes_as_llama_cpp_does(tmp_path: Path) -> None:
    tensors = [(f"t{t.id}", t.id, (t.block * 3, 2)) for t in GGML_TYPES.values()]
    path = tmp_path / "all.gguf"
    path.write_bytes(build([kv_str("general.architecture", "llama")], tensors))
    got = read_gguf(path)
    assert isinstance(got, GgufFile) and got.problems == ()
    assert {t.type.name: t.nbytes for t in got.tensors} == {t.name: 6 * t.size for t in GGML_TYPES.values()}
    assert GGML_TYPES[9].size == 36  # Q8_1: ggml-common.h's static_assert, not gguf-py's 40


@pytest.mark.parametrize("kind", ACCEPTED)
def test_files_llama_cpp_accepts(tmp_path: Path, kind: str) -> None:
    path = tmp_path / "m.gguf"
    path.write_bytes(handcrafted(kind))
    got = read_gguf(path)
    assert isinstance(got, GgufFile), got
    # The tensors_* files carry no data: llama.cpp reads their header only, a loader finds them short.
    expected = ["shard-truncated"] if kind.startswith("tensors") and kind != "tensors_zero_dim" else []
    assert _codes(path) == expected
    if kind.endswith("custom_align"):
        assert got.alignment == 1


@pytest.mark.parametrize("kind", REFUSED)
def test_files_llama_cpp_refuses_are_unreadable(tmp_path: Path, kind: str) -> None:
    path = tmp_path / "m.gguf"
    path.write_bytes(handcrafted(kind))
    assert isinstance(read_gguf(path), HeaderError) or kind == "header_bad_magic"
    assert _codes(path) == ["checkpoint-unreadable"]


@pytest.mark.parametrize("kind", sorted(LAYOUT))
def test_layout_problems_are_findings_with_tensors_listed(tmp_path: Path, kind: str) -> None:
    path = tmp_path / "m.gguf"
    path.write_bytes(handcrafted(kind))
    doc = _doc(path)
    assert [f["code"] for f in doc["findings"]] == [LAYOUT[kind]]
    if LAYOUT[kind] != "checkpoint-unreadable":
        assert doc["files"][0]["tensors"] > 0


def test_overlap_misalignment_and_truncation(tmp_path: Path) -> None:
    tensors = [("a", 0, (64,)), ("b", 0, (64,)), ("c", 2, (32, 2))]
    path = tmp_path / "m.gguf"
    path.write_bytes(build([], tensors, offsets=[0, 128, 300]))
    (found,) = _doc(path)["findings"]
    assert found["code"] == "gguf-tensor-offsets" and "overlap" in found["message"]
    assert "not a multiple of the alignment" in found["message"]
    path.write_bytes(build([], tensors)[:-40])
    (found,) = _doc(path)["findings"]
    assert found["code"] == "shard-truncated"


def test_garbled_metadata_is_unreadable(tmp_path: Path) -> None:
    good = build([kv_str("general.architecture", "llama"), kv_u32("x.y", 1)], [("a", 0, (8,))])
    path = tmp_path / "m.gguf"
    for cut in (30, 50, 60):
        path.write_bytes(good[:cut])
        assert _codes(path) == ["checkpoint-unreadable"], cut
    garbled = bytearray(good)
    garbled[24] = 0xFF  # the first key's length
    path.write_bytes(bytes(garbled))
    assert _codes(path) == ["checkpoint-unreadable"]


def test_big_endian_files_are_read(tmp_path: Path) -> None:
    out = b"GGUF" + struct.pack(">IQQ", 3, 1, 1) + struct.pack(">Q", 1) + b"k" + struct.pack(">iI", 4, 7)
    out += struct.pack(">Q", 1) + b"t" + struct.pack(">Iqi", 1, 8, 0) + struct.pack(">Q", 0)
    out += b"\0" * (-len(out) % 32) + b"\0" * 32
    path = tmp_path / "be.gguf"
    path.write_bytes(out)
    got = read_gguf(path)
    assert isinstance(got, GgufFile) and got.byte_order == "big" and got.metadata == {"k": 7}
    assert got.tensors[0].shape == (8,) and got.problems == ()


def test_hostile_counts_and_lengths_are_bounded(tmp_path: Path) -> None:
    path = tmp_path / "m.gguf"
    path.write_bytes(b"GGUF" + struct.pack("<IQQ", 3, 10**12, 1) + b"\0" * 100)
    assert isinstance(read_gguf(path), HeaderError)
    # An array claiming 2^30 strings in a small file: refused before any is read.
    key = b"\1\0\0\0\0\0\0\0k"
    path.write_bytes(b"GGUF" + struct.pack("<IQQ", 3, 0, 1) + key + struct.pack("<iiQ", 9, 8, 2**30))
    assert isinstance(read_gguf(path), HeaderError)


def test_many_strings_stay_within_time(tmp_path: Path) -> None:
    """A 32 MB file of 4 million empty strings in one array: walked in bounded time."""
    n = 3_999_000
    out = b"GGUF" + struct.pack("<IQQ", 3, 0, 1) + b"\1\0\0\0\0\0\0\0k" + struct.pack("<iiQ", 9, 8, n)
    path = tmp_path / "m.gguf"
    path.write_bytes(out + b"\0" * (8 * n))
    start = time.monotonic()
    got = read_gguf(path)
    assert isinstance(got, GgufFile) and got.metadata["k"] == {"array": "str", "length": n}
    assert time.monotonic() - start < 10


def test_a_fifo_is_refused_without_blocking(tmp_path: Path) -> None:
    fifo = tmp_path / "model.gguf"
    os.mkfifo(fifo)
    got = read_gguf(fifo)
    assert isinstance(got, HeaderError) and "regular" in got.reason


def test_the_report_shows_gguf_facts(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    path, _ = _model(tmp_path)
    out = CliRunner().invoke(app, ["inspect", str(path), "-v"]).output
    assert "GGUF v3, llama, file type MOSTLY_Q4_K_M, context 8192" in out
    assert "Q4_K (block 256, 144 B) 1 tensors" in out and "chat template" in out
    assert "blk.0.attn_q.weight" in out and "@" in out


gguf = pytest.importorskip("gguf", reason="gguf-py, llama.cpp's own writer, judges these files")


def test_files_written_by_gguf_py_read_alike(tmp_path: Path) -> None:
    import numpy as np

    path = tmp_path / "py.gguf"
    w = gguf.GGUFWriter(str(path), "qwen2")
    w.add_context_length(32768)
    w.add_chat_template("{{ messages }}")
    w.add_tensor("token_embd.weight", np.zeros((10, 64), dtype=np.float16))
    q = gguf.GGMLQuantizationType
    w.add_tensor("blk.0.attn_q.weight", np.zeros((4, 144), dtype=np.uint8), raw_dtype=q.Q4_K)
    w.add_tensor("blk.0.ffn.weight", np.zeros((2, 68), dtype=np.uint8), raw_dtype=q.Q8_0)
    w.add_tensor("norm", np.zeros(64, dtype=np.float32))
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    got = read_gguf(path)
    assert isinstance(got, GgufFile) and got.problems == ()
    judge = gguf.GGUFReader(str(path))
    base = judge.data_offset
    assert [(t.name, t.tensor_type.name, [int(x) for x in t.shape], t.data_offset - base, t.n_bytes)
            for t in judge.tensors] == [(t.name, t.type.name, list(t.shape), t.offset, t.nbytes)
                                        for t in got.tensors]  # fmt: skip
    assert got.metadata["qwen2.context_length"] == 32768 and got.data_start == judge.data_offset
