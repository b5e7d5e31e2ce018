"""Which plan holds: the verdicts tried from the fastest, each a placement that never overfills.

Margins are those real loaders apply (sources in ``docs/fit.md``):

- each GPU: ``0.90 * (free - CUDA context)``; transformers gives a lone GPU 90% when no
  ``max_memory`` is given (``integrations/accelerate.py`` l.292), here every GPU gets it, and
  500 MiB per GPU stands for the CUDA context (an assumption: accelerate's docs say 1-2 GB with
  kernels loaded, NVML's free memory is before any context);
- RAM: ``0.90 x`` available (transformers 5, ``get_max_memory`` l.237);
- GPU 0 and RAM keep room for the largest layer whenever accelerate places modules (l.754);
- bitsandbytes shrinks ``max_memory`` to 90% again (``adjust_max_memory``).

Plans are tried from the fastest: GPUs only, GPUs after 8-bit then 4-bit quantization, GPUs and
RAM, then the disk too; when none holds, the plans without a GPU (RAM, then RAM and disk), for a
GPU too small to run anything on (GPU 0 must hold the activations and the largest layer) on a
machine with RAM enough. The first that holds is the plan; no device is ever given more than its
budget.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace

from hfcache.fit.gpus import MIB, Gpu
from hfcache.fit.hardware import Hardware
from hfcache.fit.kvcache import KvCache
from hfcache.fit.placement import Fill, Slot, fill
from hfcache.fit.weights import Unit, largest_layer
from hfcache.units import human_size

CUDA_CONTEXT = 500 * MIB
GPU_SHARE = 0.90
CPU_SHARE = 0.90
QUANTIZER_SHARE = 0.90


def gpu_label(g: Gpu) -> str:
    """``GPU 0 (NVIDIA A100…)``, or ``GPU 0 (24 GiB given)``: a given size as it was given."""
    return f"GPU {g.index} ({g.given} given)" if g.given else f"GPU {g.index} ({g.name})"


def _gpu_slots(gpus: Sequence[Gpu], act: int, share: float) -> list[Slot]:
    slots = []
    for g in gpus:
        if g.free is None:
            continue
        budget = int(GPU_SHARE * share * max(0, g.free - CUDA_CONTEXT)) // MIB * MIB
        slots.append(Slot(g.index, gpu_label(g), budget, act, True))
    return slots


@dataclass(frozen=True)
class Choice:
    """The plan picked: its verdict, the placement, bitsandbytes bits, and the loader's knobs."""

    verdict: str
    fill: Fill
    bits: int | None
    device_map: str | dict[str, int] | None
    kv: Callable[[Unit], int]
    reserve: int
    share: float
    gpus_left_out: bool = False  # there are GPUs, too small to use: the plan is for the CPU


def _kv_of(found: Sequence[Unit], cache: KvCache) -> Callable[[Unit], int]:
    blocks = [u for u in found if u.block is not None]
    most = max(cache.per_layer, default=0)
    per = dict(enumerate(cache.per_layer))
    return lambda u: 0 if u.block is None or not blocks else per.get(u.block, most)


def choose(
    found: list[Unit], cache: KvCache, act: int, hw: Hardware, quantized: bool, reasons: list[str]
) -> Choice:
    """The first plan that holds for ``found`` on ``hw``; what the plan should say goes to ``reasons``."""
    kv = _kv_of(found, cache)
    gpus = [g for g in hw.gpus if g.free is not None]
    if len(gpus) < len(hw.gpus):
        reasons.append("a GPU of unknown size is left out: give its size with --gpu SIZE")
    ram = int(CPU_SHARE * (hw.ram_available or 0)) // MIB * MIB
    if hw.ram_available is None:
        reasons.append("RAM available is unknown: counted as none (give --ram SIZE)")
    disk = hw.disk_free or 0
    if hw.disk_free is None:
        reasons.append("free disk is unknown: counted as none (give --disk SIZE)")
    if not gpus:
        return _on_cpu(found, cache, act, ram, disk, kv)
    single = len(gpus) == 1
    attempts: list[tuple[str, int | None]] = [("fits-gpu", None)]
    if not quantized and any(u.quantizable for u in found):
        attempts += [("needs-8bit", 8), ("needs-4bit", 4)]
    elif quantized:
        reasons.append("already quantized: weights counted as stored, bitsandbytes not offered")
    for verdict, bits in attempts:
        share = QUANTIZER_SHARE if bits and not single else 1.0
        reserve = 0 if single else largest_layer(found, bits)
        slots = _gpu_slots(gpus, act, share)
        slots[0] = Slot(slots[0].key, slots[0].name, slots[0].budget, act, True, reserve)
        got = fill(found, slots, bits, kv)
        if not got.left:
            device_map: str | dict[str, int] = {"": gpus[0].index} if single else "sequential"
            return Choice(verdict, got, bits, device_map, kv, reserve, share)
    reserve = largest_layer(found)
    slots = _gpu_slots(gpus, act, 1.0)
    slots[0] = Slot(slots[0].key, slots[0].name, slots[0].budget, act, True, reserve)
    slots.append(Slot("cpu", "RAM", ram, 0, False, reserve))
    device_map = "auto" if single else "sequential"
    got = fill(found, slots, None, kv)
    if not got.left:
        return Choice("fits-gpu-cpu-offload", got, None, device_map, kv, reserve, 1.0)
    got = fill(found, [*slots, Slot("disk", "disk", disk, 0, False)], None, kv)
    if not got.left:
        return Choice("needs-disk-offload", got, None, device_map, kv, reserve, 1.0)
    on_cpu = _on_cpu(found, cache, act, ram, disk, kv)
    if on_cpu.verdict == "does-not-fit":
        return Choice("does-not-fit", got, None, device_map, kv, reserve, 1.0)
    reasons.append(_gpus_left_out(gpus[0], slots[0], got.extra_kv))
    return replace(on_cpu, gpus_left_out=True)


def _on_cpu(
    found: list[Unit], cache: KvCache, act: int, ram: int, disk: int, kv: Callable[[Unit], int]
) -> Choice:
    """The plan without a GPU: everything in RAM (a plain ``from_pretrained``), else RAM and disk."""
    alone = [Slot("cpu", "RAM", ram, act, False, kv_fixed=cache.bytes)]
    got = fill(found, alone, None, kv)
    if not got.left:
        return Choice("fits-cpu", got, None, None, kv, 0, 1.0)
    reserve = largest_layer(found)
    slots = [Slot("cpu", "RAM", ram, act, False, reserve, cache.bytes), Slot("disk", "disk", disk, 0, False)]
    got = fill(found, slots, None, kv)
    return Choice(
        "needs-disk-offload" if not got.left else "does-not-fit", got, None, "auto", kv, reserve, 1.0
    )


def _gpus_left_out(gpu: Gpu, first: Slot, extra_kv: int) -> str:
    """Why a plan that fits without the GPUs leaves them out: GPU 0 cannot hold what running there takes.

    accelerate runs every offloaded layer on GPU 0, which must hold the activations, the largest
    layer it brings in and the KV cache of the layers it runs; "if your first layer is bigger
    than the size of the GPU you have, it will end up with everything on the CPU/Disk"
    (``big_model_inference.md``). The plan says so instead of failing.
    """
    need = first.act + first.reserve + extra_kv
    if need <= first.budget:  # not GPU 0's fixed costs: the GPUs and RAM placed as accelerate would
        return "on the GPUs with RAM it does not fit the way accelerate places it; in RAM alone it does"
    parts = [f"activations {human_size(first.act)}", f"the largest layer {human_size(first.reserve)}"]
    if extra_kv:
        parts.append(f"the KV cache of the layers it runs {human_size(extra_kv)}")
    return (
        f"the GPU is too small, not the machine: {gpu_label(gpu)} leaves {human_size(first.budget)} after "
        f"the margins, and running layers there takes {human_size(need)} ({', '.join(parts)}); the plan "
        "leaves the GPUs out and runs on the CPU (slower)"
    )
