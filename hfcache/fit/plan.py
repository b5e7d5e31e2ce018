"""What ``estimate`` decides: a :class:`FitPlan`, with one :class:`DevicePlan` per device used.

The verdicts are codes, not findings (nothing is wrong with the checkpoint):

- ``fits-gpu``: every weight on the GPUs, at the dtype;
- ``fits-cpu``: everything in RAM, run on the CPU (a plain ``from_pretrained``, no accelerate
  needed): no GPU, or GPUs too small to run layers on (the reasons say so);
- ``needs-8bit`` / ``needs-4bit``: on the GPUs only once bitsandbytes quantizes the linear layers;
- ``fits-gpu-cpu-offload``: GPUs plus RAM (accelerate streams the RAM part to GPU 0, slower);
- ``needs-disk-offload``: part of the weights stays on disk (much slower), with the GPUs or,
  when they are too small to run on, without them;
- ``does-not-fit``: not even with the disk.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from hfcache.fit.hardware import Hardware
from hfcache.fit.kvcache import KvCache

VERDICTS = (
    "fits-gpu", "fits-cpu", "needs-8bit", "needs-4bit", "fits-gpu-cpu-offload", "needs-disk-offload",
    "does-not-fit",
)  # fmt: skip


@dataclass(frozen=True)
class DevicePlan:
    """Bytes a device holds under the plan; ``total`` never exceeds ``budget``.

    ``budget`` is what the device may use after the margins (GPU: 90% of free memory less the
    CUDA context; RAM: 90% of available; disk: free). ``reserved`` is room accelerate keeps on a
    main device for the largest layer it streams in; ``kv_cache`` and ``activations`` are what a
    forward pass adds on top of the weights.
    """

    device: int | str  # a CUDA index, "cpu" or "disk"
    name: str
    budget: int
    weights: int
    kv_cache: int
    activations: int
    reserved: int
    modules: int

    @property
    def total(self) -> int:
        return self.weights + self.kv_cache + self.activations + self.reserved

    def to_json(self) -> dict[str, Any]:
        return {
            "device": self.device,
            "name": self.name,
            "budget": self.budget,
            "weights": self.weights,
            "kv_cache": self.kv_cache,
            "activations": self.activations,
            "reserved": self.reserved,
            "total": self.total,
            "modules": self.modules,
        }


@dataclass(frozen=True)
class FitPlan:
    """How to load a checkpoint on a machine, and whether it fits there.

    ``kwargs`` are ``from_pretrained`` keyword arguments as JSON can carry them (``max_memory`` GPU
    keys as strings: turn them back into ints); ``call`` is the Python line with them;
    ``vllm`` the matching ``vllm serve`` flags for a causal LM on GPUs, or ``None`` with the reason
    in ``reasons``.
    """

    model: str
    auto_class: str
    dtype: str
    dtype_source: str
    context: int
    batch: int
    weights: dict[str, dict[str, int]]
    weights_bytes: int
    kv: KvCache
    activations_bytes: int
    largest_layer_bytes: int
    quantization: dict[str, Any] | None
    device_map: str | dict[str, int] | None
    max_memory: dict[int | str, str] | None
    offload_folder: str | None
    per_device: tuple[DevicePlan, ...]
    unplaced_bytes: int
    verdict: str
    reasons: tuple[str, ...]
    kwargs: dict[str, Any]
    call: str
    vllm: dict[str, Any] | None
    hardware: Hardware

    @property
    def fits(self) -> bool:
        return self.verdict != "does-not-fit"

    def to_json(self) -> dict[str, Any]:
        mm = None if self.max_memory is None else {str(k): v for k, v in self.max_memory.items()}
        return {
            "model": self.model,
            "auto_class": self.auto_class,
            "fits": self.fits,
            "verdict": self.verdict,
            "reasons": list(self.reasons),
            "dtype": self.dtype,
            "dtype_source": self.dtype_source,
            "context": self.context,
            "batch": self.batch,
            "weights_bytes": self.weights_bytes,
            "weights": self.weights,
            "kv_cache_bytes": self.kv.bytes,
            "kv_cache": self.kv.to_json(),
            "activations_bytes": self.activations_bytes,
            "largest_layer_bytes": self.largest_layer_bytes,
            "quantization": self.quantization,
            "device_map": self.device_map,
            "max_memory": mm,
            "offload_folder": self.offload_folder,
            "per_device": [d.to_json() for d in self.per_device],
            "unplaced_bytes": self.unplaced_bytes,
            "kwargs": self.kwargs,
            "call": self.call,
            "vllm": self.vllm,
            "hardware": self.hardware.to_json(),
        }
