"""torch checkpoints read without torch and without unpickling: what torch itself saved is read
back exactly, and a pickle that would run a command is flagged and never runs."""

from __future__ import annotations

import os
import pickle
import zipfile
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hfcache.formats.pickleread.scan import scan_pickle
from hfcache.formats.torchallow import ALLOWED, is_safe
from hfcache.formats.torchfile import read_torch_file


class _Payload:
    """Unpickling this runs a shell command that creates a file: the test's tripwire."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[object, tuple[str]]:
        return (os.system, (f"touch {self.marker}",))


def test_a_hostile_pickle_is_flagged_and_never_runs(tmp_path: Path) -> None:
    marker = tmp_path / "ran"
    data = pickle.dumps({"weight": _Payload(marker)}, protocol=2)
    scan = scan_pickle(data)
    assert [i.qualname for i in scan.imports if not is_safe(i)] in (
        ["posix.system"],
        ["os.system"],
        ["nt.system"],
    )
    assert not marker.exists()
    for protocol in (0, 1, 3, 4, 5):  # STACK_GLOBAL, MEMOIZE, FRAME...
        scan = scan_pickle(pickle.dumps(_Payload(marker), protocol=protocol))
        assert any(not is_safe(i) for i in scan.imports) and scan.error is None, protocol
    assert not marker.exists()


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=400))
def test_any_bytes_are_refused_or_read_never_raised(data: bytes) -> None:
    """Whatever the bytes, the scan returns (an exception here fails the test) and runs nothing."""
    scan = scan_pickle(data)
    assert isinstance(scan.imports, list) and (scan.error is None or scan.error.startswith("cannot follow"))


def test_torch_zip_checkpoint_read_as_torch_wrote_it(tmp_path: Path) -> None:
    torch = pytest.importorskip("torch")
    state = {
        "module.embed.weight": torch.randn(10, 4, dtype=torch.bfloat16),
        "module.norm.weight": torch.nn.Parameter(torch.ones(4)),
        "module.head.bias": torch.zeros(3, dtype=torch.float16),
        "step": torch.tensor(7, dtype=torch.int64),
    }
    path = tmp_path / "pytorch_model.bin"
    torch.save(state, path)
    got = read_torch_file(str(path))
    assert got.format == "zip" and got.problems == () and not got.unsafe
    by_name = {t.name: t for t in got.tensors}
    assert set(by_name) == set(state)
    dtypes = {torch.bfloat16: "BF16", torch.float32: "F32", torch.float16: "F16", torch.int64: "I64"}
    for name, tensor in state.items():
        t = by_name[name]
        assert t.shape == tuple(tensor.shape) and t.dtype == dtypes[tensor.dtype], name
        assert t.nbytes == tensor.numel() * tensor.element_size() and t.parameters == tensor.numel()
    with zipfile.ZipFile(path) as z:  # every storage the tensors name is in the zip
        assert {t.storage_key for t in got.tensors} <= {n.rsplit("/", 1)[-1] for n in z.namelist()}


def test_torch_legacy_checkpoint(tmp_path: Path) -> None:
    torch = pytest.importorskip("torch")
    state = {"a": torch.randn(2, 3), "b": torch.arange(5)}
    path = tmp_path / "old.bin"
    torch.save(state, path, _use_new_zipfile_serialization=False)
    got = read_torch_file(str(path))
    assert got.format == "legacy" and got.problems == () and not got.unsafe
    assert {(t.name, t.shape) for t in got.tensors} == {("a", (2, 3)), ("b", (5,))}


def test_a_hostile_torch_zip_is_flagged_and_never_runs(tmp_path: Path) -> None:
    torch = pytest.importorskip("torch")
    marker = tmp_path / "ran"
    path = tmp_path / "evil.bin"
    torch.save({"weight": torch.ones(2), "extra": _Payload(marker)}, path)
    got = read_torch_file(str(path))
    assert [i.qualname for i in got.unsafe] in (["posix.system"], ["os.system"])
    assert got.tensors == ()  # nothing is read from a file that fails the scan
    assert not marker.exists()


def test_allowlist_holds_what_a_state_dict_needs_and_nothing_that_runs_code() -> None:
    for name in ("collections.OrderedDict", "torch._utils._rebuild_tensor_v2", "torch.BFloat16Storage"):
        assert name in ALLOWED
    for name in ("os.system", "posix.system", "builtins.eval", "builtins.exec", "subprocess.Popen"):
        assert name not in ALLOWED
    assert not any(n.startswith(("os.", "posix.", "nt.", "sys.", "subprocess.")) for n in ALLOWED)


def test_not_a_checkpoint(tmp_path: Path) -> None:
    path = tmp_path / "x.bin"
    path.write_bytes(b"\x00garbage")
    assert read_torch_file(str(path)).problems
    z = tmp_path / "y.bin"
    with zipfile.ZipFile(z, "w") as f:
        f.writestr("readme.txt", "hello")
    assert read_torch_file(str(z)).problems == ("its first member is in no folder: not a torch.save zip",)
    with zipfile.ZipFile(z, "w") as f:
        f.writestr("archive/readme.txt", "hello")
    assert read_torch_file(str(z)).problems == ("no archive/data.pkl: not a torch.save zip",)


def test_a_module_state_dict_is_an_ordered_dict_with_metadata(tmp_path: Path) -> None:
    """``Module.state_dict()`` is an OrderedDict (a REDUCE, then SETITEMS and BUILD of _metadata)."""
    torch = pytest.importorskip("torch")
    model = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.LayerNorm(4))
    path = tmp_path / "sd.pt"
    torch.save(model.state_dict(), path)
    got = read_torch_file(str(path))
    assert got.problems == () and not got.unsafe
    expected = {k: tuple(v.shape) for k, v in model.state_dict().items()}
    assert {t.name: t.shape for t in got.tensors} == expected
    assert {t.stride for t in got.tensors if t.name == "0.weight"} == {(3, 1)}
