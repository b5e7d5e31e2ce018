"""``fit`` for a GGUF model: llama.cpp's sizes, read from the file, not transformers' casts.

llama.cpp maps the whole file and loads every tensor as stored (a Q4_K tensor stays Q4_K, an
F32 norm stays F32): the weights are the tensors' bytes, exactly as ``inspect`` lists them.
A split model (``name-00001-of-00003.gguf``, ``split.count`` in each part) is one model; a
folder holding several models (one file per quantization, the usual GGUF repo) has no single
answer: ``fit`` asks for one file. The architecture facts come from the GGUF metadata
(``{arch}.block_count``, ``.embedding_length``, ``.feed_forward_length``,
``.attention.head_count``, ``.attention.head_count_kv``, ``.attention.key_length``,
``.context_length``, and the vocabulary: ``tokenizer.ggml.tokens``). The KV cache is counted at
2 bytes a value, llama.cpp's default cache type (``-ctk``/``-ctv`` ``f16``), on every layer
(sliding-window layers counted in full: larger, never smaller). Layers are placed as whole
``blk.N`` blocks; llama.cpp's ``-ngl N`` puts the last ``N`` of them on the GPUs.
"""

from __future__ import annotations

import posixpath
import re
import shlex
from dataclasses import dataclass
from typing import Any

from hfcache.errors import BadInputError
from hfcache.inspect import Inspection
from hfcache.inspect.checkpoint import GGUF, TensorRecord

KV_BYTES = 2  # llama.cpp's default KV cache type, f16
_SPLIT = re.compile(r"^(?P<stem>.*)-\d{5}-of-(?P<count>\d{5})\.gguf$")


@dataclass(frozen=True)
class GgufModel:
    """The one GGUF model to plan for: its files, tensors, and facts in ``config.json``'s words."""

    files: tuple[str, ...]
    paths: tuple[str, ...]
    tensors: tuple[TensorRecord, ...]
    facts: dict[str, Any]
    config: dict[str, Any]


def gguf_model(inspection: Inspection) -> GgufModel | None:
    """The GGUF model the target holds; ``None`` when it holds transformers weights (or none)."""
    files = [f for f in inspection.files if f.format == GGUF and f.tensors]
    if not files or any(f.format != GGUF and f.tensors for f in inspection.files):
        return None
    models: dict[str, list[Any]] = {}
    for f in files:
        m = _SPLIT.match(posixpath.basename(f.name))
        key = posixpath.join(posixpath.dirname(f.name), m.group("stem")) if m else f.name
        models.setdefault(key, []).append(f)
    if len(models) > 1:
        names = ", ".join(sorted(models))
        raise BadInputError(
            f"{inspection.given} holds {len(models)} GGUF models ({names}): llama.cpp loads one; "
            "give that file (its path in the snapshot folder) as TARGET"
        )
    (parts,) = models.values()
    parts.sort(key=lambda f: f.name)
    d = parts[0].details
    heads, embedding = d.get("head_count"), d.get("embedding_length")
    head_dim = d.get("key_length") or (embedding // heads if embedding and heads else None)
    facts = {
        "model_type": d.get("architecture"),
        "architectures": None,
        "num_hidden_layers": d.get("block_count"),
        "hidden_size": embedding,
        "intermediate_size": d.get("feed_forward_length"),
        "num_attention_heads": heads,
        "num_key_value_heads": d.get("head_count_kv") or heads,
        "head_dim": head_dim,
        "vocab_size": d.get("vocab_size") or d.get("tokens"),
        "max_position_embeddings": d.get("context_length"),
        "dtype": None,
        "derived": [],
    }
    tensors = tuple(t for f in parts for t in f.tensors)
    return GgufModel(tuple(f.name for f in parts), tuple(f.path for f in parts), tensors, facts, {})


def llama_cpp_call(
    model: GgufModel, context: int, gpu_layers: int, all_on_gpu: bool
) -> tuple[str, dict[str, Any]]:
    """The ``llama-server`` line and the ``llama_cpp.Llama`` keyword arguments for the plan."""
    ngl = 999 if all_on_gpu else gpu_layers  # llama.cpp's idiom for "every layer"
    first = model.paths[0]
    kwargs = {"model_path": first, "n_ctx": context, "n_gpu_layers": ngl}
    return f"llama-server -m {shlex.quote(first)} -c {context} -ngl {ngl}", kwargs
