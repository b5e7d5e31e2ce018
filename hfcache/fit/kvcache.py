"""Bytes of the key/value cache for ``context`` tokens of ``batch`` sequences, from ``config.json``.

Per layer and token, attention caches ``2 * num_key_value_heads * head_dim`` values (a key and a
value per kv head). Multi-head latent attention (DeepSeek-V2/V3: ``kv_lora_rank`` set) caches the
compressed latent and the shared rotary key instead, ``kv_lora_rank + qk_rope_head_dim`` values,
with no *2: transformers 5 stores exactly those (``models/deepseek_v3/modeling_deepseek_v3.py``,
"Cache read / write is performed while latent KV is still compressed") and so does vLLM.

A sliding-window layer keeps at most ``sliding_window`` tokens (transformers'
``DynamicSlidingWindowLayer``, ``cache_utils.py``). Which layers slide follows transformers'
``get_layer_types_and_kwargs``: ``layer_types`` when the config lists them, else
``sliding_window_pattern`` (every N-th layer full, Gemma 2/3), else every layer when
``sliding_window`` is set and ``use_sliding_window`` is not false (Mistral; Qwen2 sets it false).
Anything unclear counts as full attention: a cache larger than needed, never smaller.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

_NESTED = ("text_config", "language_config", "llm_config")


@dataclass(frozen=True)
class KvCache:
    """The cache for ``context`` * ``batch``: ``bytes`` in all, ``per_layer`` for each decoder layer."""

    kind: str  # "attention", "mla" or "none" (no decoder: an encoder such as BERT)
    context: int
    batch: int
    element_bytes: int
    values_per_token_layer: int
    layers: int
    sliding_layers: int
    sliding_window: int | None
    per_layer: tuple[int, ...]
    formula: str

    @property
    def bytes(self) -> int:
        return sum(self.per_layer)

    def to_json(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "context": self.context,
            "batch": self.batch,
            "element_bytes": self.element_bytes,
            "values_per_token_layer": self.values_per_token_layer,
            "layers": self.layers,
            "sliding_layers": self.sliding_layers,
            "sliding_window": self.sliding_window,
            "bytes": self.bytes,
            "formula": self.formula,
        }


def _int(value: object) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else None


def _parts(config: Mapping[str, Any]) -> tuple[Mapping[str, Any], ...]:
    for key in _NESTED:
        nested = config.get(key)
        if isinstance(nested, dict):
            return (nested, config)
    return (config,)


def _get(parts: tuple[Mapping[str, Any], ...], key: str) -> Any:
    for part in parts:
        if part.get(key) is not None:
            return part[key]
    return None


def sliding_layers(config: Mapping[str, Any], layers: int) -> list[bool]:
    """For each layer: does it keep only the last ``sliding_window`` tokens?"""
    parts = _parts(config)
    window = _int(_get(parts, "sliding_window"))
    if window is None:
        return [False] * layers
    types = _get(parts, "layer_types")
    if isinstance(types, list) and len(types) == layers:
        return [t == "sliding_attention" for t in types]
    pattern = _int(_get(parts, "sliding_window_pattern"))
    if pattern is not None:
        return [(i + 1) % pattern != 0 for i in range(layers)]
    if _get(parts, "use_sliding_window") is False or isinstance(types, list):
        return [False] * layers  # a layer_types list of the wrong length: trust nothing, count all
    return [True] * layers


def kv_cache(
    config: Mapping[str, Any] | None,
    facts: Mapping[str, Any] | None,
    *,
    context: int,
    batch: int,
    element_bytes: int,
    decoder: bool = True,
) -> KvCache:
    """The cache of a decoder (``decoder=False``, or facts missing: no cache, ``kind`` "none")."""
    facts = facts or {}
    config = config or {}
    layers = _int(facts.get("num_hidden_layers")) or 0
    none = KvCache("none", context, batch, element_bytes, 0, layers, 0, None, (), "no key/value cache")
    if not decoder or not layers:
        return none
    parts = _parts(config)
    lora = _int(facts.get("kv_lora_rank")) or _int(_get(parts, "kv_lora_rank"))
    if lora is not None:
        rope = _int(_get(parts, "qk_rope_head_dim")) or 0
        values, kind = lora + rope, "mla"
        what = f"(kv_lora_rank {lora} + qk_rope_head_dim {rope})"
    else:
        heads, dim = _int(facts.get("num_key_value_heads")), _int(facts.get("head_dim"))
        if heads is None or dim is None:
            return none
        values, kind = 2 * heads * dim, "attention"
        what = f"2 * kv_heads {heads} * head_dim {dim}"
    window = _int(_get(parts, "sliding_window"))
    sliding = sliding_layers(config, layers)
    per_token = values * element_bytes * batch
    per_layer = tuple(per_token * (min(context, window) if s and window else context) for s in sliding)
    n_sliding = sum(sliding)
    tokens = f"{context} tokens * batch {batch}"
    formula = f"{layers} layers * {what} * {element_bytes} B * {tokens}"
    if n_sliding:
        kept = min(context, window or context)
        formula = (
            f"{layers - n_sliding} full layers * {what} * {element_bytes} B * {tokens} + "
            f"{n_sliding} sliding layers * the same * min(context, window {window}) = {kept} tokens"
        )
    return KvCache(kind, context, batch, element_bytes, values, layers, n_sliding, window, per_layer, formula)
