"""Test data and real Hugging Face caches, built with huggingface_hub's own code.

Why: hfcache diagnoses caches written by huggingface_hub, so fixtures must be exactly what
huggingface_hub writes, never a hand-made imitation.  Files are generated here (tiny but
structurally valid safetensors shards and index), served by :class:`StandinHub` and
downloaded with ``snapshot_download``; the shared Xet blob store is made with
huggingface_hub's own ``publish_blob_to_shared_store``.

The suite runs on every huggingface_hub from 0.20 on.  Private modules that only some
releases have are imported under guards: ``HAS_TREES`` says whether the client writes
``trees/<commit>.json`` listings itself, ``HAS_SHARED_STORE`` whether it has the shared Xet
blob store; ``requires_trees`` and ``requires_shared_store`` skip what cannot be built
without them.
"""

from __future__ import annotations

import json
import os
import random
import struct
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import huggingface_hub
import pytest
from huggingface_hub import _snapshot_download, constants, file_download, snapshot_download
from huggingface_hub.file_download import repo_folder_name
from huggingface_hub.utils import _cache_assets, _cache_manager
from huggingface_hub.utils.tqdm import tqdm as hf_tqdm
from standin_hub import StandinHub

if TYPE_CHECKING:
    from types import ModuleType

VERSION = huggingface_hub.__version__
try:  # recent releases only: the client writes trees/<commit>.json itself
    from huggingface_hub._tree_cache import read_tree_cache, write_tree_cache

    HAS_TREES = True
except ImportError:
    HAS_TREES = False
try:  # recent releases only: the cache-wide shared blob store of Xet downloads
    from huggingface_hub.utils._shared_blobs import publish_blob_to_shared_store, shared_blob_path

    HAS_SHARED_STORE = True
except ImportError:
    HAS_SHARED_STORE = False
_detect_agent: ModuleType | None
try:  # recent releases only: the User-Agent builder's agent registry
    from huggingface_hub.utils import _detect_agent
except ImportError:
    _detect_agent = None

requires_trees = pytest.mark.skipif(
    not HAS_TREES,
    reason=f"needs tree listings written by the client; huggingface_hub {VERSION} writes no trees/",
)
requires_shared_store = pytest.mark.skipif(
    not HAS_SHARED_STORE,
    reason=f"needs the shared Xet blob store (<cache>/blobs/), which huggingface_hub {VERSION} lacks",
)

SHARDED_REPO_ID = "standin/tiny-sharded"
_DTYPES: dict[str, tuple[str, int]] = {  # dtype -> (struct code, or kind for special cases; item size)
    "F64": ("d", 8), "F32": ("f", 4), "F16": ("e", 2), "BF16": ("bf16", 2),
    "I64": ("q", 8), "I32": ("i", 4), "I16": ("h", 2), "I8": ("b", 1),
    "U64": ("Q", 8), "U32": ("I", 4), "U16": ("H", 2), "U8": ("B", 1),
    "BOOL": ("?", 1), "F8_E4M3": ("f8", 1), "F8_E5M2": ("f8", 1),
}  # fmt: skip


def tensor_nbytes(dtype: str, shape: list[int]) -> int:
    """Byte size of a tensor: what transformers sums into an index's ``metadata.total_size``."""
    count = 1
    for dim in shape:
        count *= dim
    return count * _DTYPES[dtype][1]


def _tensor_bytes(dtype: str, count: int, rng: random.Random) -> bytes:
    code = _DTYPES[dtype][0]
    if code in ("d", "f", "e"):
        return struct.pack(f"<{count}{code}", *(rng.uniform(-1, 1) for _ in range(count)))
    if code == "bf16":  # bfloat16 is the high half of a float32
        floats = struct.pack(f"<{count}f", *(rng.uniform(-1, 1) for _ in range(count)))
        return b"".join(floats[i + 2 : i + 4] for i in range(0, len(floats), 4))
    if code in ("?", "f8"):  # booleans; fp8 values kept clear of the NaN/inf encodings
        return bytes(
            rng.randrange(2) if code == "?" else rng.randrange(0x70) | rng.choice((0, 0x80))
            for _ in range(count)
        )
    bits = 8 * _DTYPES[dtype][1]
    low, high = (-(2 ** (bits - 1)), 2 ** (bits - 1) - 1) if code.islower() else (0, 2**bits - 1)
    return struct.pack(f"<{count}{code}", *(rng.randint(low, high) for _ in range(count)))


def make_safetensors(
    tensors: Mapping[str, tuple[str, list[int]]], seed: int = 0, metadata: Mapping[str, str] | None = None
) -> bytes:
    """A valid safetensors file holding ``{name: (dtype, shape)}`` with deterministic data.

    Laid out like the reference writer: tensors ordered by item size (largest first) then name,
    so every tensor is aligned; compact JSON header padded with spaces to a multiple of 8.
    """
    order = sorted(tensors, key=lambda n: (-_DTYPES[tensors[n][0]][1], n))
    header: dict[str, Any] = {"__metadata__": dict(metadata)} if metadata else {}
    chunks: list[bytes] = []
    offset = 0
    for name in order:
        dtype, shape = tensors[name]
        count = tensor_nbytes(dtype, shape) // _DTYPES[dtype][1]
        chunks.append(_tensor_bytes(dtype, count, random.Random(f"{seed}:{name}")))
        header[name] = {
            "dtype": dtype,
            "shape": list(shape),
            "data_offsets": [offset, offset + len(chunks[-1])],
        }
        offset += len(chunks[-1])
    raw = json.dumps(header, separators=(",", ":")).encode()
    raw += b" " * (-len(raw) % 8)
    return struct.pack("<Q", len(raw)) + raw + b"".join(chunks)


def _model_tensors(n_layers: int, hidden: int, vocab: int) -> dict[str, tuple[str, list[int]]]:
    tensors: dict[str, tuple[str, list[int]]] = {"model.embed_tokens.weight": ("F32", [vocab, hidden])}
    for i in range(n_layers):
        tensors[f"model.layers.{i}.input_layernorm.weight"] = ("F32", [hidden])
        tensors[f"model.layers.{i}.mlp.up_proj.weight"] = ("F32", [2 * hidden, hidden])
        tensors[f"model.layers.{i}.self_attn.q_proj.weight"] = ("F16", [hidden, hidden])
    tensors["model.norm.weight"] = ("F32", [hidden])
    tensors["lm_head.weight"] = ("BF16", [vocab, hidden])
    return tensors


def sharded_model_files(
    n_shards: int = 2, *, n_layers: int | None = None, hidden: int = 32, vocab: int = 64, seed: int = 0
) -> dict[str, bytes]:
    """A small, realistic sharded transformers repo (about 46 KB with two shards).

    Contains ``.gitattributes``, ``config.json``, ``README.md``, a ``tokenizer.json`` just
    over 10 KiB (LFS by size, not by name), ``model-0000K-of-0000N.safetensors`` shards, a
    correct ``model.safetensors.index.json``, a nested ``sub/dir/extra.txt`` and ``词表.txt``.
    """
    tensors = _model_tensors(n_layers or n_shards, hidden, vocab)
    names = list(tensors)
    lfs_rule = " filter=lfs diff=lfs merge=lfs -text\n"
    lfs_rules = "".join(p + lfs_rule for p in ("*.bin", "*.safetensors", "tokenizer.json"))
    files: dict[str, bytes] = {
        ".gitattributes": lfs_rules.encode(),
        "README.md": b"---\nlicense: apache-2.0\nlibrary_name: transformers\n---\n\n# Tiny test model\n",
        "sub/dir/extra.txt": b"A nested file.\n",
        "词表.txt": "词\n表\n".encode(),
    }
    config = {"architectures": ["LlamaForCausalLM"], "hidden_size": hidden, "model_type": "llama"}
    config |= {"num_hidden_layers": n_layers or n_shards, "torch_dtype": "float32", "vocab_size": vocab}
    files["config.json"] = (json.dumps(config, indent=2, sort_keys=True) + "\n").encode()
    vocab_map = {f"token_{i:04d}": i for i in range(450)}
    tokenizer = {"version": "1.0", "model": {"type": "WordLevel", "vocab": vocab_map, "unk_token": "[UNK]"}}
    files["tokenizer.json"] = json.dumps(tokenizer, indent=2).encode()
    weight_map: dict[str, str] = {}
    for k in range(n_shards):
        shard_names = names[k * len(names) // n_shards : (k + 1) * len(names) // n_shards]
        filename = f"model-{k + 1:05d}-of-{n_shards:05d}.safetensors"
        files[filename] = make_safetensors({n: tensors[n] for n in shard_names}, seed, {"format": "pt"})
        weight_map |= dict.fromkeys(shard_names, filename)
    total_size = sum(tensor_nbytes(*spec) for spec in tensors.values())
    index = {"metadata": {"total_size": total_size}, "weight_map": weight_map}
    files["model.safetensors.index.json"] = (json.dumps(index, indent=2, sort_keys=True) + "\n").encode()
    return files


class SilentTqdm(hf_tqdm):
    """huggingface_hub's tqdm, always disabled: keeps test output clean without global state."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs["disable"] = True
        super().__init__(*args, **kwargs)  # type: ignore[no-untyped-call]


def download_cache(
    hub: StandinHub,
    cache_dir: str | Path,
    repo_id: str,
    revision: str = "main",
    repo_type: str = "model",
    **kw: Any,
) -> str:
    """``snapshot_download`` from the stand-in hub into ``cache_dir``; returns the snapshot path.

    ``endpoint`` and ``token=False`` are always explicit: huggingface_hub reads ``HF_ENDPOINT``
    only at import time, and must never send a real token.
    """
    kw.setdefault("max_workers", 4)
    kw.setdefault("tqdm_class", SilentTqdm)
    path = snapshot_download(
        repo_id,
        repo_type=repo_type,
        revision=revision,
        cache_dir=cache_dir,
        endpoint=hub.url,
        token=False,
        **kw,
    )
    assert isinstance(path, str)
    return path


@dataclass(frozen=True)
class CachedRepo:
    """A repo downloaded into a real cache, with the bytes it was made from."""

    hub: StandinHub
    cache_dir: Path
    repo_id: str
    repo_type: str
    commit: str
    files: Mapping[str, bytes]

    @property
    def repo_folder(self) -> Path:
        return self.cache_dir / repo_folder_name(repo_id=self.repo_id, repo_type=self.repo_type)

    @property
    def snapshot(self) -> Path:
        return self.repo_folder / "snapshots" / self.commit

    def blob(self, filename: str) -> Path:
        """``blobs/<etag>`` of a file: named by sha256 for LFS files, git sha1 otherwise."""
        etag = self.hub.resolve(self.repo_id, self.commit, repo_type=self.repo_type).files[filename].etag
        return self.repo_folder / "blobs" / etag


def publish_sharded_model(hub: StandinHub, repo_id: str = SHARDED_REPO_ID, **kw: Any) -> str:
    """Commit ``sharded_model_files(**kw)`` to ``repo_id`` on ``main``; returns the commit sha."""
    return hub.add_commit(repo_id, sharded_model_files(**kw))


def cache_repo(
    hub: StandinHub, cache_dir: str | Path, repo_id: str, revision: str = "main", repo_type: str = "model"
) -> CachedRepo:
    """Download an existing hub repo into ``cache_dir`` and describe the result."""
    commit = hub.resolve(repo_id, revision, repo_type=repo_type)
    download_cache(hub, cache_dir, repo_id, revision, repo_type)
    files = {path: f.data for path, f in commit.files.items()}
    return CachedRepo(hub, Path(cache_dir).resolve(), repo_id, repo_type, commit.sha, files)


def tree_listing(hub: StandinHub, repo_id: str, commit: str, repo_type: str = "model") -> dict[str, Any]:
    """The ``trees/<commit>.json`` document a recent client writes for ``commit``, from the hub's data.

    Documented format: ``{"format_version": 1, "files": {path: {"size", "blob_id", "lfs_sha256"?,
    "lfs_size"?}}}`` (no ``xet_hash``: the stand-in hub serves no Xet downloads).
    """
    files: dict[str, dict[str, object]] = {}
    for path, f in sorted(hub.resolve(repo_id, commit, repo_type=repo_type).files.items()):
        files[path] = {"size": len(f.data), "blob_id": f.oid}
        if f.lfs:
            files[path] |= {"lfs_sha256": f.sha256, "lfs_size": len(f.data)}
    return {"format_version": 1, "files": files}


def with_tree_listing(c: CachedRepo) -> CachedRepo:
    """``c`` with the tree listing of its commit, which hfcache trusts to know what belongs where.

    Recent clients (``HAS_TREES``: 2.x and late 1.x) wrote it while downloading; older ones write
    none, so it is written here from what the stand-in hub knows, as a recent client would have
    (``test_standin_hub`` checks that the two agree byte for byte).  Use it for tests about what
    hfcache does *with* a listing.
    """
    path = c.repo_folder / "trees" / f"{c.commit}.json"
    if not path.exists():
        path.parent.mkdir(exist_ok=True)
        document = tree_listing(c.hub, c.repo_id, c.commit, c.repo_type)
        path.write_text(json.dumps(document, indent=1), encoding="utf-8")
    return c


@dataclass(frozen=True)
class SharedBlob:
    """One repo blob moved into the cache-wide store; ``repo_blob`` is now a symlink to ``store_path``."""

    etag: str
    xet_hash: str
    size: int
    repo_blob: Path
    store_path: Path


def move_lfs_blobs_to_shared_store(cache_dir: str | Path, repo_folder: str | Path) -> list[SharedBlob]:
    """Make a downloaded repo look as if its LFS files had come through Xet with the shared store.

    Every regular ``blobs/<sha256>`` file of an LFS entry is published with huggingface_hub's
    ``publish_blob_to_shared_store`` (which creates and marks ``<cache>/blobs``) under the Xet
    hash hf_xet computes, and that hash is added to the matching entries of every
    ``trees/<commit>.json``, as a real Xet download records it.  Needs a client with the store
    (``requires_shared_store``).
    """
    if not (HAS_SHARED_STORE and HAS_TREES):
        raise RuntimeError(f"huggingface_hub {VERSION} has no shared blob store")
    import hf_xet

    cache = Path(cache_dir).resolve()
    repo = (cache / repo_folder).resolve()
    trees = {
        p.stem: read_tree_cache(str(repo), p.stem) or {} for p in sorted((repo / "trees").glob("*.json"))
    }
    etags = {e.lfs_sha256 for entries in trees.values() for e in entries.values() if e.lfs_sha256}
    blobs = [repo / "blobs" / etag for etag in sorted(etags)]
    blobs = [b for b in blobs if b.is_file() and not b.is_symlink()]
    moved: list[SharedBlob] = []
    for blob, info in zip(blobs, hf_xet.hash_files([str(b) for b in blobs]) if blobs else [], strict=True):
        size, xet_hash = info.file_size, info.hash
        if not publish_blob_to_shared_store(
            blob_path=str(blob), xet_hash=xet_hash, cache_dir=cache, expected_size=size
        ):
            raise RuntimeError(f"huggingface_hub refused to publish {blob} to the shared store")
        moved.append(SharedBlob(blob.name, xet_hash, size, blob, shared_blob_path(cache, xet_hash)))
    xet = {m.etag: m.xet_hash for m in moved}
    for commit, entries in trees.items():
        updated = {
            p: replace(e, xet_hash=xet[e.lfs_sha256]) if e.lfs_sha256 in xet else e
            for p, e in entries.items()
        }
        write_tree_cache(str(repo), commit, updated)
    return moved


def isolate_hf_env(
    monkeypatch: pytest.MonkeyPatch, home: Path, *, hub_cache: Path | None = None, endpoint: str | None = None
) -> Path:
    """Point every huggingface_hub location at ``home`` and drop tokens and offline switches.

    Both the environment (for hfcache and subprocesses) and huggingface_hub's import-time
    constants are patched.  Returns the hub cache directory (``home/hub`` by default).
    """
    hub_cache = hub_cache or home / "hub"
    paths = {"HF_HOME": home, "HF_HUB_CACHE": hub_cache, "HUGGINGFACE_HUB_CACHE": hub_cache}
    paths |= {"HF_ASSETS_CACHE": home / "assets", "HUGGINGFACE_ASSETS_CACHE": home / "assets"}
    paths |= {"HF_XET_CACHE": home / "xet", "HF_TOKEN_PATH": home / "token"}
    paths |= {"HF_STORED_TOKENS_PATH": home / "stored_tokens", "AGENT_HARNESSES_PATH": home / "agents.json"}
    paths |= {"CHECK_FOR_UPDATE_DONE_PATH": home / "upd", "CHECK_FOR_SKILL_UPDATE_DONE_PATH": home / "skill"}
    for name, path in paths.items():
        _set_if_present(monkeypatch, constants, name, str(path))
        if not name.endswith("_PATH") or name == "HF_TOKEN_PATH":
            monkeypatch.setenv(name, str(path))
    for module in (_cache_manager, file_download, _snapshot_download):  # import-time copies
        _set_if_present(monkeypatch, module, "HF_HUB_CACHE", str(hub_cache))
    _set_if_present(monkeypatch, _cache_assets, "HF_ASSETS_CACHE", str(home / "assets"))
    monkeypatch.setenv("HF_XET_LOG_DEST", f"{home / 'xet' / 'logs'}{os.sep}")  # read once, at hf_xet's init
    for name in ("HF_HUB_DISABLE_TELEMETRY", "HF_HUB_DISABLE_IMPLICIT_TOKEN", "HF_HUB_DISABLE_UPDATE_CHECK"):
        monkeypatch.setenv(name, "1")
        _set_if_present(monkeypatch, constants, name, True)
    for name in (
        "HF_HUB_OFFLINE",
        "HF_HUB_DISABLE_XET",
        "HF_HUB_DISABLE_SHARED_BLOBS",
        "HF_HUB_DISABLE_SYMLINKS",
    ):
        monkeypatch.delenv(name, raising=False)
        _set_if_present(monkeypatch, constants, name, False)
    for name in ("HF_TOKEN", "HUGGING_FACE_HUB_TOKEN", "TRANSFORMERS_OFFLINE", "HF_ENDPOINT"):
        monkeypatch.delenv(name, raising=False)
    if endpoint is not None:
        monkeypatch.setenv("HF_ENDPOINT", endpoint)  # for hfcache; huggingface_hub read it at import
    if _detect_agent is not None:
        # The User-Agent builder fetches an agent registry from constants.ENDPOINT (huggingface.co),
        # ignoring `endpoint=`: pretend it was already loaded, and empty.
        monkeypatch.setattr(_detect_agent, "_registry", {"standardEnvVars": [], "harnesses": {}})
    for name in ("NO_PROXY", "no_proxy"):  # never send loopback requests through a proxy
        monkeypatch.setenv(name, ",".join(filter(None, ["127.0.0.1,localhost", os.environ.get(name)])))
    _reset_http_client()  # the next shared client is built from the environment above
    return hub_cache


def _set_if_present(monkeypatch: pytest.MonkeyPatch, module: ModuleType, name: str, value: object) -> None:
    """Patch ``module.name`` where this huggingface_hub release has it (constants come and go)."""
    if hasattr(module, name):
        monkeypatch.setattr(module, name, value)


def _reset_http_client() -> None:
    """Drop huggingface_hub's shared HTTP client: ``close_session`` (httpx, 1.x on) or
    ``reset_sessions`` (requests, 0.x)."""
    close = getattr(huggingface_hub, "close_session", None)
    if close is None:
        from huggingface_hub.utils import reset_sessions as close
    close()


def cache_two_revisions(hub: StandinHub, cache_dir: Path) -> tuple[CachedRepo, CachedRepo]:
    """A new repo with two commits (the second changes only README.md), both cached, with listings."""
    repo_id = hub.unique_repo_id()
    files = sharded_model_files()
    first = hub.add_commit(repo_id, files)
    second = hub.add_commit(repo_id, {**files, "README.md": b"# v2\n"})
    c1 = with_tree_listing(cache_repo(hub, cache_dir, repo_id, revision=first))
    c2 = with_tree_listing(cache_repo(hub, cache_dir, repo_id, revision=second))
    return c1, c2
