"""Tensor names against what a loader expects: wrapper prefixes, tied weights, a missing head.

``torch.nn.DataParallel`` and ``DistributedDataParallel`` save every key as ``module.<name>``,
``torch.compile`` as ``_orig_mod.<name>``, and the two stack. Neither transformers (4.x or 5.x)
nor ``load_state_dict`` strips them: ``from_pretrained`` matches no key, raises nothing, and
leaves the whole model randomly initialised. This module spots that from the names alone and
says the three ways out. Tied weights are read from the torch storages two names share, or, for
safetensors (which cannot share bytes), from ``tie_word_embeddings`` and the absence of the head.
"""

from __future__ import annotations

import re
import shlex
from collections import Counter
from dataclasses import dataclass
from typing import Any

from hfcache.findings import Finding, Place, finding
from hfcache.inspect.checkpoint import TensorRecord
from hfcache.inspect.config import is_causal_lm, tie_word_embeddings

WRAPPERS = ("module.", "_orig_mod.")
PREFIXED_SHARE = 0.95
"""Share of tensor names that must carry the same wrapper prefix for ``keys-prefixed``."""

HEADS = ("lm_head.weight", "embed_out.weight")
_EMBEDDING = re.compile(r"(?:^|\.)(?:embed_tokens|wte|word_embeddings|embed_in|tok_embeddings)\.weight$")


@dataclass(frozen=True)
class Tie:
    """``name`` is the same weights as ``to``: shared storage (torch), or tied by the config."""

    name: str
    to: str
    source: str  # "storage" or "config"
    stored: bool  # False: ``name`` is not in the checkpoint, transformers makes it from ``to``

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "to": self.to, "source": self.source, "stored": self.stored}


def wrapper_prefix(name: str) -> str:
    """The stacked ``module.``/``_orig_mod.`` prefix ``name`` starts with (``""`` if none)."""
    end = 0
    while True:
        for w in WRAPPERS:
            if name.startswith(w, end):
                end += len(w)
                break
        else:
            return name[:end]


def strip(name: str, prefixes: tuple[str, ...]) -> str:
    """``name`` without any of ``prefixes`` at its start, removed as often as they stack."""
    changed = True
    while changed:
        changed = False
        for p in prefixes:
            if p and name.startswith(p):
                name, changed = name[len(p) :], True
    return name


def common_prefix(records: list[TensorRecord]) -> tuple[str, int] | None:
    """The wrapper prefix (and how many names carry it) when at least 95 % of the names do."""
    if not records:
        return None
    counts = Counter(wrapper_prefix(t.name) for t in records)
    prefix, count = max(counts.items(), key=lambda item: (item[1], len(item[0])))
    if prefix and count >= PREFIXED_SHARE * len(records):
        return prefix, count
    return None


def _regex(prefix: str) -> str:
    return "^" + re.escape(prefix)


def prefix_advice(prefix: str, target: str) -> str:
    """The three ways to load a checkpoint whose keys carry ``prefix``."""
    layers = _split(prefix)
    consume = "; ".join(
        f'torch.nn.modules.utils.consume_prefix_in_state_dict_if_present(sd, "{w}")' for w in layers
    )
    return (
        f'transformers: from_pretrained(path, key_mapping={{r"{_regex(prefix)}": ""}}). '
        f"torch: {consume} before model.load_state_dict(sd). "
        f"Or write a copy without it: hfcache inspect {shlex.quote(target)} --strip-prefix {prefix} "
        "--write-to NEW_DIR"
    )


def _split(prefix: str) -> list[str]:
    parts: list[str] = []
    rest = prefix
    while rest:
        w = next(w for w in WRAPPERS if rest.startswith(w))
        parts.append(w)
        rest = rest[len(w) :]
    return parts


def prefix_problem(records: list[TensorRecord], path: str, target: str, at: Place) -> Finding | None:
    """``keys-prefixed`` when (nearly) every tensor name carries a wrapper prefix."""
    found = common_prefix(records)
    if found is None:
        return None
    prefix, count = found
    who = {"module.": "torch DataParallel/DistributedDataParallel", "_orig_mod.": "torch.compile"}
    by = " inside ".join(who[w] for w in _split(prefix))
    message = (
        f"{count} of {len(records)} tensor names start with {prefix!r} (added by {by} when the wrapped "
        "model's state_dict was saved). from_pretrained and load_state_dict match none of them: the model "
        "loads without an error and stays randomly initialised."
    )
    return finding("keys-prefixed", path, message, advice=prefix_advice(prefix, target), at=at)


def ties(records: list[TensorRecord], config: dict[str, Any] | None) -> list[Tie]:
    """Tied weights: names sharing one torch storage and offset, and heads tied by the config."""
    found: list[Tie] = []
    first: dict[tuple[str, str, tuple[int, ...]], str] = {}
    for t in records:
        if t.storage is None:
            continue
        key = (t.file, t.storage, t.shape)
        if key in first:
            found.append(Tie(t.name, first[key], "storage", True))
        else:
            first[key] = t.name
    if config is None or not is_causal_lm(config) or not tie_word_embeddings(config)[0]:
        return found
    prefix = (common_prefix(records) or ("", 0))[0]
    names = {t.name[len(prefix) :] if t.name.startswith(prefix) else t.name for t in records}
    embedding = next((n for n in sorted(names) if _EMBEDDING.search(n)), None)
    if embedding is not None and not names & set(HEADS):
        found.append(Tie(prefix + HEADS[0], prefix + embedding, "config", False))
    return found


def missing_head(
    records: list[TensorRecord],
    config: dict[str, Any] | None,
    path: str,
    at: Place,
    listed: frozenset[str] = frozenset(),
) -> Finding | None:
    """``keys-missing``: a causal LM whose config unties the head, without the head's weights.

    A head an index lists (``listed``) but whose shard is missing is that shard's finding instead.
    """
    if config is None or not records or not is_causal_lm(config):
        return None
    tied, explicit = tie_word_embeddings(config)
    if tied or not explicit:
        return None
    prefix = (common_prefix(records) or ("", 0))[0]
    names = {t.name[len(prefix) :] if t.name.startswith(prefix) else t.name for t in records}
    listed_names = {n[len(prefix) :] if n.startswith(prefix) else n for n in listed}
    if (names | listed_names) & set(HEADS) or not any(_EMBEDDING.search(n) for n in names):
        return None
    message = (
        f"config.json says tie_word_embeddings: false, but no {HEADS[0]} is stored: from_pretrained "
        f"initialises the output head randomly (it is reported as MISSING) and the model generates noise."
    )
    advice = (
        "If the head should share the input embeddings, set tie_word_embeddings to true in config.json; "
        "otherwise the checkpoint is incomplete: obtain the full weights."
    )
    return finding("keys-missing", path, message, advice=advice, at=at)
