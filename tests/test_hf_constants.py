"""hfcache._hf reads four of huggingface_hub's private constants from its source, without running
the modules that hold them: the values must be the ones the installed client runs with."""

from __future__ import annotations

import importlib
import importlib.util
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from hfcache import _hf


def _client(module: str, name: str) -> object:
    if importlib.util.find_spec(module) is None:
        pytest.skip(f"{module} is not in huggingface_hub {_hf.VERSION}")
    if not hasattr(importlib.import_module(module), name):
        pytest.skip(f"{module}.{name} is not in huggingface_hub {_hf.VERSION}")
    return getattr(importlib.import_module(module), name)


def test_shared_blob_names_are_the_clients() -> None:
    module = "huggingface_hub.utils._shared_blobs"
    assert _client(module, "SHARED_BLOBS_DIR_NAME") == _hf.SHARED_BLOBS_DIR_NAME
    assert _hf.HAS_SHARED_BLOBS
    assert _client(module, "SHARED_BLOBS_MARKER_NAME") == _hf.SHARED_BLOBS_MARKER_NAME


def test_ignored_files_include_the_clients() -> None:
    theirs = _client("huggingface_hub.utils._cache_manager", "FILES_TO_IGNORE")
    assert isinstance(theirs, list) and set(theirs) <= _hf.FILES_TO_IGNORE


def test_tree_listing_version_is_the_clients() -> None:
    theirs = _client("huggingface_hub._tree_cache", "TREE_CACHE_FORMAT_VERSION")
    assert theirs == _hf.TREE_CACHE_FORMAT_VERSION
    assert _hf.HAS_TREE_CACHE


def test_xet_rule_is_the_clients() -> None:
    rule = _client("huggingface_hub.utils._xet", "is_valid_xet_hash")
    for text in ("a" * 64, "A" * 64, "0" * 63, "0" * 65, "*" * 64, "g" * 64, "a" * 64 + "\n", ""):
        assert _hf.is_valid_xet_hash(text) == rule(text), text


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ('X = ["a", "b"]\n', ["a", "b"]),
        ("X: int = 3  # a comment\n", 3),
        ('X = [\n    "a",  # one\n    "b",\n]\n', ["a", "b"]),
        ("X = compute()\n", None),
        ("XY = 1\n", None),
        ("def f():\n    X = 1\n", None),
    ],
)
def test_a_literal_is_read_without_running_the_module(
    source: str, expected: object, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = tmp_path
    (folder / "hfcache_literal_probe.py").write_text(source + "raise SystemExit('ran')\n")
    monkeypatch.syspath_prepend(str(folder))
    assert _hf._literal("hfcache_literal_probe", "X") == expected


def test_no_command_imports_the_http_stack_to_start() -> None:
    """The point of reading the constants: a command's start-up imports no HTTP client beyond what
    importing huggingface_hub's public packages does (nothing from 1.0 on; requests before)."""
    code = textwrap.dedent(
        """
        import sys
        http = lambda: {m for m in sys.modules if m.split(".")[0] in ("httpx", "httpx2", "requests")}
        import huggingface_hub, huggingface_hub.constants, huggingface_hub.utils
        before = http()
        import hfcache.cli, hfcache.cli.pack, hfcache.cli.unpack, hfcache.cli.doctor
        print(sorted(http() - before))
        """
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
