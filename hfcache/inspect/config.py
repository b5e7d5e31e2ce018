"""What ``config.json`` says about the architecture, the tied embeddings and the quantization.

Read as JSON only: no transformers, no modeling code. Names differ between model families
(GPT-2 calls the layer count ``n_layer``), multimodal configs keep the language model's numbers
in ``text_config``; both are folded into one set of facts, and what was derived rather than
read (``head_dim`` from ``hidden_size / num_attention_heads``) is said so.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from hfcache.formats.regular import open_regular
from hfcache.inspect.checkpoint import TensorRecord

CONFIG_MAX_BYTES = 16 * 1024 * 1024

FACTS = (
    "num_hidden_layers", "hidden_size", "num_attention_heads", "num_key_value_heads", "head_dim",
    "intermediate_size", "vocab_size", "max_position_embeddings", "num_experts", "num_local_experts",
    "num_experts_per_tok", "sliding_window", "kv_lora_rank",
)  # fmt: skip
_ALIASES = {
    "num_hidden_layers": ("n_layer", "num_layers", "n_layers"),
    "hidden_size": ("n_embd", "d_model"),
    "num_attention_heads": ("n_head", "num_heads", "n_heads"),
    "intermediate_size": ("n_inner", "ffn_dim"),
    "max_position_embeddings": ("n_positions", "max_seq_len"),
    "num_experts": ("n_routed_experts",),
}
_NESTED = ("text_config", "language_config", "llm_config")

# quant_method -> (what the packed weights show, what it means)
_QUANT: dict[str, tuple[str | None, str]] = {
    "gptq": ("I32", "GPTQ: each I32 of qweight/qzeros packs 32/bits weights; F16 scales per group; g_idx"),
    "awq": ("I32", "AWQ: each I32 of qweight/qzeros packs 32/bits weights; F16 scales per group"),
    "bitsandbytes-4bit": ("U8", "bitsandbytes 4-bit (nf4/fp4): two weights per U8, absmax and quant_state"),
    "bitsandbytes-8bit": ("I8", "bitsandbytes LLM.int8(): I8 weights with SCB scales"),
    "fp8": ("F8_E4M3", "FP8: F8_E4M3 weights with weight_scale_inv (block scales)"),
    "fbgemm_fp8": ("F8_E4M3", "FP8 (fbgemm): F8_E4M3 weights with per-channel weight_scale"),
    "compressed-tensors": (
        None,
        "compressed-tensors: layout given by its config_groups (int or fp8 packing)",
    ),
    "mxfp4": ("U8", "MXFP4: two 4-bit weights per U8 in *_blocks, with U8 *_scales"),
    "hqq": ("U8", "HQQ: packed U8 weights with scales and zeros"),
    "gguf": (None, "GGUF quantization, dequantized by transformers when loading"),
}


def read_config(path: str) -> dict[str, Any] | str:
    """``config.json`` as a dict, or the reason it cannot be used."""
    try:
        with open_regular(path) as f:  # a FIFO named config.json never blocks the read
            raw = f.read(CONFIG_MAX_BYTES + 1)
    except OSError as e:
        return f"cannot read it: {e.strerror or e}"
    if len(raw) > CONFIG_MAX_BYTES:
        return f"larger than {CONFIG_MAX_BYTES} bytes"
    try:
        obj = json.loads(raw.decode("utf-8-sig"))
    except (ValueError, RecursionError) as e:
        return f"not valid JSON: {e}"
    return obj if isinstance(obj, dict) else "not a JSON object"


def _text_part(config: dict[str, Any]) -> dict[str, Any]:
    for key in _NESTED:
        nested = config.get(key)
        if isinstance(nested, dict):
            return nested
    return {}


def _int(value: object) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _lookup(parts: Iterable[dict[str, Any]], key: str) -> Any:
    for part in parts:
        for name in (key, *_ALIASES.get(key, ())):
            if part.get(name) is not None:
                return part[name]
    return None


def architecture(config: dict[str, Any]) -> dict[str, Any]:
    """The architecture facts, from ``text_config`` first where there is one, then the top level."""
    text = _text_part(config)
    parts = (text, config)
    facts: dict[str, Any] = {
        "model_type": config.get("model_type"),
        "architectures": config.get("architectures"),
        "text_model_type": text.get("model_type") if text else None,
    }
    derived: list[str] = []
    for key in FACTS:
        facts[key] = _lookup(parts, key)
    hidden, heads = _int(facts["hidden_size"]), _int(facts["num_attention_heads"])
    if facts["head_dim"] is None and hidden and heads and hidden % heads == 0:
        facts["head_dim"] = hidden // heads
        derived.append("head_dim")
    if facts["num_key_value_heads"] is None and heads:
        facts["num_key_value_heads"] = heads
        derived.append("num_key_value_heads")
    facts["dtype"] = _lookup(parts, "dtype") or _lookup(parts, "torch_dtype")
    tie, explicit = tie_word_embeddings(config)
    facts["tie_word_embeddings"] = tie
    if not explicit:
        derived.append("tie_word_embeddings")
    facts["derived"] = derived
    return facts


def tie_word_embeddings(config: dict[str, Any]) -> tuple[bool, bool]:
    """(tied?, said so explicitly?). Absent means transformers' base default, ``True``."""
    for part in (config, _text_part(config)):
        value = part.get("tie_word_embeddings")
        if isinstance(value, bool):
            return value, True
    return True, False


def is_causal_lm(config: dict[str, Any]) -> bool:
    """Does the config's architecture end in an output head over the vocabulary?"""
    names = config.get("architectures")
    suffixes = ("ForCausalLM", "LMHeadModel", "ForConditionalGeneration")
    return isinstance(names, list) and any(isinstance(n, str) and n.endswith(suffixes) for n in names)


def quantization(config: dict[str, Any], tensors: Iterable[TensorRecord]) -> dict[str, Any] | None:
    """``quantization_config`` and what it means for the tensors stored, or ``None`` without one."""
    quant = config.get("quantization_config")
    if not isinstance(quant, dict):
        quant = _text_part(config).get("quantization_config")
    if not isinstance(quant, dict):
        return None
    method = str(quant.get("quant_method") or "unknown")
    bits = _int(quant.get("bits")) or _int(quant.get("w_bit"))
    key = method
    if method == "bitsandbytes":
        bits = 4 if quant.get("load_in_4bit") else 8 if quant.get("load_in_8bit") else bits
        key = f"bitsandbytes-{bits}bit"
    elif method in ("fp8", "fbgemm_fp8"):
        bits = 8
    packed_dtype, meaning = _QUANT.get(key, (None, f"{method}: a quantization hfcache does not describe"))
    records = list(tensors)
    packed = [t for t in records if packed_dtype is not None and t.dtype == packed_dtype]
    per_element = 1
    if packed_dtype == "I32" and bits:
        per_element = 32 // bits
    elif (packed_dtype == "U8" and bits == 4) or key == "mxfp4":
        per_element = 2
    return {
        "quant_method": method,
        "bits": bits,
        "group_size": _int(quant.get("group_size")) or _int(quant.get("q_group_size")),
        "packed_dtype": packed_dtype,
        "packed_tensors": len(packed),
        "values_per_element": per_element,
        "packed_values": sum(t.parameters for t in packed) * per_element,
        "meaning": meaning,
        "config": quant,
    }
