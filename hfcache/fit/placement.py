"""accelerate's placement, simulated on byte counts: ``infer_auto_device_map``'s greedy walk.

Units go in order to the current device while they fit, then to the next one, never back
(transformers ``integrations/accelerate.py`` l.700-800). A main device (GPU 0, and RAM) keeps
``reserve`` free for the largest layer it may have to bring in. On a GPU a decoder block also
brings its KV cache; the KV cache of a block run from RAM or disk sits on GPU 0, which runs it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from hfcache.fit.weights import Unit


@dataclass(frozen=True)
class Slot:
    key: int | str
    name: str
    budget: int
    act: int  # activations, held whatever is placed
    gpu: bool
    reserve: int = 0
    kv_fixed: int = 0  # with no GPU, the whole KV cache sits in RAM


@dataclass(frozen=True)
class Fill:
    slots: tuple[Slot, ...]
    placed: tuple[tuple[Unit, ...], ...]
    left: tuple[Unit, ...]
    extra_kv: int  # on slot 0: the cache of layers run there from RAM or disk


def fill(found: Sequence[Unit], slots: Sequence[Slot], bits: int | None, kv: Callable[[Unit], int]) -> Fill:
    """accelerate's greedy walk: each unit on the current device if it fits, else the next one."""
    extra = 0
    for _ in range(len(found) + 2):
        placed: list[list[Unit]] = [[] for _ in slots]
        used = [s.act + s.kv_fixed + s.reserve for s in slots]
        d, left = 0, []
        for u in found:
            while d < len(slots):
                s = slots[d]
                cost = u.at_bits(bits) + (kv(u) if s.gpu else 0)
                if used[d] + cost + (extra if d == 0 and s.gpu else 0) <= s.budget:
                    break
                d += 1
            if d == len(slots):
                left.append(u)
                continue
            placed[d].append(u)
            used[d] += u.at_bits(bits) + (kv(u) if slots[d].gpu else 0)
        runs_on_0 = bool(slots) and slots[0].gpu
        new = (
            sum(kv(u) for s, p in zip(slots, placed, strict=True) if not s.gpu for u in p) if runs_on_0 else 0
        )
        if new <= extra:
            break
        extra = new
    over = [
        d
        for d, s in enumerate(slots)
        if (placed[d] or s.kv_fixed or (d == 0 and s.gpu))
        and used[d] + (extra if d == 0 and s.gpu else 0) > s.budget
    ]
    if over:  # what must sit on a device whatever is placed (KV cache, activations) does not fit
        return Fill(tuple(slots), tuple(() for _ in slots), tuple(found), extra)
    return Fill(tuple(slots), tuple(tuple(p) for p in placed), tuple(left), extra)
