"""The lines a plan prints: ``AutoModel….from_pretrained(...)`` and ``vllm serve ...``.

``max_memory`` values are whole MiB (``"20961MiB"``, or ``"21GiB"`` when whole): transformers'
and accelerate's ``convert_file_size_to_int`` read ``GiB``/``MiB`` as powers of 1024, and
transformers 5's own copy (``utils/hub.py``) takes integers only, so no fractions are written.
"""

from __future__ import annotations

import math
import shlex
from collections.abc import Mapping
from typing import Any

from hfcache.fit.gpus import MIB

_SUFFIXES = (
    ("ForCausalLM", "AutoModelForCausalLM"),
    ("LMHeadModel", "AutoModelForCausalLM"),
    ("ForMaskedLM", "AutoModelForMaskedLM"),
    ("ForSequenceClassification", "AutoModelForSequenceClassification"),
    ("ForTokenClassification", "AutoModelForTokenClassification"),
    ("ForQuestionAnswering", "AutoModelForQuestionAnswering"),
    ("ForMultipleChoice", "AutoModelForMultipleChoice"),
    ("ForSpeechSeq2Seq", "AutoModelForSpeechSeq2Seq"),
    ("ForImageClassification", "AutoModelForImageClassification"),
)


def auto_class(config: Mapping[str, Any] | None) -> str:
    """The ``Auto*`` class that loads ``config.architectures[0]`` with its head; ``AutoModel`` else."""
    names = (config or {}).get("architectures")
    name = names[0] if isinstance(names, list) and names and isinstance(names[0], str) else ""
    for suffix, cls in _SUFFIXES:
        if name.endswith(suffix):
            return cls
    if name.endswith("ForConditionalGeneration"):
        encoder_decoder = bool((config or {}).get("is_encoder_decoder"))
        return "AutoModelForSeq2SeqLM" if encoder_decoder else "AutoModelForImageTextToText"
    return "AutoModel"


def size_text(n: int) -> str:
    """``n`` bytes rounded up to a MiB, as ``max_memory`` takes it."""
    mib = max(1, math.ceil(n / MIB))
    return f"{mib // 1024}GiB" if mib % 1024 == 0 else f"{mib}MiB"


def _py(value: Any) -> str:
    if isinstance(value, dict):
        return "{" + ", ".join(f"{_py(k)}: {_py(v)}" for k, v in value.items()) + "}"
    if isinstance(value, str):
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    return repr(value)


def python_call(
    auto: str,
    model: str,
    kwargs: Mapping[str, Any],
    max_memory: Mapping[int | str, str] | None,
    quantization: Mapping[str, Any] | None,
) -> str:
    """The Python line; ``max_memory`` with int GPU keys, the quantization as ``BitsAndBytesConfig``."""
    parts = [_py(model)]
    for key, value in kwargs.items():
        if key == "max_memory" and max_memory is not None:
            parts.append(f"max_memory={_py(dict(max_memory))}")
        elif key == "quantization_config" and quantization is not None:
            args = ", ".join(f"{k}={_py(v)}" for k, v in quantization.items())
            parts.append(f"quantization_config=BitsAndBytesConfig({args})")
        else:
            parts.append(f"{key}={_py(value)}")
    return f"{auto}.from_pretrained({', '.join(parts)})"


def vllm_command(model: str, flags: Mapping[str, Any]) -> str:
    words = ["vllm", "serve", model]
    for key, value in flags.items():
        words += [f"--{key}", str(value)]
    return shlex.join(words)


def vllm_plan(
    *,
    model: str,
    revision: str | None,
    gpus: list[tuple[int, int]],
    heads: int | None,
    weights: int,
    kv: int,
    activations: int,
    context: int,
    dtype: str,
    overhead: int,
) -> tuple[dict[str, Any] | None, str]:
    """vLLM flags for ``gpus`` ((total, free) bytes each), or ``None``, and why.

    vLLM takes ``--gpu-memory-utilization`` of each GPU's *total* memory for weights, activations
    and its KV pool, split over ``--tensor-parallel-size`` GPUs (a power of two dividing the
    attention heads), and refuses to start when one sequence of ``--max-model-len`` tokens does not
    fit the pool. The utilization asked is what this needs, plus 0.02, within the free memory.
    """
    if not gpus:
        return None, "vllm serve needs a GPU"
    tp = 1
    while tp <= len(gpus):
        if heads is None or heads % tp == 0:
            need = (weights + kv) // tp + activations + overhead
            chosen = sorted(gpus, key=lambda g: -g[1])[:tp]
            total = min(t for t, _ in chosen)
            room = min(min(f, t) for t, f in chosen)
            util = math.ceil((need / total + 0.02) * 100) / 100
            if util <= min(0.95, room / total):
                flags = {
                    "dtype": dtype,
                    "max-model-len": context,
                    "gpu-memory-utilization": f"{util:.2f}",
                    "tensor-parallel-size": tp,
                }
                if revision:
                    flags["revision"] = revision
                return {"flags": flags, "command": vllm_command(model, flags)}, ""
        tp *= 2
    return None, "vllm serve: the weights and one sequence's KV cache do not fit the GPUs' free memory"
