"""``fit`` on GGUF models: llama.cpp's stored bytes, an f16 KV cache, a llama-server line."""

from __future__ import annotations

from pathlib import Path

import pytest
from ggufgen import build, kv_str, kv_u32, nbytes

from hfcache.errors import BadInputError
from hfcache.fit import fit_target

LAYERS, HIDDEN, HEADS, KV_HEADS, FFN = 4, 256, 8, 2, 512


def _write(path: Path, quant: int = 12) -> int:
    """A 4-block llama GGUF with ``quant`` weights (Q4_K by default); returns its tensor bytes."""
    tensors = [("token_embd.weight", 1, (HIDDEN, 1000))]
    for i in range(LAYERS):
        tensors += [
            (f"blk.{i}.attn_q.weight", quant, (HIDDEN, HIDDEN)),
            (f"blk.{i}.ffn_up.weight", quant, (HIDDEN, FFN)),
            (f"blk.{i}.attn_norm.weight", 0, (HIDDEN,)),
        ]
    tensors += [("output_norm.weight", 0, (HIDDEN,)), ("output.weight", 14, (HIDDEN, 1000))]
    kvs = [kv_str("general.architecture", "llama"), kv_u32("llama.context_length", 2048)]
    kvs += [kv_u32("llama.block_count", LAYERS), kv_u32("llama.embedding_length", HIDDEN)]
    kvs += [kv_u32("llama.attention.head_count", HEADS), kv_u32("llama.attention.head_count_kv", KV_HEADS)]
    kvs += [kv_u32("llama.feed_forward_length", FFN), kv_u32("llama.vocab_size", 1000)]
    path.write_bytes(build(kvs, tensors))
    return sum(nbytes(t, s) for _, t, s in tensors)


def test_weights_are_the_files_tensor_bytes_and_kv_is_f16(tmp_path: Path) -> None:
    path = tmp_path / "m-Q4_K_M.gguf"
    stored = _write(path)
    result = fit_target(str(path), gpus=["24GiB"], ram="64GiB", disk="100GiB")
    plan = result.plan
    assert plan is not None and plan.verdict == "fits-gpu"
    assert plan.weights_bytes == stored
    assert plan.weights["Q4_K"]["loaded_bytes"] == plan.weights["Q4_K"]["stored_bytes"]
    head_dim = HIDDEN // HEADS
    assert plan.kv.bytes == LAYERS * 2 * KV_HEADS * head_dim * 2 * 2048
    assert plan.call == f"llama-server -m {path} -c 2048 -ngl 999"
    assert plan.kwargs == {"model_path": str(path), "n_ctx": 2048, "n_gpu_layers": 999}
    assert plan.dtype == "as-stored" and plan.vllm is None and plan.device_map is None
    assert any("llama.cpp loads" in r for r in plan.reasons)


def test_a_small_gpu_takes_some_blocks(tmp_path: Path) -> None:
    path = tmp_path / "m-F32.gguf"
    _write(path, quant=0)  # F32 blocks: about 0.8 MB each
    plan = fit_target(str(path), gpus=["502MiB"], ram="64GiB", disk="100GiB", context=256).plan
    assert plan is not None
    assert plan.verdict in ("fits-gpu", "fits-gpu-cpu-offload", "fits-cpu")
    assert plan.call.startswith(f"llama-server -m {path} -c 256 -ngl ")


def test_a_folder_of_several_quantizations_asks_for_one(tmp_path: Path) -> None:
    _write(tmp_path / "m-Q4_K_M.gguf")
    _write(tmp_path / "m-Q8_0.gguf", quant=8)
    with pytest.raises(BadInputError, match="2 GGUF models"):
        fit_target(str(tmp_path), gpus=["24GiB"], ram="64GiB", disk="100GiB")


def test_split_parts_are_one_model(tmp_path: Path) -> None:
    one = _write(tmp_path / "m-00001-of-00002.gguf")
    two = _write(tmp_path / "m-00002-of-00002.gguf")
    plan = fit_target(str(tmp_path), gpus=["24GiB"], ram="64GiB", disk="100GiB").plan
    assert plan is not None and plan.weights_bytes == one + two


def test_dtype_does_not_apply(tmp_path: Path) -> None:
    path = tmp_path / "m.gguf"
    _write(path)
    with pytest.raises(BadInputError, match="GGUF"):
        fit_target(str(path), gpus=["24GiB"], ram="64GiB", disk="100GiB", dtype="float16")
