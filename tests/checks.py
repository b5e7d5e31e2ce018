"""Judges for tests: huggingface_hub's own readers and content hashes, never hfcache's opinion.

``client_loads`` asks the client itself, in a fresh offline process, whether a revision loads;
``delete_advice`` finds advice in doctor's JSON to delete the only copy of a revision's file.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from builders import CachedRepo
from huggingface_hub import hf_hub_download, scan_cache_dir

from hfcache.doctor import Report
from hfcache.findings import Finding


def loads_exactly(c: CachedRepo, names: list[str] | None = None, revision: str = "main") -> None:
    """The real client, offline, returns the original bytes of every file (or of ``names``)."""
    for name in names if names is not None else sorted(c.files):
        path = hf_hub_download(
            c.repo_id,
            name,
            repo_type=c.repo_type,
            revision=revision,
            cache_dir=c.cache_dir,
            local_files_only=True,
        )
        assert Path(path).read_bytes() == c.files[name], name


def scan_warnings(cache_dir: Path) -> list[str]:
    """What huggingface_hub's own cache scan complains about."""
    return [str(w) for w in scan_cache_dir(cache_dir).warnings]


def codes(report: Report) -> set[str]:
    return {f.code for f in report.findings}


def the_finding(report: Report, code: str, path: Path | None = None) -> Finding:
    """The one finding with ``code`` (about ``path``, if given); fails with the full list otherwise."""
    found = [f for f in report.findings if f.code == code and (path is None or f.path == str(path))]
    assert len(found) == 1, [(f.code, f.path) for f in report.findings]
    return found[0]


# The client's own verdict, in a fresh offline process: the snapshot the client resolves, then
# the config, the tokenizer and every tensor of every shard, each file found by the client.
LOADER = r"""
import json, struct, sys
from pathlib import Path
from huggingface_hub import hf_hub_download, snapshot_download


def load(repo_id, cache_dir):
    snapshot_download(repo_id, cache_dir=cache_dir, local_files_only=True)
    get = lambda name: hf_hub_download(repo_id, name, cache_dir=cache_dir, local_files_only=True)
    try:
        from transformers import AutoConfig
    except ImportError:
        json.loads(Path(get("config.json")).read_text())
    else:
        AutoConfig.from_pretrained(repo_id, cache_dir=cache_dir, local_files_only=True)
    try:
        from tokenizers import Tokenizer
    except ImportError:
        json.loads(Path(get("tokenizer.json")).read_text())
    else:
        Tokenizer.from_file(get("tokenizer.json"))
    index = json.loads(Path(get("model.safetensors.index.json")).read_text())
    for shard in sorted(set(index["weight_map"].values())):
        path = get(shard)
        raw = Path(path).read_bytes()  # the header and the size it promises
        (n,) = struct.unpack("<Q", raw[:8])
        header = json.loads(raw[8 : 8 + n])
        end = max(v["data_offsets"][1] for k, v in header.items() if k != "__metadata__")
        assert len(raw) == 8 + n + end, f"{shard}: {len(raw)} bytes, header says {8 + n + end}"
        names = set(header) - {"__metadata__"}
        try:  # and every tensor, read by safetensors into torch, where both are installed
            import torch
            from safetensors import safe_open
        except ImportError:
            pass
        else:
            with safe_open(path, framework="pt") as f:
                assert set(f.keys()) == names
                for name in names:
                    f.get_tensor(name)
        missing = {k for k, v in index["weight_map"].items() if v == shard} - names
        assert not missing, f"{shard} lacks {sorted(missing)}"


try:
    load(*sys.argv[1:3])
except Exception as e:
    print(f"{type(e).__name__}: {(str(e).strip().splitlines() or [''])[0]}")
    sys.exit(1)
print("loads")
"""


def client_loads(cache: Path, repo_id: str) -> tuple[bool, str]:
    """Whether huggingface_hub (and transformers, safetensors, tokenizers where installed) load
    the revision offline from ``cache``; the client's error when they do not."""
    run = subprocess.run(
        [sys.executable, "-c", LOADER, repo_id, str(cache)],
        capture_output=True,
        text=True,
        env={**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"},
        timeout=300,
    )
    loads = run.returncode == 0 and run.stdout.strip() == "loads"
    return loads, "" if loads else (run.stdout.strip() or run.stderr.strip())


DELETE = re.compile(r"\b(delete|deleting|prune|pruning)\b", re.IGNORECASE)


def only_copies(c: CachedRepo) -> Iterator[tuple[str, Path]]:
    """``(file, path)`` for every file of ``c``'s revision whose bytes are in one place only in
    its cache: its blob, or its snapshot entry (a full copy, as a no-symlink download leaves it)."""
    for name, data in sorted(c.files.items()):
        holders = [
            p
            for p in (c.blob(name), c.snapshot / name)
            if p.is_file() and not p.is_symlink() and p.stat().st_size == len(data) and p.read_bytes() == data
        ]
        if len(holders) == 1:
            yield name, holders[0]


def delete_advice(c: CachedRepo, doc: dict[str, Any]) -> list[str]:
    """Findings and plan steps that say delete/prune about the only copy of a revision's file:
    about its path or a folder above it, or naming its blob."""
    said = []
    for name, path in only_copies(c):
        etag = c.blob(name).name
        for item in [*doc["findings"], *doc.get("plan", [])]:
            text = json.dumps({k: v for k, v in item.items() if k not in ("path", "resolves")})
            where = Path(item.get("path") or "/nonexistent")
            about = where == path or where in path.parents or etag[:12] in text or str(path) in text
            if about and (DELETE.search(text) or str(item.get("step", "")).startswith(("delete", "prune"))):
                said.append(f"{name} (only copy {path}): {item.get('code', item.get('step'))}: {text}")
    return said
