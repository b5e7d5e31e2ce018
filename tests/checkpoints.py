"""Real checkpoints for the inspect tests, made by transformers and torch themselves.

Tiny configs (hidden 32, 2 layers) keep each one a few dozen KB; what the files hold is then
read back with ``safetensors.safe_open`` and ``torch.load`` to judge what hfcache reports.
Everything here needs torch (and transformers for the models): tests call ``needs_torch()``.
"""

from __future__ import annotations

import os
import pickle
import zipfile
from pathlib import Path
from typing import Any

import pytest


def needs_torch() -> Any:
    return pytest.importorskip("torch")


def llama_config(*, tied: bool) -> Any:
    transformers = pytest.importorskip("transformers")
    return transformers.LlamaConfig(
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        vocab_size=128,
        max_position_embeddings=64,
        tie_word_embeddings=tied,
    )


def llama(*, tied: bool, seed: int = 0) -> Any:
    """A tiny bf16 LlamaForCausalLM with deterministic weights."""
    torch = needs_torch()
    transformers = pytest.importorskip("transformers")
    torch.manual_seed(seed)
    return transformers.LlamaForCausalLM(llama_config(tied=tied)).to(torch.bfloat16)


def save_llama(folder: Path, *, tied: bool, shard: str | None = None, **kw: Any) -> Any:
    model = llama(tied=tied)
    model.save_pretrained(folder, **({"max_shard_size": shard} if shard else {}), **kw)
    return model


def save_bert(folder: Path) -> Any:
    """A tiny fp32 BertModel, saved with save_pretrained."""
    torch = needs_torch()
    transformers = pytest.importorskip("transformers")
    torch.manual_seed(1)
    config = transformers.BertConfig(
        hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=64, vocab_size=100
    )
    model = transformers.BertModel(config)
    model.save_pretrained(folder)
    return model


def safetensors_counts(paths: list[Path]) -> dict[str, Any]:
    """(tensors, parameters, bytes, per-dtype bytes) as safetensors itself reads the files."""
    safe_open = pytest.importorskip("safetensors").safe_open
    needs_torch()
    tensors = parameters = nbytes = 0
    dtypes: dict[str, int] = {}
    for path in paths:
        with safe_open(str(path), "pt") as f:
            for name in f.keys():  # noqa: SIM118 - safe_open has no __iter__
                t = f.get_tensor(name)
                tensors += 1
                parameters += t.numel()
                nbytes += t.numel() * t.element_size()
                key = str(t.dtype).removeprefix("torch.")
                dtypes[key] = dtypes.get(key, 0) + t.numel() * t.element_size()
    return {"tensors": tensors, "parameters": parameters, "bytes": nbytes, "dtypes": dtypes}


def torch_counts(path: Path) -> dict[str, int]:
    torch = needs_torch()
    state = torch.load(path, weights_only=True)
    return {
        "tensors": len(state),
        "parameters": sum(t.numel() for t in state.values()),
        "bytes": sum(t.numel() * t.element_size() for t in state.values()),
    }


class Payload:
    """Unpickling this runs a shell command that creates ``marker``: the tests' tripwire."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[object, tuple[str]]:
        return (os.system, (f"touch {self.marker}",))


def hostile_zip(path: Path, marker: Path) -> None:
    """A zip laid out as torch.save writes it, whose data.pkl is ``pickle.dump`` of a payload."""
    with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED) as z:
        z.writestr("archive/data.pkl", pickle.dumps({"weight": Payload(marker)}, protocol=2))
        z.writestr("archive/version", "3\n")
        z.writestr("archive/byteorder", "little")


def hostile_pickle(path: Path, marker: Path) -> None:
    """A raw pickle ``.bin`` (what ``pickle.dump`` of a state dict writes), with a payload."""
    with open(path, "wb") as f:
        pickle.dump({"weight": Payload(marker)}, f)


def gguf_bytes(tensors: int = 2, kvs: int = 1) -> bytes:
    """The fixed header of a GGUF v3 file, padded so the counts fit."""
    import struct

    return b"GGUF" + struct.pack("<IQQ", 3, tensors, kvs) + b"\0" * (32 * (tensors + kvs))
