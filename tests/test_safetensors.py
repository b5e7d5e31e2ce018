"""Tests for hfcache.formats.safetensors: files are written here with a tiny stdlib writer."""

from __future__ import annotations

import json
import os
import struct
from pathlib import Path
from typing import Any

import pytest
from huggingface_hub.constants import SAFETENSORS_MAX_HEADER_LENGTH
from hypothesis import given, settings
from hypothesis import strategies as st

from hfcache.formats.safetensors import (
    CheckpointIndex,
    Header,
    HeaderError,
    TensorInfo,
    parse_header,
    parse_index,
    read_header,
    read_index,
)
from hfcache.formats.safetensors.loader import BAD_JSON, LOADER_MAX_HEADER_LENGTH, NOT_COVERED, OVERFLOW

SIZES = {"F32": 4, "BF16": 2, "U8": 1, "BOOL": 1, "I64": 8}


def encode_header(header: dict[str, Any] | str | bytes, pad: bool = True) -> bytes:
    """The 8-byte length and the JSON, space-padded to 8-byte alignment like the real writer."""
    raw = header if isinstance(header, bytes) else (header if isinstance(header, str) else json.dumps(header))
    body = raw.encode() if isinstance(raw, str) else raw
    if pad:
        body += b" " * (-len(body) % 8)
    return struct.pack("<Q", len(body)) + body


def safetensors_bytes(
    tensors: dict[str, tuple[str, list[int]]], metadata: dict[str, str] | None = None
) -> bytes:
    """A valid file: tensors laid out back to back in the given order, data filled with 0xAB."""
    header: dict[str, Any] = {"__metadata__": metadata} if metadata is not None else {}
    offset = 0
    for name, (dtype, shape) in tensors.items():
        count = 1
        for dim in shape:
            count *= dim
        size = count * SIZES[dtype]
        header[name] = {"dtype": dtype, "shape": shape, "data_offsets": [offset, offset + size]}
        offset += size
    return encode_header(header) + b"\xab" * offset


def tensor_header(**entries: Any) -> bytes:
    return encode_header(dict(entries))


SAMPLE = {"embed.weight": ("F32", [4, 3]), "ln.bias": ("BF16", [3]), "mask": ("BOOL", [2, 2])}


@pytest.fixture
def sample_file(tmp_path: Path) -> Path:
    path = tmp_path / "model.safetensors"
    path.write_bytes(safetensors_bytes(SAMPLE, {"format": "pt"}))
    return path


def test_read_header(sample_file: Path) -> None:
    header = read_header(sample_file)
    assert isinstance(header, Header)
    assert header.metadata == {"format": "pt"}
    assert header.tensors["embed.weight"] == TensorInfo("F32", (4, 3), 0, 48)
    assert header.tensors["ln.bias"] == TensorInfo("BF16", (3,), 48, 54)
    assert header.tensors["mask"] == TensorInfo("BOOL", (2, 2), 54, 58)
    assert header.data_bytes == 58
    assert header.expected_size == sample_file.stat().st_size
    assert header.data_start % 8 == 0
    assert read_header(str(sample_file)) == header
    assert parse_header(sample_file.read_bytes()) == header
    assert parse_header(sample_file.read_bytes()[: header.data_start]) == header


def test_truncated_data_is_visible_through_expected_size(tmp_path: Path) -> None:
    path = tmp_path / "cut.safetensors"
    path.write_bytes(safetensors_bytes(SAMPLE)[:-10])
    header = read_header(path)
    assert isinstance(header, Header)
    assert header.expected_size == path.stat().st_size + 10


def test_empty_and_scalar_tensors() -> None:
    header = parse_header(safetensors_bytes({"empty": ("F32", [0, 5]), "scalar": ("I64", [])}))
    assert isinstance(header, Header)
    assert header.tensors["empty"] == TensorInfo("F32", (0, 5), 0, 0)
    assert header.tensors["scalar"] == TensorInfo("I64", (), 0, 8)
    no_tensors = parse_header(encode_header({}))
    assert isinstance(no_tensors, Header)
    assert no_tensors.expected_size == no_tensors.data_start == 16


def test_sub_byte_and_unknown_dtypes() -> None:
    f4 = tensor_header(a={"dtype": "F4", "shape": [2, 3], "data_offsets": [0, 3]})
    assert isinstance(parse_header(f4), Header)
    odd = tensor_header(a={"dtype": "F4", "shape": [3], "data_offsets": [0, 2]})
    assert "whole number of bytes" in _reason(parse_header(odd))
    unknown = parse_header(tensor_header(a={"dtype": "Q4_K", "shape": [7], "data_offsets": [0, 5]}))
    assert isinstance(unknown, HeaderError) and unknown.kind == BAD_JSON  # the loader refuses it
    assert "unknown dtype 'Q4_K'" in unknown.reason


def test_hostile_shape_is_cheap() -> None:
    big = parse_header(tensor_header(a={"dtype": "F32", "shape": [2**62] * 5000, "data_offsets": [0, 4]}))
    assert isinstance(big, HeaderError) and big.kind == OVERFLOW


def test_coverage_error() -> None:
    header = parse_header(safetensors_bytes(SAMPLE))
    assert isinstance(header, Header)
    assert header.coverage_error(header.expected_size) is None
    short = header.coverage_error(header.expected_size - 1)
    long = header.coverage_error(header.expected_size + 3)
    assert short is not None and short.kind == NOT_COVERED and "truncated" in short.reason
    assert long is not None and long.kind == NOT_COVERED and "3 bytes after the tensor data" in long.reason


def test_leading_whitespace_and_null_metadata_are_read() -> None:
    body = ' \n{"__metadata__": null}'
    assert parse_header(encode_header(body, pad=False)) == Header({}, {}, 8 + len(body))


def _reason(result: object) -> str:
    assert isinstance(result, HeaderError), result
    return result.reason


@pytest.mark.parametrize(
    ("head", "fragment"),
    [
        (b"", "too short"),
        (b"\x10\x00\x00", "too short"),
        (struct.pack("<Q", 100) + b'{"a":', "truncated"),
        (struct.pack("<Q", LOADER_MAX_HEADER_LENGTH + 1) + b"{}", "exceeds"),
        (struct.pack("<Q", SAFETENSORS_MAX_HEADER_LENGTH + 1) + b"{}", "truncated"),
        (struct.pack("<Q", 2**64 - 1), "exceeds"),
        (struct.pack("<Q", 0), "not valid JSON"),
        (encode_header("{not json}"), "not valid JSON"),
        (encode_header(b'{"a": "\xff"}'), "UTF-8"),
        (encode_header("[]"), "not valid JSON"),
        (encode_header('{"a": NaN}'), "not valid JSON"),
        (encode_header('{"__metadata__": {}, "__metadata__": {}}'), "duplicate field"),
        (encode_header('{"a": 1}'), "not a JSON object"),
        (encode_header("{" * 100000 + "}" * 100000), "not valid JSON"),
        (tensor_header(a=5), "not a JSON object"),
        (tensor_header(a={"shape": [1], "data_offsets": [0, 4]}), "dtype"),
        (tensor_header(a={"dtype": "F32", "shape": [-1], "data_offsets": [0, 4]}), "shape"),
        (tensor_header(a={"dtype": "F32", "shape": [1.0], "data_offsets": [0, 4]}), "shape"),
        (tensor_header(a={"dtype": "F32", "shape": [True], "data_offsets": [0, 4]}), "shape"),
        (tensor_header(a={"dtype": "F32", "shape": "1", "data_offsets": [0, 4]}), "shape"),
        (tensor_header(a={"dtype": "F32", "shape": [1], "data_offsets": [0]}), "data_offsets"),
        (tensor_header(a={"dtype": "F32", "shape": [1], "data_offsets": [0, -4]}), "data_offsets"),
        (tensor_header(a={"dtype": "F32", "shape": [1], "data_offsets": [4, 0]}), "[4, 0] do not begin at 0"),
        (tensor_header(a={"dtype": "F32", "shape": [2], "data_offsets": [0, 4]}), "needs 8"),
        (
            tensor_header(
                a={"dtype": "F32", "shape": [1], "data_offsets": [0, 4]},
                b={"dtype": "F32", "shape": [1], "data_offsets": [8, 12]},
            ),
            "[8, 12] do not begin at 4",
        ),
        (
            tensor_header(
                a={"dtype": "F32", "shape": [2], "data_offsets": [0, 8]},
                b={"dtype": "F32", "shape": [1], "data_offsets": [4, 8]},
            ),
            "[4, 8] do not begin at 8",
        ),
        (tensor_header(a={"dtype": "U8", "shape": [1], "data_offsets": [3, 4]}), "do not begin at 0"),
        (encode_header({"__metadata__": {"format": 1}}), "__metadata__"),
        (encode_header({"__metadata__": ["x"]}), "__metadata__"),
    ],
)
def test_bad_headers(head: bytes, fragment: str) -> None:
    assert fragment in _reason(parse_header(head))


def test_read_header_file_problems(tmp_path: Path, sample_file: Path) -> None:
    full = sample_file.read_bytes()
    cut = tmp_path / "cut.safetensors"
    cut.write_bytes(full[:20])
    assert "points past the end" in _reason(read_header(cut))
    cut.write_bytes(full[:5])
    assert "too short" in _reason(read_header(cut))
    lying = tmp_path / "lying.safetensors"
    lying.write_bytes(struct.pack("<Q", 10_000) + b"{}")
    assert "points past the end" in _reason(read_header(lying))
    assert "cannot read" in _reason(read_header(tmp_path / "missing.safetensors"))
    assert "not a regular file" in _reason(read_header(tmp_path))


@pytest.mark.skipif(not hasattr(os, "symlink"), reason="needs symlinks")
def test_read_header_does_not_follow_symlinks(tmp_path: Path, sample_file: Path) -> None:
    link = tmp_path / "link.safetensors"
    link.symlink_to(sample_file)
    assert "symbolic link" in _reason(read_header(link))
    assert read_header(link, follow_symlinks=True) == read_header(sample_file)
    index = tmp_path / "index.json"
    index.write_text('{"weight_map": {}}')
    index_link = tmp_path / "index-link.json"
    index_link.symlink_to(index)
    assert "symbolic link" in _reason(read_index(index_link))
    assert read_index(index_link, follow_symlinks=True) == CheckpointIndex({}, None)


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs FIFOs")
def test_read_header_does_not_block_on_a_fifo(tmp_path: Path) -> None:
    fifo = tmp_path / "fifo.safetensors"
    os.mkfifo(fifo)
    assert "not a regular file" in _reason(read_header(fifo))


# --- checkpoint indexes -----------------------------------------------------------------------


def test_read_index(tmp_path: Path) -> None:
    index = {
        "metadata": {"total_size": 16060522496},
        "weight_map": {
            "lm_head.weight": "model-00002-of-00002.safetensors",
            "embed": "model-00001-of-00002.safetensors",
        },
    }
    path = tmp_path / "model.safetensors.index.json"
    path.write_text(json.dumps(index))
    assert read_index(path) == CheckpointIndex(index["weight_map"], 16060522496)  # type: ignore[arg-type]


PT_SHARD = "pytorch_model-00001-of-00002.bin"


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (b'{"metadata": {"total_size": 12.0}, "weight_map": {"a": "b"}}', CheckpointIndex({"a": "b"}, 12)),
        (json.dumps({"weight_map": {"a": PT_SHARD}}).encode(), CheckpointIndex({"a": PT_SHARD}, None)),
        (b'\xef\xbb\xbf{"metadata": {"total_size": "9"}, "weight_map": {}}', CheckpointIndex({}, None)),
        (b'{"metadata": {"total_size": -1}, "weight_map": {}}', CheckpointIndex({}, None)),
        (b'{"metadata": {"total_size": true}, "weight_map": {}}', CheckpointIndex({}, None)),
        (b'{"metadata": [], "weight_map": {}}', CheckpointIndex({}, None)),
    ],
)
def test_parse_index(body: bytes, expected: CheckpointIndex) -> None:
    assert parse_index(body) == expected


@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        (b"", "not valid JSON"),
        (b"{", "not valid JSON"),
        (b"\xff\xfe{}", "not valid JSON"),
        (b'{"weight_map": {"a": NaN}}', "not valid JSON"),
        (b"[]", "not a JSON object"),
        (b'{"metadata": {}}', "weight_map"),
        (b'{"weight_map": ["a"]}', "weight_map"),
        (b'{"weight_map": {"a": 1}}', "strings"),
    ],
)
def test_parse_index_bad(body: bytes, fragment: str) -> None:
    assert fragment in _reason(parse_index(body))


def test_read_index_problems(tmp_path: Path) -> None:
    assert "cannot read" in _reason(read_index(tmp_path / "missing.json"))
    assert "not a regular file" in _reason(read_index(tmp_path))
    bad = tmp_path / "bad.json"
    bad.write_bytes(b"\x00\x01")
    assert "not valid JSON" in _reason(read_index(bad))


# --- never raise --------------------------------------------------------------------------------


@settings(max_examples=400, deadline=None)
@given(st.binary(max_size=512))
def test_parse_header_random_bytes(data: bytes) -> None:
    assert isinstance(parse_header(data), (Header, HeaderError))
    assert isinstance(parse_index(data), (CheckpointIndex, HeaderError))


_json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**70), 2**70) | st.floats() | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=20,
)


@settings(max_examples=400, deadline=None)
@given(
    st.dictionaries(
        st.text(max_size=6) | st.just("__metadata__"),
        st.fixed_dictionaries(
            {},
            optional={
                "dtype": st.sampled_from(["F32", "BF16", "F4", "U8", "XX"]) | _json_values,
                "shape": st.lists(st.integers(-1, 5), max_size=3) | _json_values,
                "data_offsets": st.lists(st.integers(-1, 64), min_size=2, max_size=2) | _json_values,
            },
        )
        | _json_values,
        max_size=4,
    )
)
def test_parse_header_random_json(header: dict[str, Any]) -> None:
    head = encode_header(json.dumps(header))
    assert isinstance(parse_header(head), (Header, HeaderError))
    assert isinstance(parse_index(json.dumps(header).encode()), (CheckpointIndex, HeaderError))
