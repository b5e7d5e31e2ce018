"""ONNX initializers read from the protobuf wire format: real files, external data, hostile bytes."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

import pytest

from hfcache.formats.onnx import OnnxModel, read_onnx
from hfcache.formats.safetensors import HeaderError
from hfcache.inspect import inspect_target


def _doc(path: Path) -> dict[str, Any]:
    return json.loads(json.dumps(inspect_target(str(path)).to_json()))


def _varint(n: int) -> bytes:
    out = bytearray()
    while True:
        byte, n = n & 0x7F, n >> 7
        out.append(byte | (0x80 if n else 0))
        if not n:
            return bytes(out)


def _field(number: int, payload: bytes) -> bytes:
    return _varint(number << 3 | 2) + _varint(len(payload)) + payload


def _tensor(name: str, dims: list[int], dtype: int, raw: bytes, packed: bool = True) -> bytes:
    body = (
        _field(1, b"".join(_varint(d) for d in dims))
        if packed
        else b"".join(b"\x08" + _varint(d) for d in dims)
    )
    return body + b"\x10" + _varint(dtype) + _field(8, name.encode()) + _field(9, raw)


def _model(*tensors: bytes) -> bytes:
    return b"\x08\x08" + _field(2, b"hand") + _field(7, b"".join(_field(5, t) for t in tensors))


def test_hand_built_initializers_packed_and_not(tmp_path: Path) -> None:
    path = tmp_path / "model.onnx"
    path.write_bytes(
        _model(_tensor("w", [3, 4], 1, b"\0" * 48), _tensor("b", [4], 10, b"\0" * 8, packed=False))
    )
    got = read_onnx(path)
    assert isinstance(got, OnnxModel) and got.producer_name == "hand" and got.problems == ()
    assert [(t.name, t.dtype, t.shape, t.nbytes) for t in got.tensors] == [
        ("w", "F32", (3, 4), 48),
        ("b", "F16", (4,), 8),
    ]
    doc = _doc(path)
    assert doc["findings"] == [] and doc["totals"]["parameters"] == 16 and doc["totals"]["bytes"] == 56


def test_inline_data_shorter_than_the_shape(tmp_path: Path) -> None:
    path = tmp_path / "model.onnx"
    path.write_bytes(_model(_tensor("w", [3, 4], 1, b"\0" * 40)))
    (found,) = _doc(path)["findings"]
    assert found["code"] == "onnx-tensor-data" and "w holds 40 bytes" in found["message"]


@pytest.mark.parametrize(
    "data",
    [
        b"\x08\x08" + b"\x3a\xff\xff\xff\xff\x0f",  # graph longer than the file
        b"\x08\x08" + b"\x3a\x03" + b"\x2a\x05\x08",  # initializer longer than its graph
        b"\x08" + b"\xff" * 11,  # an 11-byte varint
        b"\x08\x08" + b"\x3b",  # wire type 3 (a group)
        b"\x08\x08" + b"\x3a\x02\x00\x00",  # field number 0
        b"\x12\x04abcd",  # no ir_version first
        b"",
    ],
)
def test_hostile_bytes_are_unreadable_not_crashes(tmp_path: Path, data: bytes) -> None:
    path = tmp_path / "model.onnx"
    path.write_bytes(data)
    assert isinstance(read_onnx(path), HeaderError)
    assert [f["code"] for f in _doc(path)["findings"]] == ["checkpoint-unreadable"]


def test_many_fields_and_dims_are_bounded(tmp_path: Path) -> None:
    path = tmp_path / "model.onnx"
    many = _field(7, b"\x10\x01" * 1_500_000)  # 1.5 million varint fields in the graph
    path.write_bytes(b"\x08\x08" + many + many)
    start = time.monotonic()
    got = read_onnx(path)
    assert isinstance(got, HeaderError) and "more protobuf fields" in got.reason
    assert time.monotonic() - start < 10
    path.write_bytes(_model(_tensor("w", [1] * 100, 1, b"\0" * 4)))
    assert isinstance(read_onnx(path), HeaderError)


def test_a_fifo_is_refused(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "model.onnx")
    got = read_onnx(tmp_path / "model.onnx")
    assert isinstance(got, HeaderError) and "regular" in got.reason


onnx = pytest.importorskip("onnx", reason="the onnx package writes the real files these tests read")


def _save(path: Path, *, external: bool) -> None:
    import numpy as np
    from onnx import TensorProto, helper, numpy_helper

    weights = [
        numpy_helper.from_array(np.ones((64, 32), dtype=np.float32), "fc.weight"),
        numpy_helper.from_array(np.ones((32,), dtype=np.float16), "fc.bias"),
        numpy_helper.from_array(np.ones((8, 8), dtype=np.int8), "q.weight"),
    ]
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 64])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 32])
    node = helper.make_node("Gemm", ["x", "fc.weight"], ["y"])
    model = helper.make_model(helper.make_graph([node], "g", [x], [y], weights), producer_name="tests")
    kwargs: dict[str, Any] = {}
    if external:
        kwargs = {"save_as_external_data": True, "location": "model.onnx_data", "size_threshold": 0}
    onnx.save_model(model, str(path), **kwargs)


def test_onnx_written_model_matches_onnx_itself(tmp_path: Path) -> None:
    path = tmp_path / "model.onnx"
    _save(path, external=False)
    got = read_onnx(path)
    assert isinstance(got, OnnxModel) and got.problems == () and got.producer_name == "tests"
    judge = onnx.load(str(path))
    assert [(t.name, tuple(t.dims)) for t in judge.graph.initializer] == [
        (t.name, t.shape) for t in got.tensors
    ]
    assert [t.dtype for t in got.tensors] == ["F32", "F16", "I8"]
    assert [t.nbytes for t in got.tensors] == [64 * 32 * 4, 64, 64]


def test_external_data_present_and_missing(tmp_path: Path) -> None:
    path = tmp_path / "model.onnx"
    _save(path, external=True)
    got = read_onnx(path, str(tmp_path))
    assert isinstance(got, OnnxModel) and got.problems == ()
    assert got.external["model.onnx_data"]["present"] is True
    assert {t.location for t in got.tensors} == {"model.onnx_data"}
    doc = _doc(path)
    assert doc["findings"] == []
    assert doc["files"][0]["details"]["external_data"]["model.onnx_data"]["tensors"] == 3
    data = tmp_path / "model.onnx_data"
    data.write_bytes(data.read_bytes()[:100])
    (found,) = _doc(path)["findings"]
    assert found["code"] == "onnx-tensor-data" and "model.onnx_data, which has 100" in found["message"]
    data.unlink()
    (found,) = _doc(path)["findings"]
    assert found["code"] == "onnx-tensor-data" and "is not there" in found["message"]


def test_external_location_outside_the_folder(tmp_path: Path) -> None:
    path = tmp_path / "model.onnx"
    entry = _field(13, _field(1, b"location") + _field(2, b"../../etc/passwd"))
    tensor = b"\x0a\x01\x04\x10\x01" + _field(8, b"w") + entry + b"\x70\x01"
    path.write_bytes(_model(tensor))
    (found,) = _doc(path)["findings"]
    assert found["code"] == "onnx-tensor-data" and "leaves the model's folder" in found["message"]
