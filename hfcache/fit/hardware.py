"""The machine a model is to be loaded on: its GPUs, available RAM and free disk.

Detection touches the system and lives here alone: GPUs through NVML (``nvidia-ml-py``, if it
is installed) or ``nvidia-smi``, then ``CUDA_VISIBLE_DEVICES`` applied the way CUDA applies it
(nvidia-smi and NVML ignore it, torch and transformers see only what it leaves, renumbered
from 0); RAM from ``/proc/meminfo`` ``MemAvailable`` (what accelerate reads through psutil),
capped by a cgroup v2 ``memory.max``; disk from ``shutil.disk_usage``. Each part can be given
instead (``--gpu``, ``--no-gpu``, ``--ram``, ``--disk``), so a plan for another machine needs
no GPU here. The estimate itself (:mod:`hfcache.fit.estimate`) never probes anything.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from hfcache.fit.sizes import GivenSize

MIB = 1 << 20
NVIDIA_SMI_TIMEOUT = 10
_QUERY = "--query-gpu=index,uuid,name,memory.total,memory.free"


@dataclass(frozen=True)
class Gpu:
    """One GPU as CUDA numbers it (``index``: the key of ``max_memory``). Sizes are bytes, ``None``
    when unknown (a MIG slice nvidia-smi cannot size)."""

    index: int
    name: str
    total: int | None
    free: int | None
    uuid: str | None = None
    given: str | None = None
    """The size as ``--gpu`` gave it, for showing back (``"24 GiB"``); ``None`` when detected."""

    def to_json(self) -> dict[str, Any]:
        return {
            "index": self.index,
            "name": self.name,
            "total": self.total,
            "free": self.free,
            "uuid": self.uuid,
            "given": self.given,
        }


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

    def to_json(self) -> dict[str, Any]:
        return {
            "gpus": [g.to_json() for g in self.gpus],
            "ram_available": self.ram_available,
            "disk_free": self.disk_free,
            "source": dict(self.source),
            "offload_folder": self.offload_folder,
            "notes": list(self.notes),
            "given": dict(self.given),
        }


def _mib(text: str) -> int | None:
    try:
        return int(float(text.strip())) * MIB
    except ValueError:
        return None  # "[N/A]", "[Not Supported]"


def parse_nvidia_smi(csv: str) -> list[Gpu]:
    """GPUs from ``nvidia-smi --query-gpu=index,uuid,name,memory.total,memory.free`` (noheader,
    nounits: MiB). ``index`` is nvidia-smi's ordinal here, before ``CUDA_VISIBLE_DEVICES``."""
    gpus = []
    for line in csv.splitlines():
        parts = [p.strip() for p in line.split(",")]
        if len(parts) < 5 or not parts[0].isdigit():
            continue
        # A name may hold a comma: the sizes are the last two fields, the uuid the second.
        name = ", ".join(parts[2:-2])
        gpus.append(Gpu(int(parts[0]), name, _mib(parts[-2]), _mib(parts[-1]), parts[1] or None))
    return gpus


def mig_devices(listing: str) -> list[tuple[int, str, str]]:
    """(parent GPU ordinal, MIG profile such as ``1g.10gb``, MIG uuid) from ``nvidia-smi -L``."""
    found: list[tuple[int, str, str]] = []
    parent = -1
    for line in listing.splitlines():
        text = line.strip()
        if text.startswith("GPU ") and ":" in text:
            head = text[4 : text.index(":")]
            parent = int(head) if head.isdigit() else parent
        elif text.startswith("MIG ") and "UUID:" in text:
            profile = text.split()[1]
            uuid = text.split("UUID:", 1)[1].strip().rstrip(")").strip()
            found.append((parent, profile, uuid))
    return found


def visible(gpus: Sequence[Gpu], cuda_visible_devices: str | None) -> list[Gpu]:
    """The GPUs CUDA shows under ``CUDA_VISIBLE_DEVICES``, renumbered from 0 as CUDA does.

    Unset: all of them. Entries are nvidia-smi ordinals or (prefixes of) ``GPU-``/``MIG-`` UUIDs;
    like CUDA, the list stops at the first entry that names no device (so ``""`` and ``-1`` hide
    every GPU), and a device named twice ends it too.
    """
    if cuda_visible_devices is None:
        return [Gpu(i, g.name, g.total, g.free, g.uuid) for i, g in enumerate(gpus)]
    chosen: list[Gpu] = []
    for raw in cuda_visible_devices.split(","):
        entry = raw.strip()
        if entry.isdigit():
            match = [g for g in gpus if g.index == int(entry)]
        elif entry.startswith(("GPU-", "MIG-")):
            match = [g for g in gpus if g.uuid is not None and g.uuid.startswith(entry)]
        else:
            match = []
        if len(match) != 1 or match[0] in chosen:
            break
        chosen.append(match[0])
    return [Gpu(i, g.name, g.total, g.free, g.uuid) for i, g in enumerate(chosen)]


def _run(args: list[str]) -> str | None:
    exe = shutil.which(args[0])
    if exe is None:
        return None
    try:
        done = subprocess.run(
            [exe, *args[1:]], capture_output=True, text=True, timeout=NVIDIA_SMI_TIMEOUT, check=False
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return done.stdout if done.returncode == 0 else None


def _from_nvidia_smi(notes: list[str]) -> list[Gpu] | None:
    out = _run(["nvidia-smi", _QUERY, "--format=csv,noheader,nounits"])
    if out is None:
        return None
    gpus = parse_nvidia_smi(out)
    migs = mig_devices(_run(["nvidia-smi", "-L"]) or "")
    if not migs:
        return gpus
    # With MIG, CUDA sees the slices, not their parents; nvidia-smi --query-gpu cannot size them.
    parents = {g.index: g for g in gpus}
    sliced = []
    for parent, profile, uuid in migs:  # a slice keeps its parent's ordinal: name slices by UUID
        name = f"{parents[parent].name if parent in parents else 'GPU'} MIG {profile}"
        sliced.append(Gpu(parent, name, None, None, uuid))
    cut = {p for p, _, _ in migs}
    notes.append(
        "MIG slices found: nvidia-smi does not give their memory; install nvidia-ml-py "
        "(pip install 'hfcache[fit]') or give each slice's size with --gpu SIZE."
    )
    return [g for g in gpus if g.index not in cut] + sliced


def _from_nvml(notes: list[str]) -> list[Gpu] | None:
    """GPUs and MIG slices through NVML, or ``None`` when NVML is not installed or has no driver."""
    try:
        import pynvml  # type: ignore[import-not-found, unused-ignore]
    except ImportError:
        return None
    try:
        pynvml.nvmlInit()
    except Exception:  # pynvml.NVMLError and its many subclasses: no driver, no library
        return None
    try:
        gpus: list[Gpu] = []
        for i in range(pynvml.nvmlDeviceGetCount()):
            handle = pynvml.nvmlDeviceGetHandleByIndex(i)
            name = str(_text(pynvml.nvmlDeviceGetName(handle)))
            try:
                mig_on = pynvml.nvmlDeviceGetMigMode(handle)[0] == pynvml.NVML_DEVICE_MIG_ENABLE
            except Exception:  # no MIG on this GPU
                mig_on = False
            if not mig_on:
                mem = pynvml.nvmlDeviceGetMemoryInfo(handle)
                uuid = _text(pynvml.nvmlDeviceGetUUID(handle))
                gpus.append(Gpu(i, name, int(mem.total), int(mem.free), uuid))
                continue
            for m in range(pynvml.nvmlDeviceGetMaxMigDeviceCount(handle)):
                try:
                    mig = pynvml.nvmlDeviceGetMigDeviceHandleByIndex(handle, m)
                except Exception:  # an empty slot
                    continue
                mem = pynvml.nvmlDeviceGetMemoryInfo(mig)
                uuid = _text(pynvml.nvmlDeviceGetUUID(mig))
                gpus.append(Gpu(i, f"{name} MIG", int(mem.total), int(mem.free), uuid))
        return gpus
    except Exception as e:  # a driver error halfway: fall back to nvidia-smi
        notes.append(f"NVML failed ({e}); nvidia-smi was asked instead.")
        return None
    finally:
        with contextlib.suppress(Exception):  # nothing to shut down
            pynvml.nvmlShutdown()


def _text(value: object) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


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
        listed = _from_nvml(notes)
        source["gpus"] = "nvml"
        if listed is None:
            listed = _from_nvidia_smi(notes)
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
    return Hardware(tuple(found), ram_available, disk_free, source, offload_folder, tuple(notes), given)
