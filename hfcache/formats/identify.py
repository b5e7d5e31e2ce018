"""Which Hub file a blob is, from its content alone: only where the content leaves no doubt.

A snapshot whose links were lost in transit (``rsync -r`` without ``-l`` skips every link)
leaves its blobs behind, named by their hash but not by the file they are. Without a tree
listing, a few files still say what they are: the loaders' own files have shapes nothing else
has, and a checkpoint index names every shard, whose safetensors header lists its tensors.
Everything here answers ``None`` unless the shape is unmistakable; a caller must still refuse a
name two blobs claim.
"""

from __future__ import annotations

import json
import re
from typing import Any

from hfcache.formats.safetensors import CheckpointIndex, parse_index

MAX_JSON = 64 * 1024 * 1024
"""Largest file read to identify it (a big tokenizer.json is tens of MB)."""

_SHARD = re.compile(r"(?P<prefix>[^/]+)-(?P<i>\d{5})-of-(?P<n>\d{5})\.(?P<ext>safetensors|bin)")
_SPECIAL_TOKENS = frozenset(
    {
        "bos_token", "eos_token", "unk_token", "sep_token", "pad_token", "cls_token", "mask_token",
        "additional_special_tokens",
    }
)  # fmt: skip
_GENERATION = frozenset(
    {
        "bos_token_id", "eos_token_id", "pad_token_id", "decoder_start_token_id", "max_length",
        "max_new_tokens", "do_sample", "temperature", "top_p", "top_k", "num_beams",
    }
)  # fmt: skip
_TOKENIZER_MODELS = frozenset({"BPE", "WordPiece", "WordLevel", "Unigram"})
_FOREIGN = frozenset({"_class_name", "_diffusers_version", "peft_type", "tokenizer_class"})
DIFFUSERS = "(diffusers)"
"""What :func:`name_of` answers for any diffusers file: its repo keeps a ``config.json`` in each
component folder, so no file of it can be named at the root with certainty."""


def _json_object(data: bytes) -> dict[str, Any] | None:
    if data.removeprefix(b"\xef\xbb\xbf").lstrip()[:1] != b"{":
        return None
    try:
        obj = json.loads(data.decode("utf-8-sig"))
    except (ValueError, RecursionError):
        return None
    return obj if isinstance(obj, dict) else None


def name_of(data: bytes) -> str | None:
    """The file name a loader's own JSON or text file must have, if its content says so
    (:data:`DIFFUSERS` for a diffusers file)."""
    obj = _json_object(data)
    if obj is not None:
        return _json_name(obj)
    return _text_name(data)


def _json_name(obj: dict[str, Any]) -> str | None:
    keys = set(obj)
    if isinstance(obj.get("weight_map"), dict):
        return None  # an index: named from its shards (index_name)
    model = obj.get("model")
    if "version" in keys and isinstance(model, dict) and model.get("type") in _TOKENIZER_MODELS:
        return "tokenizer.json"
    if "_diffusers_version" in keys:
        return DIFFUSERS
    if isinstance(obj.get("model_type"), str) and not keys & _FOREIGN:
        return "config.json"
    if "tokenizer_class" in keys and "model_type" not in keys:
        return "tokenizer_config.json"
    if keys and keys <= _SPECIAL_TOKENS:
        return "special_tokens_map.json"
    if "transformers_version" in keys and keys & _GENERATION and "model_type" not in keys:
        return "generation_config.json"
    return None


def _text_name(data: bytes) -> str | None:
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        return None
    lines = [line for line in text.splitlines() if line.strip() and not line.lstrip().startswith("#")]
    rules = lines and all(len(line.split()) >= 2 for line in lines)
    if rules and any("filter=lfs" in line for line in lines):
        return ".gitattributes"
    return None


def index_name(index: CheckpointIndex) -> str | None:
    """``model.safetensors.index.json`` from shards named ``model-0000K-of-0000N.safetensors``:
    the name transformers gives an index is its shards' prefix and extension. ``None`` unless
    every shard has that shape with one prefix, one extension and one count, and none is in a
    subfolder."""
    shapes = {_SHARD.fullmatch(name) for name in index.weight_map.values()}
    if not shapes or None in shapes:
        return None
    kinds = {(m["prefix"], m["ext"], m["n"]) for m in shapes if m is not None}
    if len(kinds) != 1:
        return None
    prefix, ext, _ = kinds.pop()
    return f"{prefix}.{ext}.index.json"


def parse_index_blob(data: bytes) -> CheckpointIndex | None:
    """A checkpoint index, if ``data`` is one."""
    obj = _json_object(data)
    if obj is None or not isinstance(obj.get("weight_map"), dict):
        return None
    parsed = parse_index(data)
    return parsed if isinstance(parsed, CheckpointIndex) else None
