"""Which GGUF file of a repo a tag names, the way the Hub answers ``ollama pull hf.co/org/repo:TAG``.

The quant label of a file name is huggingface.js's ``parseGGUFQuantLabel``
(``packages/tasks/src/gguf.ts``): its ``GGUF_QUANT_RE`` (an optional ``UD-`` prefix, a file
quantization type name, an optional ``_SIZE`` variation) applied to the upper-cased name, the
last match winning; a percentage-mixed name (``Model-55IQ2_XXS-34Q2_K.gguf``) gives its dominant
component. A tag names a file by its label, case-insensitively (``q4_k_m`` = ``Q4_K_M``), by a
label prefix (``q4``: the ``Q4_*`` files), or by its exact file name. ``latest`` (ollama's
default tag) is ``Q4_K_M`` where a file has it, else the file nearest below it in
``GGUF_QUANT_ORDER`` (huggingface.js ``findNearestQuantType``), else the first file by path.
``mmproj*.gguf`` files are projectors, never the model. Split files (``-00001-of-00003.gguf``)
are found, and marked so that ollama's dialect can refuse them (ollama needs one file).
"""

from __future__ import annotations

import posixpath
import re
from collections.abc import Iterable
from dataclasses import dataclass

FILE_QUANTS = (
    "F32", "F16", "Q4_0", "Q4_1", "Q4_1_SOME_F16", "Q4_2", "Q4_3", "Q8_0", "Q5_0", "Q5_1", "Q2_K",
    "Q3_K_S", "Q3_K_M", "Q3_K_L", "Q4_K_S", "Q4_K_M", "Q5_K_S", "Q5_K_M", "Q6_K", "IQ2_XXS", "IQ2_XS",
    "Q2_K_S", "IQ3_XS", "IQ3_XXS", "IQ1_S", "IQ4_NL", "IQ3_S", "IQ3_M", "IQ2_S", "IQ2_M", "IQ4_XS",
    "IQ1_M", "BF16", "Q4_0_4_4", "Q4_0_4_8", "Q4_0_8_8", "TQ1_0", "TQ2_0", "MXFP4_MOE", "NVFP4", "Q1_0",
    "Q2_0", "Q2_K_XL", "Q3_K_XL", "Q4_K_XL", "Q5_K_XL", "Q6_K_XL", "Q8_K_XL",
)  # fmt: skip
"""``GGMLFileQuantizationType`` names in enum order: the regex's alternation order (first wins)."""
QUANT_ORDER = (
    "F32", "BF16", "F16", "Q8_K_XL", "Q8_0", "Q6_K_XL", "Q6_K", "Q5_K_XL", "Q5_K_M", "Q5_K_S", "Q5_0",
    "Q5_1", "Q4_K_XL", "Q4_K_M", "Q4_K_S", "IQ4_NL", "IQ4_XS", "Q4_0_4_4", "Q4_0_4_8", "Q4_0_8_8",
    "Q4_1_SOME_F16", "Q4_0", "Q4_1", "Q4_2", "Q4_3", "MXFP4_MOE", "NVFP4", "Q3_K_XL", "Q3_K_L",
    "Q3_K_M", "Q3_K_S", "IQ3_M", "IQ3_S", "IQ3_XS", "IQ3_XXS", "Q2_K_XL", "Q2_K", "Q2_K_S", "IQ2_M",
    "IQ2_S", "IQ2_XS", "IQ2_XXS", "Q2_0", "IQ1_S", "IQ1_M", "TQ1_0", "TQ2_0", "Q1_0",
)  # fmt: skip
"""``GGUF_QUANT_ORDER``: biggest first."""
_TENSOR_NAMES = (
    "F32", "F16", "Q4_0", "Q4_1", "Q5_0", "Q5_1", "Q8_0", "Q8_1", "Q2_K", "Q3_K", "Q4_K", "Q5_K",
    "Q6_K", "Q8_K", "IQ2_XXS", "IQ2_XS", "IQ3_XXS", "IQ1_S", "IQ4_NL", "IQ3_S", "IQ2_S", "IQ4_XS",
    "IQ1_M", "BF16", "TQ1_0", "TQ2_0", "MXFP4", "NVFP4", "Q1_0", "Q2_0",
)  # fmt: skip
_TENSOR_QUANTS = sorted(_TENSOR_NAMES, key=len, reverse=True)
"""``GGMLQuantizationType`` names but the storage types, longest first (``IQ2_XXS`` before ``IQ2_XS``)."""

QUANT_RE = re.compile(r"(?P<prefix>UD-)?(?P<quant>" + "|".join(FILE_QUANTS) + r")(_(?P<size>[A-Z]+))?")
_MIX_RE = re.compile(r"(?:^|(?<=-))(?P<pct>\d{1,3})(?P<quant>" + "|".join(_TENSOR_QUANTS) + r")(?=$|[-.])")
SPLIT_RE = re.compile(r"-(?P<part>\d{5})-of-(?P<total>\d{5})\.gguf$")
DEFAULT = "Q4_K_M"
LATEST = "latest"
PROJECTOR_PREFERENCE = ("F16", "BF16", "F32")


def quant_label(path: str) -> str | None:
    """The Hub's quant label of a GGUF file name (``parseGGUFQuantLabel``), or ``None``."""
    stem = posixpath.basename(path).upper().removesuffix(".GGUF")
    mix = [(int(m["pct"]), m["quant"]) for m in _MIX_RE.finditer(stem)]
    if len(mix) >= 2:
        return max(mix, key=lambda pq: pq[0])[1]  # the first of equal shares, as reduce() keeps it
    found = [m.group(0) for m in QUANT_RE.finditer(path.upper())]
    return found[-1] if found else None


def _order(label: str | None) -> int | None:
    """Where a label's quant type stands in ``GGUF_QUANT_ORDER`` (its ``UD-``/size parts aside)."""
    if label is None:
        return None
    m = QUANT_RE.fullmatch(label)
    if m is None:
        return None
    whole = f"{m['quant']}_{m['size']}" if m["size"] else m["quant"]
    for name in (whole, m["quant"]):
        if name in QUANT_ORDER:
            return QUANT_ORDER.index(name)
    return None


@dataclass(frozen=True)
class GgufFile:
    """One ``.gguf`` file of a revision: its path, size, quant label and split part."""

    path: str
    size: int
    label: str | None
    part: tuple[int, int] | None

    @property
    def split(self) -> bool:
        return self.part is not None and self.part[1] > 1

    @property
    def projector(self) -> bool:
        return posixpath.basename(self.path).lower().startswith("mmproj")


def gguf_files(files: Iterable[tuple[str, int]]) -> list[GgufFile]:
    """The GGUF files among (path, size) pairs, by path: root files first, then by name."""
    out = []
    for path, size in files:
        if not path.lower().endswith(".gguf"):
            continue
        m = SPLIT_RE.search(path.lower())
        part = (int(m["part"]), int(m["total"])) if m else None
        out.append(GgufFile(path, size, quant_label(path), part))
    return sorted(out, key=lambda g: (g.path.count("/"), g.path))


@dataclass(frozen=True)
class Choice:
    """What a tag names: the model file (its parts if split, first part first), and the projector."""

    tag: str
    parts: tuple[GgufFile, ...]
    projector: GgufFile | None

    @property
    def model(self) -> GgufFile:
        return self.parts[0]


def _first_parts(models: list[GgufFile]) -> list[GgufFile]:
    """Candidates: whole files and first parts of split ones (one per quantization)."""
    return [g for g in models if g.part is None or g.part[0] == 1]


def _parts_of(first: GgufFile, models: list[GgufFile]) -> tuple[GgufFile, ...]:
    if not first.split or first.part is None:
        return (first,)
    stem = first.path[: -len("-00001-of-00000.gguf")]
    total = first.part[1]
    parts = [g for g in models if g.part is not None and g.part[1] == total and g.path.startswith(stem)]
    return tuple(sorted(parts, key=lambda g: g.part or (0, 0)))


def nearest(candidates: list[GgufFile], target: str = DEFAULT) -> GgufFile:
    """huggingface.js ``findNearestQuantType``: ``target`` itself, else the biggest quant below it,
    else the smallest there is; files without a known quant only when no file has one."""
    ranked = sorted(
        ((rank, g) for g in candidates if (rank := _order(g.label)) is not None), key=lambda rg: rg[0]
    )
    if not ranked:
        return candidates[0]
    goal = QUANT_ORDER.index(target)
    exact = [g for _, g in ranked if (g.label or "").upper() == target]
    if exact:
        return exact[0]
    below = [g for rank, g in ranked if rank >= goal]
    return below[0] if below else ranked[-1][1]


def choose(files: Iterable[tuple[str, int]], tag: str) -> Choice | None:
    """The file ``tag`` names among a revision's (path, size) files, or ``None`` if none."""
    every = gguf_files(files)
    models = [g for g in every if not g.projector]
    candidates = _first_parts(models)
    if not candidates:
        return None
    asked = tag.upper()
    if tag == LATEST:
        picked: GgufFile | None = nearest(candidates)
    else:
        named = [g for g in candidates if posixpath.basename(g.path) == tag]
        by_label = [g for g in candidates if g.label is not None and g.label.upper() == asked]
        prefixed = [g for g in candidates if g.label is not None and g.label.upper().startswith(asked + "_")]
        picked = next(iter(named or by_label), None)
        if picked is None and prefixed:
            picked = nearest(prefixed)
    if picked is None:
        return None
    return Choice(tag, _parts_of(picked, models), projector([g for g in every if g.projector]))


def projector(projectors: list[GgufFile]) -> GgufFile | None:
    """The repo's ``mmproj`` file: F16 first, then BF16, F32, then the first by path."""
    for want in PROJECTOR_PREFERENCE:
        for g in projectors:
            if g.label == want:
                return g
    return projectors[0] if projectors else None


def tags(files: Iterable[tuple[str, int]]) -> list[str]:
    """The quant labels a revision's GGUF files answer to (for messages), sorted."""
    return sorted({g.label for g in _first_parts(gguf_files(files)) if g.label and not g.projector})
