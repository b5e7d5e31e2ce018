"""The GPUs CUDA will show: NVML or ``nvidia-smi``, MIG slices, then ``CUDA_VISIBLE_DEVICES``.

GPUs are found through NVML (``nvidia-ml-py``, if it is installed) or ``nvidia-smi``, then
``CUDA_VISIBLE_DEVICES`` is applied the way CUDA applies it (nvidia-smi and NVML ignore it, torch
and transformers see only what it leaves, renumbered from 0). The parsers are pure; the two
probes run the tools. :func:`hfcache.fit.detect_hardware` puts them together with RAM and disk.
"""

from __future__ import annotations

import contextlib
import shutil
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

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


def from_nvidia_smi(notes: list[str]) -> list[Gpu] | None:
    """GPUs and MIG slices through ``nvidia-smi``, or ``None`` when it is not there or fails."""
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


def from_nvml(notes: list[str]) -> list[Gpu] | None:
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
