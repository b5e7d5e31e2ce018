"""``hfcache fit``'s estimate: exact weight bytes, the KV cache by hand, plans that never overfill.

Checkpoints are real: tiny models saved by transformers, and larger Llama-shaped safetensors
files written to the format (a header and a sparse data area) so a plan can be pressed against
GPUs of a few hundred MiB without writing gigabytes.
"""

from __future__ import annotations

import json
import struct
import subprocess
import sys
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from checkpoints import safetensors_counts, save_bert, save_llama

from hfcache.fit import Hardware, estimate, kv_cache
from hfcache.fit.calls import size_text
from hfcache.inspect import inspect_target

GIB = 1 << 30
MIB = 1 << 20


def _hw(*gpus: int, ram: int = 64 * GIB, disk: int = 100 * GIB) -> Hardware:
    from hfcache.fit import Gpu

    return Hardware(
        tuple(Gpu(i, "test", g, g) for i, g in enumerate(gpus)), ram, disk, {"gpus": "test"}, "/tmp/off"
    )


def sparse_llama(
    folder: Path, *, layers: int = 8, hidden: int = 2048, inter: int = 5632, vocab: int = 32000
) -> int:
    """A Llama-shaped BF16 checkpoint (untied), data area sparse; returns its data bytes."""
    folder.mkdir(parents=True, exist_ok=True)
    heads, kv_heads = 16, 4
    dim = hidden // heads
    shapes: dict[str, list[int]] = {"model.embed_tokens.weight": [vocab, hidden]}
    for i in range(layers):
        p = f"model.layers.{i}."
        shapes |= {
            p + "self_attn.q_proj.weight": [hidden, hidden],
            p + "self_attn.k_proj.weight": [kv_heads * dim, hidden],
            p + "self_attn.v_proj.weight": [kv_heads * dim, hidden],
            p + "self_attn.o_proj.weight": [hidden, hidden],
            p + "mlp.gate_proj.weight": [inter, hidden],
            p + "mlp.up_proj.weight": [inter, hidden],
            p + "mlp.down_proj.weight": [hidden, inter],
            p + "input_layernorm.weight": [hidden],
            p + "post_attention_layernorm.weight": [hidden],
        }
    shapes |= {"model.norm.weight": [hidden], "lm_head.weight": [vocab, hidden]}
    header: dict[str, Any] = {"__metadata__": {"format": "pt"}}
    offset = 0
    for name, shape in shapes.items():
        n = 2
        for d in shape:
            n *= d
        header[name] = {"dtype": "BF16", "shape": shape, "data_offsets": [offset, offset + n]}
        offset += n
    raw = json.dumps(header).encode()
    raw += b" " * (-len(raw) % 8)
    path = folder / "model.safetensors"
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(raw)) + raw)
        f.truncate(8 + len(raw) + offset)
    config = {
        "architectures": ["LlamaForCausalLM"], "model_type": "llama", "hidden_size": hidden,
        "intermediate_size": inter, "num_hidden_layers": layers, "num_attention_heads": heads,
        "num_key_value_heads": kv_heads, "vocab_size": vocab, "max_position_embeddings": 2048,
        "tie_word_embeddings": False, "dtype": "bfloat16",
    }  # fmt: skip
    (folder / "config.json").write_text(json.dumps(config))
    return offset


def _feasible(plan: Any) -> None:
    """No device holds more than its budget, and the devices hold every weight."""
    for d in plan.per_device:
        assert d.total <= d.budget, (d, plan.verdict)
    assert plan.unplaced_bytes == 0


def test_weights_are_the_header_bytes_and_casts_are_exact(tmp_path: Path) -> None:
    save_llama(tmp_path / "llama", tied=False)
    counts = safetensors_counts([tmp_path / "llama" / "model.safetensors"])
    inspection = inspect_target(str(tmp_path / "llama"))
    plan = estimate(inspection, _hw(8 * GIB))
    assert plan.dtype == "bfloat16" and plan.dtype_source == "config"
    assert plan.weights_bytes == counts["bytes"] == sum(t.nbytes for t in inspection.tensors)
    params = counts["parameters"]
    assert estimate(inspection, _hw(8 * GIB), dtype="float32").weights_bytes == params * 4
    save_bert(tmp_path / "bert")  # float32 on disk
    bert = inspect_target(str(tmp_path / "bert"))
    stored = sum(t.nbytes for t in bert.tensors)
    floats = sum(t.parameters for t in bert.tensors if t.dtype == "F32")
    ints = stored - 4 * floats  # position_ids and the like keep their bytes
    half = estimate(bert, _hw(8 * GIB), dtype="bfloat16")
    assert half.weights_bytes == floats * 2 + ints
    assert half.auto_class == "AutoModel" and half.kv.bytes == 0 and half.vllm is None


def test_tied_head_is_counted_once(tmp_path: Path) -> None:
    save_llama(tmp_path / "tied", tied=True)
    save_llama(tmp_path / "untied", tied=False)
    tied = estimate(inspect_target(str(tmp_path / "tied")), _hw(8 * GIB))
    untied = estimate(inspect_target(str(tmp_path / "untied")), _hw(8 * GIB))
    assert untied.weights_bytes - tied.weights_bytes == 128 * 32 * 2  # lm_head: vocab x hidden, bf16


def test_kv_cache_by_hand_gqa_mla_sliding() -> None:
    gqa = {"num_hidden_layers": 32, "num_key_value_heads": 8, "head_dim": 128}
    cache = kv_cache({}, gqa, context=4096, batch=3, element_bytes=2)
    assert cache.bytes == 2 * 32 * 8 * 128 * 2 * 4096 * 3
    mla_config = {"kv_lora_rank": 512, "qk_rope_head_dim": 64, "num_hidden_layers": 61}
    mla = kv_cache(mla_config, {"num_hidden_layers": 61, "kv_lora_rank": 512, "num_key_value_heads": 128,
                                "head_dim": 56}, context=1000, batch=1, element_bytes=2)  # fmt: skip
    assert mla.kind == "mla" and mla.bytes == 61 * (512 + 64) * 2 * 1000
    types = ["sliding_attention"] * 5 + ["full_attention"]
    sliding = {"sliding_window": 512, "layer_types": types * 2}
    facts = {"num_hidden_layers": 12, "num_key_value_heads": 4, "head_dim": 256}
    got = kv_cache(sliding, facts, context=8192, batch=2, element_bytes=2)
    per_token = 2 * 4 * 256 * 2 * 2
    assert got.sliding_layers == 10 and got.bytes == 2 * per_token * 8192 + 10 * per_token * 512
    pattern = kv_cache({"sliding_window": 512, "sliding_window_pattern": 6}, facts, context=8192, batch=2,
                       element_bytes=2)  # fmt: skip
    assert pattern.bytes == got.bytes
    mistral = kv_cache({"sliding_window": 4096}, facts, context=8192, batch=2, element_bytes=2)
    assert mistral.bytes == 12 * per_token * 4096
    qwen = kv_cache({"sliding_window": 4096, "use_sliding_window": False}, facts, context=8192, batch=2,
                    element_bytes=2)  # fmt: skip
    assert qwen.bytes == 12 * per_token * 8192


def test_a_real_config_gives_the_formula(tmp_path: Path) -> None:
    save_llama(tmp_path / "m", tied=True)  # 2 layers, 2 kv heads, head_dim 8, context 64
    plan = estimate(inspect_target(str(tmp_path / "m")), _hw(8 * GIB), batch=2)
    assert plan.context == 64
    assert plan.kv.bytes == 2 * 2 * 2 * 8 * 2 * 64 * 2


@pytest.mark.parametrize(
    ("gpus", "ram", "verdict"),
    [
        ((8 * GIB,), 64 * GIB, "fits-gpu"),
        ((1400 * MIB,), 64 * GIB, "needs-8bit"),
        ((1100 * MIB,), 64 * GIB, "needs-4bit"),
        ((700 * MIB,), 64 * GIB, "fits-gpu-cpu-offload"),
        ((700 * MIB,), 300 * MIB, "needs-disk-offload"),
        ((), 64 * GIB, "fits-cpu"),
        ((), 300 * MIB, "needs-disk-offload"),
        ((1200 * MIB, 1200 * MIB), 64 * GIB, "fits-gpu"),  # one alone: 4-bit
    ],
)
def test_plans_never_overfill(tmp_path: Path, gpus: tuple[int, ...], ram: int, verdict: str) -> None:
    data = sparse_llama(tmp_path / "m")  # about 940 MiB of bf16
    plan = estimate(inspect_target(str(tmp_path / "m")), _hw(*gpus, ram=ram), context=1024)
    assert plan.weights_bytes == data
    assert plan.verdict == verdict, plan.reasons
    assert plan.fits
    _feasible(plan)
    held = sum(d.weights for d in plan.per_device)
    if plan.quantization is None:
        assert held == data
    else:
        assert held < data
    for d in plan.per_device:
        if isinstance(d.device, int) and plan.max_memory is not None:
            assert plan.max_memory[d.device] == size_text(d.weights + d.reserved)
    if verdict == "needs-disk-offload":
        assert plan.kwargs["offload_folder"] == "/tmp/off"


@pytest.mark.parametrize("gpu", [600 * MIB, 100 * MIB])  # below what GPU 0 must hold; below the CUDA context
def test_a_gpu_too_small_with_ram_enough_gives_the_cpu_plan(tmp_path: Path, gpu: int) -> None:
    from hfcache.fit import Gpu

    data = sparse_llama(tmp_path / "m")
    inspection = inspect_target(str(tmp_path / "m"))
    given = Gpu(0, "given", gpu, gpu, given=f"{gpu // MIB} MiB")
    hw = Hardware((given,), 64 * GIB, 100 * GIB, {"gpus": "--gpu"}, "/tmp/off")
    plan = estimate(inspection, hw, context=1024)
    assert (plan.verdict, plan.fits, plan.device_map, plan.quantization) == ("fits-cpu", True, None, None)
    assert plan.kwargs == {"dtype": "bfloat16"}  # a plain from_pretrained: on the CPU, no accelerate
    assert [d.device for d in plan.per_device] == ["cpu"] and plan.per_device[0].weights == data
    _feasible(plan)
    first, why = plan.reasons[:2]
    assert first.startswith("the GPUs are too small to use")
    assert why.startswith(f"the GPU is too small, not the machine: GPU 0 ({gpu // MIB} MiB given) leaves ")
    assert "the largest layer" in why and "activations" in why and "runs on the CPU" in why
    # RAM too small as well: RAM and disk, still without the GPU (max_memory names no GPU).
    small = estimate(inspection, replace(hw, ram_available=700 * MIB), context=1024)
    assert small.verdict == "needs-disk-offload" and small.fits
    assert small.max_memory is not None and list(small.max_memory) == ["cpu"]
    assert [d.device for d in small.per_device] == ["cpu", "disk"] and small.kwargs[
        "offload_folder"
    ] == "/tmp/off"
    _feasible(small)
    assert small.reasons[0].startswith("the GPUs are too small to use and RAM too")
    # A GPU big enough to run layers on keeps its place: GPU plus RAM, as before.
    assert estimate(inspection, _hw(700 * MIB), context=1024).verdict == "fits-gpu-cpu-offload"


def test_accelerate_advice_only_where_it_may_be_missing(tmp_path: Path) -> None:
    """Every device_map needs accelerate where the model loads (transformers 5 check_and_set_device_map):
    no word when it is there, advice for that machine when it is not or cannot be known."""
    sparse_llama(tmp_path / "m")
    inspection = inspect_target(str(tmp_path / "m"))

    def said(accelerate: bool | None, *gpus: int) -> list[str]:
        plan = estimate(inspection, replace(_hw(*gpus), accelerate=accelerate), context=1024)
        return [r for r in plan.reasons if "accelerate" in r]

    assert said(True, 700 * MIB) == [] and said(True, 8 * GIB) == []  # offload, and device_map={"": 0}
    assert said(False, 700 * MIB) == [
        "device_map needs accelerate (1.1.0 or later), and this Python has none: "
        "install accelerate on the machine that loads it: pip install accelerate"
    ]
    assert said(None, 8 * GIB) == [
        "device_map needs accelerate (1.1.0 or later): if it is missing, "
        "install accelerate on the machine that loads it: pip install accelerate"
    ]
    assert said(False) == [] and said(None) == []  # fits-cpu: no device_map, nothing to install


def test_nothing_fits_a_machine_too_small(tmp_path: Path) -> None:
    sparse_llama(tmp_path / "m")
    plan = estimate(inspect_target(str(tmp_path / "m")), _hw(ram=100 * MIB, disk=100 * MIB))
    assert plan.verdict == "does-not-fit" and not plan.fits and plan.unplaced_bytes > 0


def test_cpu_plan_loads_with_transformers(tmp_path: Path) -> None:
    """The fits-cpu kwargs need no accelerate: from_pretrained(path, **kwargs) loads the model."""
    save_llama(tmp_path / "m", tied=False)
    plan = estimate(inspect_target(str(tmp_path / "m")), _hw(), dtype="float32")
    assert plan.verdict == "fits-cpu" and plan.kwargs == {"dtype": "float32"}
    code = (
        "import json, sys, transformers\n"
        "kwargs = json.loads(sys.argv[2])\n"
        "m = transformers.AutoModelForCausalLM.from_pretrained(sys.argv[1], **kwargs)\n"
        "print(m.dtype, sum(p.numel() * p.element_size() for p in m.parameters()))\n"
    )
    run = subprocess.run(
        [sys.executable, "-c", code, plan.model, json.dumps(plan.kwargs)],
        capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert run.returncode == 0, run.stderr[-2000:]
    dtype, nbytes = run.stdout.split()[-2:]
    assert dtype == "torch.float32" and int(nbytes) == plan.weights_bytes
