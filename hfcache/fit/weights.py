"""Bytes of a checkpoint's weights once loaded at a dtype, grouped the way accelerate places them.

The bytes come from the headers ``inspect`` read, tensor by tensor: exact, tied weights counted
once (safetensors never stores the second name; a second torch name on the same storage is
skipped), every expert of a mixture of experts counted. transformers builds the model at the
``dtype`` asked and casts every floating tensor to it (down *and* up: a bf16 checkpoint loaded as
float32 takes 4 bytes a weight), so a float takes the target's bytes; integer, boolean and
8-bit-or-smaller float tensors keep theirs. A quantized checkpoint is counted as stored, its
unpacked floats at the larger of stored and target bytes.

Placement units follow ``infer_auto_device_map``: a decoder block (``…layers.N``, ``h.N``,
``block.N``, GGUF's ``blk.N``…, a "no split" module) moves as one; any other tensor moves with
its leaf module.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from hfcache.inspect.checkpoint import TensorRecord

TARGET_BYTES = {"bfloat16": 2, "float16": 2, "float32": 4}
DTYPE_NAMES = {"BF16": "bfloat16", "F16": "float16", "F32": "float32"}
WIDE_FLOATS = {"F64": 8, "F32": 4, "F16": 2, "BF16": 2}
_BLOCK = re.compile(r"^(?P<block>(?:.*?\.)?(?:layers|layer|h|blocks|block|blk)\.(?P<n>\d+))\.")
_EMBED = re.compile(r"embed|wte|wpe|word_embeddings|position_embeddings|tok_embeddings")
_HEAD = re.compile(r"^(?:lm_head|embed_out|cls|classifier|score|qa_outputs|pooler)\b|\.lm_head\b")
BNB_4BIT_BLOCK = 64
"""bitsandbytes 4-bit keeps one fp32 ``absmax`` per 64 weights (``blocksize=64``)."""


@dataclass(frozen=True)
class Unit:
    """What accelerate places on one device: a decoder block, or the tensors of one leaf module."""

    name: str
    weights: int
    block: int | None  # the block's number, None outside the decoder blocks
    quantizable: int = 0  # parameters of 2-D weights inside a block (bitsandbytes turns them to int)
    rows: int = 0  # output rows of those weights (8-bit keeps one fp32 scale a row)
    element: int = 2  # bytes one of those weights takes unquantized (the target dtype's)

    def at_bits(self, bits: int | None) -> int:
        """Bytes of this unit once bitsandbytes quantized its linear weights to ``bits``."""
        if bits is None or not self.quantizable:
            return self.weights
        if bits == 8:
            return self.weights - self.quantizable * self.element + self.quantizable + 4 * self.rows
        packed = -(-self.quantizable // 2)
        absmax = 4 * -(-self.quantizable // BNB_4BIT_BLOCK)
        return self.weights - self.quantizable * self.element + packed + absmax


def auto_dtype(facts: Mapping[str, Any] | None, tensors: Iterable[TensorRecord]) -> str:
    """What ``dtype="auto"`` loads: the config's ``dtype``/``torch_dtype``, else the first float tensor's.

    transformers' ``_get_dtype`` order (``modeling_utils.py`` 5.24 l.810-886); float32 when
    neither says (an all-integer checkpoint).
    """
    said = (facts or {}).get("dtype")
    if isinstance(said, str) and said.removeprefix("torch.") in TARGET_BYTES:
        return said.removeprefix("torch.")
    for t in tensors:
        if t.dtype in DTYPE_NAMES:
            return DTYPE_NAMES[t.dtype]
    return "float32"


def loaded_bytes(t: TensorRecord, target: int, *, quantized: bool) -> int:
    """Bytes ``t`` takes once loaded at a dtype of ``target`` bytes a value."""
    stored = WIDE_FLOATS.get(t.dtype)
    if stored is None:
        return t.nbytes
    return t.parameters * (max(stored, target) if quantized else target)


def counted(tensors: Iterable[TensorRecord], ties: Iterable[Any]) -> list[TensorRecord]:
    """The tensors that take memory: a second name on a storage already counted is dropped."""
    second = {t.name for t in ties if getattr(t, "source", None) == "storage"}
    return [t for t in tensors if t.name not in second]


def units(tensors: Iterable[TensorRecord], target: int, *, quantized: bool) -> list[Unit]:
    """Placement units in the order accelerate meets them: embeddings, blocks by number, the rest, heads."""
    sizes: dict[str, list[int]] = {}
    blocks: dict[str, int] = {}
    for t in tensors:
        m = _BLOCK.match(t.name)
        key = m.group("block") if m else t.name.rsplit(".", 1)[0] if "." in t.name else t.name
        if m:
            blocks[key] = int(m.group("n"))
        entry = sizes.setdefault(key, [0, 0, 0])
        nbytes = loaded_bytes(t, target, quantized=quantized)
        entry[0] += nbytes
        if (
            m
            and len(t.shape) == 2
            and t.name.endswith(".weight")
            and t.dtype in WIDE_FLOATS
            and not quantized
        ):
            entry[1] += t.parameters
            entry[2] += t.shape[0]
    found = [Unit(k, n, blocks.get(k), q, r, target) for k, (n, q, r) in sizes.items()]
    return sorted(found, key=_order)


def _order(u: Unit) -> tuple[int, str, int]:
    if u.block is not None:
        return (1, u.name.rsplit(".", 1)[0], u.block)
    if _HEAD.search(u.name):
        return (3, u.name, 0)
    return (0 if _EMBED.search(u.name) else 2, u.name, 0)


def largest_layer(found: Iterable[Unit], bits: int | None = None) -> int:
    """accelerate's ``max_layer_size``: the largest no-split block or leaf module, reserved on the
    main devices (``infer_auto_device_map``, transformers ``integrations/accelerate.py`` l.709, 754)."""
    return max((u.at_bits(bits) for u in found), default=0)
