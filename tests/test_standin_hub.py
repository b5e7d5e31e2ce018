"""The stand-in Hub yields genuine caches: proven with huggingface_hub's own readers."""

from __future__ import annotations

import hashlib
import itertools
import json
import os
import shutil
import socket
import struct
import subprocess
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from builders import (
    HAS_SHARED_STORE,
    HAS_TREES,
    SHARDED_REPO_ID,
    VERSION,
    CachedRepo,
    cache_repo,
    make_safetensors,
    move_lfs_blobs_to_shared_store,
    requires_shared_store,
    requires_trees,
    sharded_model_files,
    tensor_nbytes,
    tree_listing,
)
from huggingface_hub import (
    HfApi,
    constants,
    get_hf_file_metadata,
    get_token,
    hf_hub_download,
    hf_hub_url,
    scan_cache_dir,
)
from huggingface_hub.hf_api import RepoFile, RepoFolder
from huggingface_hub.utils import EntryNotFoundError, RepositoryNotFoundError, RevisionNotFoundError
from standin_hub import StandinHub, git_blob_sha1, lfs_pointer

try:
    from huggingface_hub.errors import RemoteEntryNotFoundError
except ImportError:  # before 1.0 the HTTP 404 of a missing entry was EntryNotFoundError itself
    RemoteEntryNotFoundError = EntryNotFoundError
if HAS_SHARED_STORE:
    from huggingface_hub.utils._shared_blobs import is_shared_blobs_dir, shared_blob_path


def read_offline(repo: CachedRepo, filename: str, revision: str = "main") -> bytes:
    """Read a file the way a library would once offline: huggingface_hub's own cache lookup."""
    path = hf_hub_download(
        repo.repo_id,
        filename,
        repo_type=repo.repo_type,
        revision=revision,
        cache_dir=repo.cache_dir,
        local_files_only=True,
    )
    return Path(path).read_bytes()


def assert_clean_scan(cache_dir: Path) -> None:
    """huggingface_hub's scan has no complaint, and no download was left half-done."""
    info = scan_cache_dir(cache_dir)
    assert info.warnings == []
    assert getattr(info, "incomplete_files", frozenset()) == frozenset()  # reported by recent clients only
    assert list(cache_dir.glob("*/blobs/*.incomplete")) == []


def test_snapshot_download_gives_a_cache_huggingface_hub_reads_offline(
    fresh_cache: CachedRepo, hub: StandinHub
) -> None:
    assert_clean_scan(fresh_cache.cache_dir)
    (repo,) = scan_cache_dir(fresh_cache.cache_dir).repos
    (revision,) = repo.revisions
    assert (repo.repo_id, revision.commit_hash) == (SHARDED_REPO_ID, fresh_cache.commit)
    assert revision.refs == {"main"}
    assert revision.nb_files == len(fresh_cache.files)
    hub.clear_requests()
    for filename, data in fresh_cache.files.items():
        assert read_offline(fresh_cache, filename) == data
        assert (fresh_cache.snapshot / filename).read_bytes() == data
    assert hub.requests == []


def test_refs_and_blob_names_follow_the_layout(fresh_cache: CachedRepo, hub: StandinHub) -> None:
    folder = fresh_cache.repo_folder
    assert (folder / "refs" / "main").read_bytes() == fresh_cache.commit.encode()
    assert len(fresh_cache.commit) == 40
    assert (folder / "trees").is_dir() == HAS_TREES  # what `requires_trees` and `with_tree_listing` assume
    hub_files = hub.resolve(SHARDED_REPO_ID, fresh_cache.commit).files
    assert {p for p, f in hub_files.items() if f.lfs} == {
        "model-00001-of-00002.safetensors",
        "model-00002-of-00002.safetensors",
        "tokenizer.json",  # LFS by size (> 10 KiB), not by name
    }
    assert sorted(os.listdir(folder / "blobs")) == sorted(f.etag for f in hub_files.values())
    for path, data in fresh_cache.files.items():
        blob = fresh_cache.blob(path)
        assert blob.name == (hub_files[path].sha256 if hub_files[path].lfs else git_blob_sha1(data))
        link = os.readlink(fresh_cache.snapshot / path)
        assert link == "../" * (path.count("/") + 2) + f"blobs/{blob.name}"
        assert blob.is_file() and not blob.is_symlink() and blob.read_bytes() == data


@requires_trees
def test_tree_listing_is_written_by_the_client(fresh_cache: CachedRepo, hub: StandinHub) -> None:
    """The client's ``trees/<commit>.json`` holds the hub's metadata, and is byte for byte what
    ``with_tree_listing`` writes for older clients from the same metadata."""
    written = fresh_cache.repo_folder / "trees" / f"{fresh_cache.commit}.json"
    tree = json.loads(written.read_text(encoding="utf-8"))
    hub_files = hub.resolve(SHARDED_REPO_ID, fresh_cache.commit).files
    assert tree["format_version"] == 1 and set(tree["files"]) == set(fresh_cache.files)
    for path, entry in tree["files"].items():
        f = hub_files[path]
        assert (entry["size"], entry["blob_id"]) == (len(f.data), f.oid)
        assert entry.get("lfs_sha256") == (f.sha256 if f.lfs else None)
        assert entry.get("lfs_size") == (len(f.data) if f.lfs else None)
        assert "xet_hash" not in entry
    ours = json.dumps(tree_listing(hub, SHARDED_REPO_ID, fresh_cache.commit), indent=1)
    assert written.read_text(encoding="utf-8") == ours


def test_nested_and_non_ascii_paths(fresh_cache: CachedRepo) -> None:
    assert read_offline(fresh_cache, "sub/dir/extra.txt") == b"A nested file.\n"
    assert read_offline(fresh_cache, "词表.txt") == "词\n表\n".encode()
    assert (fresh_cache.snapshot / "sub" / "dir" / "extra.txt").is_symlink()


def test_missing_file_is_remembered_in_no_exist(fresh_cache: CachedRepo, hub: StandinHub) -> None:
    with pytest.raises(EntryNotFoundError):
        hf_hub_download(SHARDED_REPO_ID, "no/such.txt", cache_dir=fresh_cache.cache_dir, endpoint=hub.url)
    marker = fresh_cache.repo_folder / ".no_exist" / fresh_cache.commit / "no" / "such.txt"
    assert marker.is_file() and marker.stat().st_size == 0
    assert_clean_scan(fresh_cache.cache_dir)


@pytest.mark.parametrize("repo_type", ["dataset", "space"])
def test_dataset_and_space_repos(hub: StandinHub, tmp_path: Path, hf_env: Path, repo_type: str) -> None:
    repo_id = hub.unique_repo_id()
    hub.add_commit(repo_id, {"data/train.csv": b"a,b\n1,2\n", "blob.bin": b"\0" * 64}, repo_type=repo_type)
    cached = cache_repo(hub, tmp_path / "hub", repo_id, repo_type=repo_type)
    assert cached.repo_folder.name == f"{repo_type}s--{repo_id.replace('/', '--')}"
    assert_clean_scan(cached.cache_dir)
    for filename, data in cached.files.items():
        assert read_offline(cached, filename) == data


def test_pr_and_tag_revisions(hub: StandinHub, tmp_path: Path, hf_env: Path) -> None:
    repo_id = hub.unique_repo_id()
    main = hub.add_commit(repo_id, {"config.json": b"{}"})
    pr = hub.add_commit(repo_id, {"config.json": b'{"pr": 1}'}, branch="refs/pr/1", parent=main)
    hub.add_ref(repo_id, "v1.0", main)
    pr_cache = cache_repo(hub, tmp_path / "hub", repo_id, revision="refs/pr/1")
    cache_repo(hub, tmp_path / "hub", repo_id, revision="v1.0")
    assert pr_cache.commit == pr
    assert (pr_cache.repo_folder / "refs" / "refs" / "pr" / "1").read_text() == pr
    assert (pr_cache.repo_folder / "refs" / "v1.0").read_text() == main
    assert read_offline(pr_cache, "config.json", revision="refs/pr/1") == b'{"pr": 1}'
    assert read_offline(pr_cache, "config.json", revision="v1.0") == b"{}"
    (repo,) = scan_cache_dir(pr_cache.cache_dir).repos
    assert {r.commit_hash: r.refs for r in repo.revisions} == {pr: {"refs/pr/1"}, main: {"v1.0"}}


def test_two_revisions_share_blobs(hub: StandinHub, tmp_path: Path, hf_env: Path) -> None:
    repo_id = hub.unique_repo_id()
    files = sharded_model_files()
    old = hub.add_commit(repo_id, files)
    first = cache_repo(hub, tmp_path / "hub", repo_id)
    new = hub.add_commit(repo_id, {**files, "config.json": b'{"changed": true}\n'})
    hub.clear_requests()
    second = cache_repo(hub, tmp_path / "hub", repo_id)
    assert (first.commit, second.commit) == (old, new)
    gets = [r.path for r in hub.requests if r.method == "GET" and "/api/" not in r.path]
    assert [p.rsplit("/", 1)[-1] for p in gets] == ["config.json"]  # everything else is reused
    assert len(os.listdir(first.repo_folder / "blobs")) == len(files) + 1
    for path in files:
        same = (first.snapshot / path).resolve() == (second.snapshot / path).resolve()
        assert same == (path != "config.json")
    assert_clean_scan(first.cache_dir)
    (repo,) = scan_cache_dir(first.cache_dir).repos
    assert repo.size_on_disk == sum(len(d) for d in files.values()) + len(b'{"changed": true}\n')


@requires_shared_store
def test_shared_store_builder(fresh_cache: CachedRepo, hub: StandinHub) -> None:
    cache = fresh_cache.cache_dir
    moved = move_lfs_blobs_to_shared_store(cache, fresh_cache.repo_folder.name)
    hub_files = hub.resolve(SHARDED_REPO_ID, fresh_cache.commit).files
    lfs = {f.sha256: f for f in hub_files.values() if f.lfs}
    assert {m.etag for m in moved} == set(lfs)
    assert is_shared_blobs_dir(cache / "blobs")
    for m in moved:
        assert m.xet_hash == hub.xet_hash(lfs[m.etag].data)  # both computed by hf_xet
        assert m.store_path == shared_blob_path(cache, m.xet_hash)
        assert m.store_path == cache / "blobs" / m.xet_hash[:2] / m.xet_hash
        link = os.readlink(m.repo_blob)
        assert not os.path.isabs(link) and (m.repo_blob.parent / link).resolve() == m.store_path
        assert m.store_path.is_file() and not m.store_path.is_symlink()
        manifest = m.store_path.with_name(f"{m.xet_hash}.refs").read_text()
        assert manifest == f"{fresh_cache.repo_folder.name}/blobs/{m.etag}\n"
    tree = json.loads((fresh_cache.repo_folder / "trees" / f"{fresh_cache.commit}.json").read_text())
    xet = {m.etag: m.xet_hash for m in moved}
    for entry in tree["files"].values():
        assert entry.get("xet_hash") == xet.get(entry.get("lfs_sha256", ""))
    assert_clean_scan(cache)
    for path, data in fresh_cache.files.items():
        assert read_offline(fresh_cache, path) == data
    shard = fresh_cache.snapshot / "model-00001-of-00002.safetensors"
    hop = shard.parent / os.readlink(shard)
    assert hop.is_symlink() and not (hop.parent / os.readlink(hop)).is_symlink()  # exactly two hops
    assert move_lfs_blobs_to_shared_store(cache, fresh_cache.repo_folder.name) == []  # idempotent


def test_errors_map_to_huggingface_hub_exceptions(hub: StandinHub, tmp_path: Path, hf_env: Path) -> None:
    api = HfApi(endpoint=hub.url, token=False)
    with pytest.raises(RepositoryNotFoundError):
        api.model_info("nobody/nothing")
    with pytest.raises(RevisionNotFoundError):
        hf_hub_download(SHARDED_REPO_ID, "config.json", revision="nope", cache_dir=tmp_path, endpoint=hub.url)
    with pytest.raises(RemoteEntryNotFoundError):
        list(api.list_repo_tree(SHARDED_REPO_ID, "no/such/dir"))
    with pytest.raises(RepositoryNotFoundError):
        api.dataset_info(SHARDED_REPO_ID)  # right id, wrong type


def test_lfs_metadata_comes_from_the_redirect(hub: StandinHub) -> None:
    main = hub.resolve(SHARDED_REPO_ID, "main")
    shard, config = main.files["model-00002-of-00002.safetensors"], main.files["config.json"]
    hub.clear_requests()
    meta = get_hf_file_metadata(hf_hub_url(SHARDED_REPO_ID, shard.path, endpoint=hub.url), token=False)
    assert (meta.etag, meta.size, meta.commit_hash) == (shard.sha256, len(shard.data), main.sha)
    assert meta.location == f"{hub.cdn_url}/lfs-blobs/{shard.sha256}"
    assert getattr(meta, "xet_file_data", None) is None  # the attribute exists from 0.30 on
    assert [(r.origin, r.method, r.status) for r in hub.requests] == [("hub", "HEAD", 302)]  # not followed
    url = hf_hub_url(SHARDED_REPO_ID, config.path, endpoint=hub.url)
    meta = get_hf_file_metadata(url, token=False)
    assert (meta.etag, meta.size, meta.location) == (config.oid, len(config.data), url)


def test_tree_listing_pagination_and_folders(tmp_path: Path) -> None:
    files = sharded_model_files()
    with StandinHub(tree_page_size=3) as small:
        commit = small.add_commit("org/model", files)
        api = HfApi(endpoint=small.url, token=False)
        items = list(api.list_repo_tree("org/model", recursive=True, expand=True))
        assert {i.path for i in items if isinstance(i, RepoFile)} == set(files)
        assert {(i.path, i.tree_id) for i in items if isinstance(i, RepoFolder)} == {
            (d, small.resolve("org/model", commit).dirs[d]) for d in ("sub", "sub/dir")
        }
        assert len([r for r in small.requests if "/tree/" in r.path]) == -(-len(items) // 3)
        assert [i.path for i in api.list_repo_tree("org/model", "sub")] == ["sub/dir"]
        top = {i.path for i in api.list_repo_tree("org/model", revision=commit[:10])}
        assert top == {p for p in files if "/" not in p} | {"sub"}


@pytest.mark.skipif(
    not hasattr(RepoFile(path="x", size=0, oid="0" * 40), "xet_hash"),
    reason=f"needs Xet hashes read from tree listings: huggingface_hub {VERSION} has no RepoFile.xet_hash",
)
def test_tree_listing_xet_option() -> None:
    pytest.importorskip("hf_xet")
    files = sharded_model_files()
    with StandinHub(xet_hashes=True) as xet:
        xet.add_commit("org/model", files)
        listed = HfApi(endpoint=xet.url, token=False).list_repo_tree("org/model", recursive=True)
        hashes = {i.path: i.xet_hash for i in listed if isinstance(i, RepoFile)}
        assert {p for p, h in hashes.items() if h} == {p for p in files if xet.is_lfs(p, files[p])}
        assert hashes["tokenizer.json"] == xet.xet_hash(files["tokenizer.json"])


def test_range_requests_and_remote_safetensors_metadata(hub: StandinHub) -> None:
    meta = HfApi(endpoint=hub.url, token=False).get_safetensors_metadata(SHARDED_REPO_ID)
    index = json.loads(hub.resolve(SHARDED_REPO_ID, "main").files["model.safetensors.index.json"].data)
    assert meta.sharded and meta.weight_map == index["weight_map"]
    assert meta.metadata == index["metadata"]
    shard = hub.resolve(SHARDED_REPO_ID, "main").files["model-00001-of-00002.safetensors"]
    url = hf_hub_url(SHARDED_REPO_ID, shard.path, endpoint=hub.url)
    ranges = [("bytes=10-", shard.data[10:]), ("bytes=-5", shard.data[-5:]), ("bytes=0-7", shard.data[:8])]
    for header, expected in ranges:
        with urllib.request.urlopen(urllib.request.Request(url, headers={"Range": header})) as response:
            assert (response.status, response.read()) == (206, expected)
    with pytest.raises(urllib.error.HTTPError, match="416"):
        urllib.request.urlopen(urllib.request.Request(url, headers={"Range": f"bytes={len(shard.data)}-"}))


def test_builders_make_valid_safetensors_and_index() -> None:
    files = sharded_model_files()
    assert files == sharded_model_files() and files != sharded_model_files(seed=1)
    assert len(files["tokenizer.json"]) > 10 * 1024 and sum(map(len, files.values())) < 100 * 1024
    index = json.loads(files["model.safetensors.index.json"])
    seen: dict[str, str] = {}
    total = 0
    for name in sorted(set(index["weight_map"].values())):
        data = files[name]
        (n,) = struct.unpack("<Q", data[:8])
        assert n % 8 == 0 and data[8:9] == b"{" and data[8 : 8 + n].rstrip(b" ").endswith(b"}")
        header = json.loads(data[8 : 8 + n])
        assert header.pop("__metadata__") == {"format": "pt"}
        spans = sorted(tuple(t["data_offsets"]) for t in header.values())
        assert spans[0][0] == 0 and spans[-1][1] == len(data) - 8 - n
        assert all(a[1] == b[0] for a, b in itertools.pairwise(spans))
        for tensor, info in header.items():
            begin, end = info["data_offsets"]
            assert end - begin == tensor_nbytes(info["dtype"], info["shape"])
            assert begin % tensor_nbytes(info["dtype"], []) == 0  # aligned like the reference writer
            seen[tensor], total = name, total + end - begin
    assert seen == index["weight_map"] and index["metadata"]["total_size"] == total
    scalar = make_safetensors({"s": ("I64", [])}, metadata={"k": "v"})
    assert json.loads(scalar[8 : 8 + struct.unpack("<Q", scalar[:8])[0]])["s"]["data_offsets"] == [0, 8]


def test_commit_ids_are_real_git_ids(tmp_path: Path) -> None:
    git = shutil.which("git")
    if git is None:
        pytest.skip("git not installed")
    files = {"a.txt": b"a\n", "sub/b.txt": b"b\n", "sub-c.txt": b"c\n", "m.bin": b"\0" * 10}
    sha = StandinHub().add_commit("org/m", files, message="init")
    for path, data in files.items():  # the git working tree holds LFS pointers, not LFS content
        target = tmp_path / path
        target.parent.mkdir(parents=True, exist_ok=True)
        pointer = lfs_pointer(hashlib.sha256(data).hexdigest(), len(data))
        target.write_bytes(pointer if path == "m.bin" else data)
    ident = {"GIT_AUTHOR_NAME": "Standin Hub", "GIT_AUTHOR_EMAIL": "hub@standin.invalid"}
    ident |= {"GIT_COMMITTER_NAME": "Standin Hub", "GIT_COMMITTER_EMAIL": "hub@standin.invalid"}
    ident |= {"GIT_AUTHOR_DATE": "1704067200 +0000", "GIT_COMMITTER_DATE": "1704067200 +0000"}
    env = {**os.environ, **ident, "GIT_CONFIG_GLOBAL": os.devnull, "GIT_CONFIG_NOSYSTEM": "1"}
    for args in (["init", "-q"], ["add", "-A"], ["commit", "-q", "-m", "init"]):
        subprocess.run([git, *args], cwd=tmp_path, env=env, check=True)
    head = subprocess.run([git, "rev-parse", "HEAD"], cwd=tmp_path, env=env, check=True, capture_output=True)
    assert head.stdout.decode().strip() == sha


def test_session_is_hermetic() -> None:
    real_cache = Path.home() / ".cache"
    locations = (constants.HF_HOME, constants.HF_HUB_CACHE, constants.HF_TOKEN_PATH, os.environ["HF_HOME"])
    for location in locations:
        assert not Path(location).is_relative_to(real_cache)
    # A function in recent releases, a constant before.
    offline = getattr(constants, "is_offline_mode", lambda: constants.HF_HUB_OFFLINE)()
    assert get_token() is None and not offline


def test_only_loopback_is_reachable() -> None:
    with pytest.raises(OSError):
        socket.getaddrinfo("huggingface.co", 443)
    with pytest.raises(OSError), socket.socket() as sock:
        sock.connect(("192.0.2.1", 443))
