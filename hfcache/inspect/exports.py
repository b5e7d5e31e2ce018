"""GGUF and ONNX files as ``inspect`` reports them: tensors, the facts worth a line, and issues.

A GGUF file's facts come from its metadata, under llama.cpp's key names
(``gguf-py/gguf/constants.py`` ``Keys``): ``general.architecture``, ``general.name``,
``general.file_type`` (``llama_ftype``), ``general.quantization_version``, and per architecture
``{arch}.context_length``, ``{arch}.block_count``, ``{arch}.embedding_length``,
``{arch}.feed_forward_length``, ``{arch}.attention.head_count``,
``{arch}.attention.head_count_kv``, ``{arch}.attention.key_length``,
``{arch}.attention.value_length``, ``{arch}.expert_count``, ``{arch}.vocab_size``; the chat
template's presence (``tokenizer.chat_template``), the tokenizer's model and vocabulary size
(``tokenizer.ggml.model``, the length of ``tokenizer.ggml.tokens``), and a split file's place
(``split.no``, ``split.count``).
"""

from __future__ import annotations

from typing import Any

from hfcache.formats.ggml_types import FILE_TYPES
from hfcache.formats.gguf import GgufFile
from hfcache.formats.onnx import OnnxModel

ARCH_KEYS = (
    "context_length", "block_count", "embedding_length", "feed_forward_length", "attention.head_count",
    "attention.head_count_kv", "attention.key_length", "attention.value_length", "expert_count",
    "expert_used_count", "vocab_size",
)  # fmt: skip

ISSUE_CODES = {"truncated": "shard-truncated", "offsets": "gguf-tensor-offsets", "onnx": "onnx-tensor-data"}
"""The finding code of each kind of issue a reader reports (see ``docs/findings.md``)."""


def gguf_facts(g: GgufFile) -> dict[str, Any]:
    """The details of a GGUF file in the report (``files[].details``)."""
    meta = g.metadata
    arch = meta.get("general.architecture")
    facts: dict[str, Any] = {
        "version": g.version,
        "byte_order": g.byte_order,
        "alignment": g.alignment,
        "data_start": g.data_start,
        "tensor_count": len(g.tensors),
        "kv_count": len(meta),
        "architecture": arch if isinstance(arch, str) else None,
        "name": meta.get("general.name"),
    }
    ftype = meta.get("general.file_type")
    facts["file_type"] = FILE_TYPES.get(ftype, ftype) if isinstance(ftype, int) else None
    facts["quantization_version"] = meta.get("general.quantization_version")
    for key in ARCH_KEYS:
        value = meta.get(f"{arch}.{key}") if isinstance(arch, str) else None
        facts[key.replace("attention.", "").replace(".", "_")] = value if isinstance(value, int) else None
    template = meta.get("tokenizer.chat_template")
    facts["chat_template"] = isinstance(template, str)
    facts["chat_template_chars"] = g.string_lengths.get("tokenizer.chat_template")
    facts["tokenizer"] = meta.get("tokenizer.ggml.model")
    tokens = meta.get("tokenizer.ggml.tokens")
    facts["tokens"] = tokens.get("length") if isinstance(tokens, dict) else None
    facts["split"] = [meta.get("split.no"), meta.get("split.count")] if "split.count" in meta else None
    types: dict[str, dict[str, int]] = {}
    for t in g.tensors:
        new = {"block": t.type.block, "type_size": t.type.size, "tensors": 0, "parameters": 0, "bytes": 0}
        d = types.setdefault(t.type.name, new)
        d["tensors"] += 1
        d["parameters"] += t.elements
        d["bytes"] += t.nbytes
    facts["types"] = dict(sorted(types.items(), key=lambda kv: -kv[1]["bytes"]))
    facts["metadata"] = meta
    return facts


def onnx_facts(m: OnnxModel) -> dict[str, Any]:
    """The details of an ONNX file in the report."""
    return {
        "ir_version": m.ir_version,
        "producer_name": m.producer_name,
        "producer_version": m.producer_version,
        "initializers": len(m.tensors),
        "sparse_initializers": sum(t.sparse for t in m.tensors),
        "external_data": m.external,
    }
