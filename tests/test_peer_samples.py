"""inspect against the labelled samples of picklescan, modelscan and fickling (``peer_samples.py``).

The target, whatever each peer's label: a file whose pickle the loader would make import a
global outside torch's ``weights_only`` allowlist is ``pickle-unsafe-import`` (or, where the file
is garbled, ``checkpoint-unreadable``), never clean and never refused as "not a checkpoint file";
a benign pickle is clean. The allowlist is stricter than the peers' denylists, so a few samples
the peers call benign (an object ``.npy``, ``collections.deque``, ``builtins.len``) are flagged
here on purpose. The ground truth is measured, not assumed: :func:`peer_samples.loader_imports`
records what CPython's C unpickler asks for when it reads the file as torch would.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from peer_samples import (
    AMBIGUOUS,
    CLEAN,
    FLAGGED,
    ONLY_CLEAN,
    PEERS,
    UNSAFE,
    Sample,
    _normal,
    build,
    frame_divergence,
    inspect_verdict,
    missing_needs,
    outside_allowlist,
    polyglot,
    samples,
    torch_allowed,
)

from hfcache.errors import BadInputError
from hfcache.inspect import inspect_target

SAMPLES = samples()


def _id(s: Sample) -> str:
    return s.key


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("peer_samples")
    return {s.key: build(s, folder) for s in SAMPLES if not missing_needs(s)}


def _path(s: Sample, built: dict[str, Path]) -> Path:
    if s.key not in built:
        pytest.skip(f"building {s.key} needs {', '.join(missing_needs(s))}")
    return built[s.key]


def test_every_peer_has_malicious_and_benign_samples() -> None:
    keys = [s.key for s in SAMPLES]
    assert len(keys) == len(set(keys))
    for peer in PEERS:
        labels = {s.label for s in SAMPLES if s.peer == peer}
        assert labels == {"malicious", "benign"}, peer


@pytest.mark.parametrize("s", SAMPLES, ids=_id)
def test_inspect_verdict(s: Sample, built: dict[str, Path]) -> None:
    got = inspect_verdict(_path(s, built), timeout=60 if s.slow else None)
    assert got in s.want, (
        f"{s.key} ({s.peer}'s test: {s.label}; {s.technique}): inspect says {got!r}, "
        f"want one of {sorted(s.want)}"
    )


@pytest.mark.parametrize("s", SAMPLES, ids=_id)
def test_the_wanted_verdict_follows_from_what_the_loader_imports(s: Sample, built: dict[str, Path]) -> None:
    """The samples themselves are right: what the C unpickler asks for decides the target."""
    path = _path(s, built)
    if torch_allowed() is None:
        pytest.skip("torch's allowlist needs torch")
    outside = outside_allowlist(path)
    if outside:
        assert CLEAN not in s.want, f"{s.key}: the loader imports {outside}"
    if s.want == FLAGGED:
        assert outside, f"{s.key}: wanted unsafe, but the loader imports nothing outside the allowlist"
    if s.want == ONLY_CLEAN:
        assert not outside, f"{s.key}: wanted clean, but the loader imports {outside}"


def _reported(path: Path) -> set[str]:
    try:
        doc = inspect_target(str(path)).to_json()
    except BadInputError as e:
        pytest.fail(f"inspect refused a pickle the loader reads: {e}")
    names = {n for f in doc["files"] for n in f.get("unsafe_imports") or []}
    return {_normal(*n.rsplit(".", 1)) if "." in n else n for n in names}


@pytest.mark.parametrize("s", [s for s in SAMPLES if UNSAFE in s.want], ids=_id)
def test_inspect_names_every_import_the_loader_asks_for(s: Sample, built: dict[str, Path]) -> None:
    path = _path(s, built)
    if torch_allowed() is None:
        pytest.skip("torch's allowlist needs torch")
    outside = outside_allowlist(path) or []
    if not outside:
        pytest.skip("the loader imports nothing outside the allowlist from this one")
    if inspect_verdict(path) == AMBIGUOUS:
        pytest.skip("refused as a whole: which imports run depends on which reader decodes it")
    missing = set(outside) - _reported(path)
    assert not missing, f"{s.key}: the loader imports {sorted(missing)}, inspect does not report them"


@pytest.mark.parametrize("make", [polyglot, frame_divergence], ids=["polyglot", "frame_divergence"])
def test_torch_load_runs_what_inspect_must_flag(make: object, tmp_path: Path) -> None:
    """The two hiding techniques are real: ``torch.load(weights_only=False)`` runs the payload
    (a ``touch`` of a marker, in a child process), so inspect calling the file clean is wrong."""
    pytest.importorskip("torch")
    marker = tmp_path / "ran"
    path = tmp_path / "sample.pt"
    path.write_bytes(make(f"touch {marker}"))  # type: ignore[operator]
    script = (
        "import sys, torch\n"
        "try:\n    torch.load(sys.argv[1], weights_only=False)\n"
        "except Exception as e:\n    print(type(e).__name__, e)\n"
    )
    subprocess.run([sys.executable, "-c", script, str(path)], capture_output=True, timeout=120, check=False)
    assert marker.exists(), "torch.load did not run the payload: the sample no longer shows the gap"
    marker.unlink()
    assert inspect_verdict(path) != CLEAN
    assert not marker.exists()
