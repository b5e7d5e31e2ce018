"""``estimate``: will this checkpoint load and run a forward pass on this hardware, and how.

Pure: it takes an :class:`~hfcache.inspect.Inspection` and a :class:`Hardware` and reads nothing.
It counts the weights at the dtype, the KV cache and the activations, lets
:func:`hfcache.fit.choose.choose` pick the fastest plan that holds (the margins are there), and
writes the plan out: bytes per device, ``from_pretrained`` keyword arguments, ``vllm serve`` flags.

- the KV cache of every layer accelerate runs on GPU 0 (its own and each offloaded one) sits on
  GPU 0; activations: ``batch * context * (4 * hidden + 2 * intermediate) * dtype bytes`` plus
  float32 logits for the last token, ``batch * vocab * 4`` (sdpa attention: no context^2 matrix).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from hfcache import layout
from hfcache.errors import BadInputError
from hfcache.fit.calls import auto_class, python_call, size_text, vllm_plan
from hfcache.fit.choose import CPU_SHARE, Choice, choose
from hfcache.fit.gguf import KV_BYTES, GgufModel, gguf_model, llama_cpp_call
from hfcache.fit.gpus import MIB
from hfcache.fit.hardware import Hardware
from hfcache.fit.kvcache import KvCache, kv_cache
from hfcache.fit.plan import DevicePlan, FitPlan
from hfcache.fit.weights import TARGET_BYTES, Unit, auto_dtype, counted, largest_layer, loaded_bytes, units
from hfcache.inspect import Inspection

VLLM_OVERHEAD = 1024 * MIB  # CUDA context, CUDA graphs and sampler buffers: an assumption
DEFAULT_CONTEXT = 4096
DTYPES = ("auto", "bfloat16", "float16", "float32")


def _context(facts: Mapping[str, Any], context: int | None) -> int:
    if context is not None:
        if context < 1:
            raise BadInputError(f"--context must be at least 1, not {context}")
        return context
    limit = facts.get("max_position_embeddings")
    return min(limit, DEFAULT_CONTEXT) if isinstance(limit, int) and limit > 0 else DEFAULT_CONTEXT


def activations(facts: Mapping[str, Any], *, batch: int, context: int, element: int, decoder: bool) -> int:
    """The working memory of one forward pass (see the module docstring); 0 without ``hidden_size``."""
    hidden, inter = facts.get("hidden_size"), facts.get("intermediate_size")
    if not isinstance(hidden, int):
        return 0
    inter = inter if isinstance(inter, int) else 4 * hidden
    vocab = facts.get("vocab_size")
    logits = batch * vocab * 4 if decoder and isinstance(vocab, int) else 0
    return batch * context * (4 * hidden + 2 * inter) * element + logits


def _model_ref(inspection: Inspection) -> tuple[str, dict[str, Any]]:
    """What to pass ``from_pretrained`` (repo id or folder) and the kwargs that find it."""
    t = inspection.target
    if t.repo_id is not None:
        extra: dict[str, Any] = {}
        if t.revision not in (None, "main"):
            extra["revision"] = t.revision  # a snapshot folder given: its commit
        if t.cache_dir and os.path.abspath(t.cache_dir) != os.path.abspath(layout.default_cache_dir()):
            extra["cache_dir"] = t.cache_dir
        return t.repo_id, extra
    return (t.path if t.kind == "folder" else os.path.dirname(t.path)), {}


def estimate(
    inspection: Inspection,
    hardware: Hardware,
    *,
    context: int | None = None,
    batch: int = 1,
    dtype: str = "auto",
) -> FitPlan:
    """The plan for loading ``inspection``'s checkpoint on ``hardware`` (see the module docstring)."""
    if dtype not in DTYPES:
        raise BadInputError(f"--dtype must be one of {', '.join(DTYPES)}, not {dtype!r}")
    if batch < 1:
        raise BadInputError(f"--batch must be at least 1, not {batch}")
    if not inspection.tensors:
        raise BadInputError(f"no tensors could be read from {inspection.given}: nothing to plan")
    facts = inspection.architecture or {}
    config = inspection.config or {}
    gguf = gguf_model(inspection)
    if gguf is not None:  # llama.cpp loads every tensor as stored; f16 KV cache (hfcache/fit/gguf.py)
        if dtype != "auto":
            raise BadInputError("--dtype does not apply to GGUF: llama.cpp loads its tensors as stored")
        facts, config = gguf.facts, {"architectures": ["GgufForCausalLM"]}
    ctx = _context(facts, context)
    quantized = inspection.quantization is not None or gguf is not None
    chosen = auto_dtype(facts, inspection.tensors) if dtype == "auto" else dtype
    source = "--dtype" if dtype != "auto" else ("config" if facts.get("dtype") == chosen else "checkpoint")
    element = TARGET_BYTES[chosen] if gguf is None else KV_BYTES
    tensors = counted(inspection.tensors, inspection.ties) if gguf is None else list(gguf.tensors)
    weights: dict[str, dict[str, int]] = {}
    for t in tensors:
        w = weights.setdefault(t.dtype, {"tensors": 0, "stored_bytes": 0, "loaded_bytes": 0})
        w["tensors"] += 1
        w["stored_bytes"] += t.nbytes
        w["loaded_bytes"] += loaded_bytes(t, element, quantized=quantized)
    found = units(tensors, element, quantized=quantized)
    auto = auto_class(config)
    decoder = auto in ("AutoModelForCausalLM", "AutoModelForImageTextToText", "AutoModelForSeq2SeqLM")
    cache = kv_cache(config, facts, context=ctx, batch=batch, element_bytes=element, decoder=decoder)
    act = activations(facts, batch=batch, context=ctx, element=element, decoder=decoder)
    reasons: list[str] = list(hardware.notes)
    if isinstance(facts.get("max_position_embeddings"), int) and ctx > facts["max_position_embeddings"]:
        reasons.append(f"--context {ctx} is beyond the model's max_position_embeddings")
    result = choose(found, cache, act, hardware, quantized, reasons)
    plan = _plan(
        inspection, hardware, result, chosen, source, ctx, batch, weights, cache, act, found, reasons
    )
    return plan if gguf is None else _llama_cpp(plan, gguf, result)


_NOT_LLAMA_CPP = ("vllm", "device_map needs")
"""Reasons about transformers' and vLLM's lines, which a llama.cpp plan does not print."""


def _llama_cpp(plan: FitPlan, gguf: GgufModel, c: Choice) -> FitPlan:
    """The plan said as llama.cpp takes it: ``-ngl`` the blocks on GPUs, no transformers arguments
    (and no ``device_map`` or accelerate advice: llama.cpp places the layers itself)."""
    on_gpu = [u for s, placed in zip(c.fill.slots, c.fill.placed, strict=True) if s.gpu for u in placed]
    everything = not c.fill.left and all(
        not placed for s, placed in zip(c.fill.slots, c.fill.placed, strict=True) if not s.gpu
    )
    blocks = sum(1 for u in on_gpu if u.block is not None)
    call, kwargs = llama_cpp_call(gguf, plan.context, blocks, everything and bool(on_gpu))
    why = (
        f"GGUF: llama.cpp loads {', '.join(gguf.files)} as stored (no cast, no bitsandbytes), with an f16 "
        "KV cache; the line is llama-server's, the kwargs llama-cpp-python's Llama()"
    )
    return replace(
        plan,
        auto_class="llama.cpp",
        model=gguf.paths[0],
        dtype="as-stored",
        dtype_source="gguf",
        quantization=None,
        device_map=None,
        max_memory=None,
        kwargs=kwargs,
        call=call,
        vllm=None,
        reasons=(plan.reasons[0], why, *(r for r in plan.reasons[1:] if not r.startswith(_NOT_LLAMA_CPP))),
    )


def _plan(
    inspection: Inspection,
    hw: Hardware,
    c: Choice,
    dtype: str,
    source: str,
    ctx: int,
    batch: int,
    weights: dict[str, dict[str, int]],
    cache: KvCache,
    act: int,
    found: list[Unit],
    reasons: list[str],
) -> FitPlan:
    accelerate = isinstance(c.device_map, str)
    per_device = []
    max_memory: dict[int | str, str] = {}
    offloaded = any(not s.gpu and p for s, p in zip(c.fill.slots, c.fill.placed, strict=True))
    for i, (s, placed) in enumerate(zip(c.fill.slots, c.fill.placed, strict=True)):
        held = sum(u.at_bits(c.bits) for u in placed)
        kv = s.kv_fixed + (sum(c.kv(u) for u in placed) + (c.fill.extra_kv if i == 0 else 0) if s.gpu else 0)
        if placed or s.key != "disk":
            reserved = s.reserve if (accelerate and (offloaded or s.gpu)) else 0
            per_device.append(DevicePlan(s.key, s.name, s.budget, held, kv, s.act, reserved, len(placed)))
        if accelerate and s.key != "disk":
            need = held + s.reserve
            last = all(not p for p in c.fill.placed[i + 1 :]) and s.key == "cpu"
            max_memory[s.key] = size_text(s.budget if last else int(max(need, 1) / c.share))
    if accelerate and "cpu" not in max_memory:
        max_memory["cpu"] = size_text(int(CPU_SHARE * (hw.ram_available or 0)) or MIB)
    model, kwargs = _model_ref(inspection)
    kwargs = {"dtype": dtype, **kwargs}
    quant: dict[str, Any] | None = None
    if c.bits == 8:
        quant = {"load_in_8bit": True}
    elif c.bits == 4:
        quant = {"load_in_4bit": True, "bnb_4bit_quant_type": "nf4", "bnb_4bit_compute_dtype": dtype}
    if quant is not None:
        kwargs["quantization_config"] = quant
        reasons.append(
            "quantization_config: wrap it as BitsAndBytesConfig(**d); needs bitsandbytes and a GPU"
        )
    if c.device_map is not None:
        kwargs["device_map"] = c.device_map
        if hw.accelerate is not True:
            reasons.append(_ACCELERATE[hw.accelerate])
    if accelerate:
        kwargs["max_memory"] = {str(k): v for k, v in max_memory.items()}
    disk_used = any(s.key == "disk" and p for s, p in zip(c.fill.slots, c.fill.placed, strict=True))
    if disk_used:
        kwargs["offload_folder"] = hw.offload_folder or "offload"
    reasons.insert(0, _why(c.verdict, len([s for s in c.fill.slots if s.gpu]), c.gpus_left_out))
    weights_bytes = sum(w["loaded_bytes"] for w in weights.values())
    auto = auto_class(inspection.config)
    vllm = None
    if auto == "AutoModelForCausalLM":
        gpus = [(g.total or 0, g.free or 0) for g in hw.gpus if g.total and g.free is not None]
        mla = cache.kind == "mla"
        vllm, why = vllm_plan(
            model=model,
            revision=kwargs.get("revision"),
            gpus=gpus,
            heads=(inspection.architecture or {}).get("num_attention_heads"),
            weights=weights_bytes,
            kv=cache.bytes,
            activations=act,
            context=ctx,
            dtype=dtype,
            overhead=VLLM_OVERHEAD,
        )
        if vllm is None:
            reasons.append(why)
        elif mla:
            reasons.append("vllm: MLA caches the latent, the same bytes as counted here")
    return FitPlan(
        model=model,
        auto_class=auto,
        dtype=dtype,
        dtype_source=source,
        context=ctx,
        batch=batch,
        weights=weights,
        weights_bytes=weights_bytes,
        kv=cache,
        activations_bytes=act,
        largest_layer_bytes=largest_layer(found, c.bits),
        quantization=quant,
        device_map=c.device_map,
        max_memory=max_memory or None,
        offload_folder=kwargs.get("offload_folder"),
        per_device=tuple(per_device),
        unplaced_bytes=sum(u.at_bits(c.bits) for u in c.fill.left),
        verdict=c.verdict,
        reasons=tuple(reasons),
        kwargs=kwargs,
        call=python_call(auto, model, kwargs, max_memory or None, quant),
        vllm=vllm,
        hardware=hw,
    )


_ACCELERATE = {
    False: "device_map needs accelerate (1.1.0 or later), and this Python has none: install accelerate on "
    "the machine that loads it: pip install accelerate",
    None: "device_map needs accelerate (1.1.0 or later): if it is missing, install accelerate on the machine "
    "that loads it: pip install accelerate",
}
"""What the plan says about accelerate: nothing where it is installed (``Hardware.accelerate``)."""


def _why(verdict: str, gpus: int, left_out: bool) -> str:
    if left_out:  # GPUs too small to run on (the next reason says why): a plan without them
        return {
            "fits-cpu": "the GPUs are too small to use: the weights, KV cache and activations fit in RAM",
            "needs-disk-offload": "the GPUs are too small to use and RAM too: the rest is read from disk",
        }[verdict]
    where = f"{gpus} GPU{'s' if gpus != 1 else ''}"
    return {
        "fits-gpu": f"the weights, KV cache and activations fit on {where}",
        "fits-cpu": "no GPU: the weights, KV cache and activations fit in RAM",
        "needs-8bit": f"too large for {where} at this dtype; fits once bitsandbytes quantizes to 8-bit",
        "needs-4bit": f"too large for {where} even at 8-bit; fits at 4-bit (nf4)",
        "fits-gpu-cpu-offload": f"too large for {where}: the rest stays in RAM, run on GPU 0 (slower)",
        "needs-disk-offload": "too large for GPU and RAM: the rest is read from disk (much slower)",
        "does-not-fit": "too large even with the disk: more memory, a smaller dtype or model",
    }[verdict]
