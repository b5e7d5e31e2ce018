"""The machine a model is to be loaded on: its GPUs, available RAM and free disk.

Detection touches the system and lives here and in :mod:`hfcache.fit.gpus` alone: GPUs through
NVML or ``nvidia-smi`` with ``CUDA_VISIBLE_DEVICES`` applied (:mod:`hfcache.fit.gpus`); RAM from
``/proc/meminfo`` ``MemAvailable`` (what accelerate reads through psutil), capped by a cgroup v2
``memory.max``; disk from ``shutil.disk_usage``; whether accelerate is installed (any
``device_map`` needs it). Each size can be given instead (``--gpu``, ``--no-gpu``, ``--ram``,
``--disk``), so a plan for another machine needs no GPU here; that machine's accelerate is then
not known. The estimate itself (:mod:`hfcache.fit.estimate`) never probes anything.
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import os
import re
import shutil
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from hfcache.fit.gpus import Gpu, from_nvidia_smi, from_nvml, visible
from hfcache.fit.sizes import GivenSize

ACCELERATE_MIN = (1, 1)


@dataclass(frozen=True)
class Hardware:
    """GPUs, RAM available and disk free for the offload folder; ``source`` says where each came from."""

    gpus: tuple[Gpu, ...]
    ram_available: int | None
    disk_free: int | None
    source: Mapping[str, str] = field(default_factory=dict)
    offload_folder: str | None = None
    notes: tuple[str, ...] = ()
    given: Mapping[str, str] = field(default_factory=dict)
    """``"ram"`` and ``"disk"`` as ``--ram`` and ``--disk`` gave them, for showing back."""
    accelerate: bool | None = None
    """Whether transformers would find accelerate where the model loads: known (this Python) only
    for this machine as detected, ``None`` for a machine described (any size given)."""

    def to_json(self) -> dict[str, Any]:
        return {
            "gpus": [g.to_json() for g in self.gpus],
            "ram_available": self.ram_available,
            "disk_free": self.disk_free,
            "source": dict(self.source),
            "offload_folder": self.offload_folder,
            "notes": list(self.notes),
            "given": dict(self.given),
            "accelerate": self.accelerate,
        }


def parse_meminfo(text: str) -> int | None:
    """``MemAvailable`` of ``/proc/meminfo`` in bytes (the file says kB, meaning KiB)."""
    for line in text.splitlines():
        key, _, rest = line.partition(":")
        if key.strip() == "MemAvailable":
            words = rest.split()
            return int(words[0]) * 1024 if words and words[0].isdigit() else None
    return None


def _read(path: str) -> str | None:
    try:
        with open(path, encoding="ascii", errors="replace") as f:
            return f.read(1 << 20)
    except OSError:
        return None


def detect_ram() -> tuple[int | None, str]:
    """RAM available now, and where it was read; a cgroup v2 limit below it wins (containers)."""
    available = parse_meminfo(_read("/proc/meminfo") or "")
    source = "/proc/meminfo MemAvailable"
    if available is None and hasattr(os, "sysconf"):
        try:
            available = os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
            source = "sysconf"
        except (ValueError, OSError):
            available = None
    limit, used = _read("/sys/fs/cgroup/memory.max"), _read("/sys/fs/cgroup/memory.current")
    if limit and limit.strip().isdigit() and used and used.strip().isdigit():
        room = max(0, int(limit) - int(used))
        if available is None or room < available:
            return room, "cgroup memory.max - memory.current"
    return available, source


def detect_disk(folder: str) -> int | None:
    """Free bytes on the file system that would hold ``folder`` (its nearest existing parent)."""
    path = os.path.abspath(folder)
    while not os.path.exists(path) and os.path.dirname(path) != path:
        path = os.path.dirname(path)
    try:
        return shutil.disk_usage(path).free
    except OSError:
        return None


def accelerate_installed() -> bool:
    """Whether transformers in this Python finds accelerate, as ``is_accelerate_available`` decides:
    importable and at least ``ACCELERATE_MIN_VERSION`` 1.1.0 (transformers 5 ``import_utils.py``)."""
    try:
        if importlib.util.find_spec("accelerate") is None:
            return False
    except (ImportError, ValueError):
        return False
    try:
        version = importlib.metadata.version("accelerate")
    except importlib.metadata.PackageNotFoundError:
        return True  # importable without metadata (a source checkout): transformers imports it to see
    numbers = re.match(r"(\d+)\.(\d+)", version)
    return numbers is None or (int(numbers[1]), int(numbers[2])) >= ACCELERATE_MIN


def _given(size: int | GivenSize | None) -> tuple[int | None, str | None]:
    if isinstance(size, GivenSize):
        return size.bytes, size.shown
    return size, None


def detect_hardware(
    *,
    gpus: Sequence[int | GivenSize] | None = None,
    no_gpu: bool = False,
    ram: int | GivenSize | None = None,
    disk: int | GivenSize | None = None,
    offload_folder: str | None = None,
    environ: Mapping[str, str] | None = None,
) -> Hardware:
    """This machine, with any part given instead of detected.

    ``gpus``: sizes of GPUs to plan for (each taken as wholly free); ``no_gpu``: plan for none.
    Sizes are bytes, or a :class:`GivenSize` that also says how to show them back.
    ``environ`` defaults to ``os.environ`` (read for ``CUDA_VISIBLE_DEVICES``).
    """
    env = os.environ if environ is None else environ
    notes: list[str] = []
    source: dict[str, str] = {}
    ram_bytes, shown_ram = _given(ram)
    disk_bytes, shown_disk = _given(disk)
    given = {k: v for k, v in (("ram", shown_ram), ("disk", shown_disk)) if v is not None}
    if no_gpu:
        found: list[Gpu] = []
        source["gpus"] = "--no-gpu"
    elif gpus:
        found = []
        for i, size in enumerate(gpus):
            free, shown = _given(size)
            found.append(Gpu(i, "given", free, free, given=shown))
        source["gpus"] = "--gpu"
    else:
        listed = from_nvml(notes)
        source["gpus"] = "nvml"
        if listed is None:
            listed = from_nvidia_smi(notes)
            source["gpus"] = "nvidia-smi" if listed is not None else "none found (no NVML, no nvidia-smi)"
        found = visible(listed or [], env.get("CUDA_VISIBLE_DEVICES"))
        if listed and "CUDA_VISIBLE_DEVICES" in env:
            source["gpus"] += f", CUDA_VISIBLE_DEVICES={env['CUDA_VISIBLE_DEVICES']!r}"
        if len({g.name for g in found}) > 1 and env.get("CUDA_DEVICE_ORDER") != "PCI_BUS_ID":
            notes.append(
                "GPUs differ: CUDA numbers them fastest first unless CUDA_DEVICE_ORDER=PCI_BUS_ID, "
                "so its indices may not be nvidia-smi's."
            )
    ram_available: int | None = ram_bytes
    source["ram"] = "--ram"
    if ram_bytes is None:
        ram_available, source["ram"] = detect_ram()
    disk_free: int | None = disk_bytes
    source["disk"] = "--disk"
    if disk_bytes is None:
        disk_free = detect_disk(offload_folder) if offload_folder else None
        source["disk"] = "shutil.disk_usage" if disk_free is not None else "unknown"
    described = no_gpu or bool(gpus) or ram is not None or disk is not None
    accelerate = None if described else accelerate_installed()
    source["accelerate"] = "not known: a machine described" if described else "this Python"
    return Hardware(
        tuple(found), ram_available, disk_free, source, offload_folder, tuple(notes), given, accelerate
    )
