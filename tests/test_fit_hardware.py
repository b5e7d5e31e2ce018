"""Hardware detection for ``hfcache fit``: a stand-in ``nvidia-smi`` on PATH (a shell script printing
what the real one prints), ``CUDA_VISIBLE_DEVICES`` applied as CUDA applies it, ``/proc/meminfo``."""

from __future__ import annotations

import importlib.util
import os
import stat
from pathlib import Path

import pytest

from hfcache.errors import BadInputError
from hfcache.fit import detect_hardware
from hfcache.fit.gpus import mig_devices, parse_nvidia_smi
from hfcache.fit.hardware import accelerate_installed, parse_meminfo
from hfcache.fit.sizes import GivenSize, given_size

MIB = 1 << 20
TWO_GPUS = (
    "0, GPU-aaaaaaaa-1111-2222-3333-444444444444, NVIDIA A100-SXM4-80GB, 81920, 81000\n"
    "1, GPU-bbbbbbbb-1111-2222-3333-444444444444, NVIDIA A100-SXM4-80GB, 81920, 40000\n"
)
MIG_LISTING = (
    "GPU 0: NVIDIA A100-SXM4-40GB (UUID: GPU-cccccccc-1111-2222-3333-444444444444)\n"
    "  MIG 3g.20gb     Device  0: (UUID: MIG-dddddddd-1111-2222-3333-444444444444)\n"
    "  MIG 3g.20gb     Device  1: (UUID: MIG-eeeeeeee-1111-2222-3333-444444444444)\n"
)


def _fake_smi(folder: Path, query: str, listing: str = "") -> None:
    script = folder / "nvidia-smi"
    script.write_text(
        "#!/bin/sh\n"
        'if [ "$1" = "-L" ]; then cat <<\'EOF\'\n' + listing + "EOF\nexit 0\nfi\n"
        "cat <<'EOF'\n" + query + "EOF\n"
    )
    script.chmod(script.stat().st_mode | stat.S_IXUSR)


@pytest.fixture
def smi_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("PATH", f"{tmp_path}{os.pathsep}{os.environ['PATH']}")
    return tmp_path


def test_two_gpus_and_cuda_visible_devices(smi_path: Path) -> None:
    _fake_smi(smi_path, TWO_GPUS)
    both = detect_hardware(environ={}, ram=1, disk=1)
    assert [(g.index, g.free) for g in both.gpus] == [(0, 81000 * MIB), (1, 40000 * MIB)]
    assert both.source["gpus"] == "nvidia-smi"
    second = detect_hardware(environ={"CUDA_VISIBLE_DEVICES": "1"}, ram=1, disk=1)
    (gpu,) = second.gpus
    assert (gpu.index, gpu.free, gpu.total) == (0, 40000 * MIB, 81920 * MIB)  # CUDA renumbers from 0
    by_uuid = detect_hardware(environ={"CUDA_VISIBLE_DEVICES": "GPU-bbbbbbbb"}, ram=1, disk=1)
    assert [g.free for g in by_uuid.gpus] == [40000 * MIB]
    swapped = detect_hardware(environ={"CUDA_VISIBLE_DEVICES": "1,0"}, ram=1, disk=1)
    assert [(g.index, g.free) for g in swapped.gpus] == [(0, 40000 * MIB), (1, 81000 * MIB)]
    assert detect_hardware(environ={"CUDA_VISIBLE_DEVICES": ""}, ram=1, disk=1).gpus == ()
    assert detect_hardware(environ={"CUDA_VISIBLE_DEVICES": "-1"}, ram=1, disk=1).gpus == ()
    cut = detect_hardware(environ={"CUDA_VISIBLE_DEVICES": "0,7,1"}, ram=1, disk=1)
    assert len(cut.gpus) == 1  # CUDA stops at the first device that does not exist


def test_mig_slices_are_unknown_sizes_not_a_crash(smi_path: Path) -> None:
    _fake_smi(smi_path, "0, GPU-cccccccc-1111-2222-3333-444444444444, NVIDIA A100-SXM4-40GB, [N/A], [N/A]\n",
              MIG_LISTING)  # fmt: skip
    hw = detect_hardware(environ={}, ram=1, disk=1)
    assert [(g.total, g.uuid) for g in hw.gpus] == [
        (None, "MIG-dddddddd-1111-2222-3333-444444444444"),
        (None, "MIG-eeeeeeee-1111-2222-3333-444444444444"),
    ]
    assert any("MIG" in n for n in hw.notes)
    one = detect_hardware(environ={"CUDA_VISIBLE_DEVICES": "MIG-eeeeeeee"}, ram=1, disk=1)
    assert [g.uuid for g in one.gpus] == ["MIG-eeeeeeee-1111-2222-3333-444444444444"]
    assert mig_devices(MIG_LISTING)[0] == (0, "3g.20gb", "MIG-dddddddd-1111-2222-3333-444444444444")


def test_no_nvidia_smi_means_no_gpu(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    hw = detect_hardware(environ={}, ram=1, disk=1)
    assert hw.gpus == () and hw.source["gpus"].startswith("none found")


def test_overrides_need_no_gpu(tmp_path: Path) -> None:
    hw = detect_hardware(gpus=[24 << 30, 24 << 30], ram=64 << 30, disk=5, environ={})
    assert [(g.index, g.total, g.free) for g in hw.gpus] == [(0, 24 << 30, 24 << 30), (1, 24 << 30, 24 << 30)]
    assert (hw.ram_available, hw.disk_free, hw.source["ram"]) == (64 << 30, 5, "--ram")
    assert detect_hardware(no_gpu=True, environ={}).gpus == ()
    measured = detect_hardware(no_gpu=True, offload_folder=str(tmp_path / "not" / "yet"), environ={})
    assert measured.disk_free is not None and measured.disk_free > 0


def test_meminfo_and_csv_parsing() -> None:
    text = "MemTotal:       131072000 kB\nMemFree:         1000 kB\nMemAvailable:   65536000 kB\n"
    assert parse_meminfo(text) == 65536000 * 1024
    assert parse_meminfo("MemTotal: 1 kB\n") is None
    (gpu,) = parse_nvidia_smi("3, GPU-x, NVIDIA RTX A6000, Ada, 49140, [N/A]\n")
    assert (gpu.index, gpu.name, gpu.total, gpu.free) == (3, "NVIDIA RTX A6000, Ada", 49140 * MIB, None)
    if os.path.exists("/proc/meminfo"):
        ram = detect_hardware(no_gpu=True, environ={}, disk=1).ram_available
        assert ram is not None and ram > 0


@pytest.mark.parametrize(
    ("text", "size", "shown"),
    [
        ("24GiB", 24 << 30, "24 GiB"),
        ("24G", 24 << 30, "24 GiB"),  # G: 1024^3, as parse_size (pack --split-size) reads it
        ("24 gib", 24 << 30, "24 GiB"),
        ("80GB", 80 * 10**9, "80 GB"),
        ("80gb", 80 * 10**9, "80 GB"),
        ("1.5T", 3 << 39, "1.5 TiB"),
        ("16000MiB", 16000 << 20, "16000 MiB"),
        ("512M", 512 << 20, "512 MiB"),
        ("64KB", 64000, "64 KB"),
        ("4096B", 4096, "4096 B"),
    ],
)
def test_given_sizes_keep_their_unit(text: str, size: int, shown: str) -> None:
    assert given_size("--gpu", text) == GivenSize(size, shown)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("24", "--ram 24: give a unit, 24GiB or 24GB (a number alone would be 24 bytes)"),
        ("1.5", "--ram 1.5: give a unit, 1.5GiB or 1.5GB (a number alone would be 1.5 bytes)"),
        ("24Gi", "--ram 24Gi: unknown unit 'Gi'; use GiB, GB, MiB, MB, TiB or TB"),
        ("lots", "--ram lots: not a size; give a number and a unit, e.g. 24GiB or 24GB"),
        ("fat32", "--ram fat32: not a size; give a number and a unit, e.g. 24GiB or 24GB"),
        ("0GiB", "--ram 0GiB: a size must be at least 1 byte"),
    ],
)
def test_given_sizes_refused(text: str, message: str) -> None:
    with pytest.raises(BadInputError) as refused:
        given_size("--ram", text)
    assert str(refused.value) == message


def test_given_sizes_reach_the_hardware() -> None:
    hw = detect_hardware(gpus=[given_size("--gpu", "24GiB"), 1000], ram=given_size("--ram", "8GB"), disk=5)
    assert [(g.free, g.given) for g in hw.gpus] == [(24 << 30, "24 GiB"), (1000, None)]
    assert (hw.ram_available, hw.disk_free, hw.given) == (8 * 10**9, 5, {"ram": "8 GB"})


def _fake_accelerate(root: Path, version: str | None) -> None:
    (root / "accelerate").mkdir(parents=True)
    (root / "accelerate" / "__init__.py").write_text("")
    if version is not None:
        info = root / f"accelerate-{version}.dist-info"
        info.mkdir()
        (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: accelerate\nVersion: {version}\n")


@pytest.mark.parametrize(
    ("version", "found"), [("1.2.0", True), ("1.1.0", True), ("1.0.1", False), (None, True)]
)
def test_accelerate_is_judged_as_transformers_judges_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, version: str | None, found: bool
) -> None:
    assert accelerate_installed() is (importlib.util.find_spec("accelerate") is not None)
    _fake_accelerate(tmp_path, version)
    monkeypatch.syspath_prepend(str(tmp_path))
    assert accelerate_installed() is found


def test_accelerate_is_known_only_for_this_machine(smi_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _fake_smi(smi_path, TWO_GPUS)
    for here in (True, False):
        monkeypatch.setattr("hfcache.fit.hardware.accelerate_installed", lambda here=here: here)
        this = detect_hardware(environ={})
        assert this.accelerate is here and this.source["accelerate"] == "this Python"
        for described in ({"gpus": [1 << 30]}, {"no_gpu": True}, {"ram": 1 << 30}, {"disk": 1 << 30}):
            other = detect_hardware(environ={}, **described)  # type: ignore[arg-type]
            assert other.accelerate is None and other.to_json()["accelerate"] is None
