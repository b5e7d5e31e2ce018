"""pack → carry → unpack (or plain tar -xf), judged by huggingface_hub's own offline readers."""

from __future__ import annotations

import io
import json
import os
import shutil
import subprocess
import sys
import tarfile
from pathlib import Path

import damage
import pytest
from builders import (
    CachedRepo,
    cache_repo,
    move_lfs_blobs_to_shared_store,
    requires_shared_store,
    sharded_model_files,
)
from checks import loads_exactly, scan_warnings
from standin_hub import StandinHub

from hfcache.bundle.pack import pack
from hfcache.bundle.unpack import unpack
from hfcache.doctor import diagnose
from hfcache.errors import BundleError, PackRefusedError
from hfcache.findings import Severity

pytestmark = pytest.mark.usefixtures("blob_route")


def moved(c: CachedRepo, cache_dir: Path) -> CachedRepo:
    """The same repo, as found in another cache folder."""
    return CachedRepo(c.hub, cache_dir, c.repo_id, c.repo_type, c.commit, c.files)


def test_pack_unpack_round_trip(fresh_cache: CachedRepo, tmp_path: Path) -> None:
    c = fresh_cache
    result = pack([c.repo_id], str(tmp_path / "b.tar"), cache_dir=str(c.cache_dir))
    assert result.paths == (str(tmp_path / "b.tar"),)
    target = tmp_path / "server" / "hub"
    done = unpack(str(tmp_path / "b.tar"), cache_dir=str(target))
    assert done.installed is not None and done.installed.blobs_written == len(set(c.files.values()))
    there = moved(c, target)
    loads_exactly(there)
    assert scan_warnings(target) == []
    assert diagnose(target, verify_hashes=True).findings == ()
    assert "export HF_HUB_OFFLINE=1" in done.hints()
    assert any(c.repo_id in line and "from_pretrained" in line for line in done.hints())


def test_plain_tar_extract_gives_a_working_cache(fresh_cache: CachedRepo, tmp_path: Path) -> None:
    c = fresh_cache
    pack([c.repo_id], str(tmp_path / "b.tar"), cache_dir=str(c.cache_dir))
    target = tmp_path / "plain"
    target.mkdir()
    subprocess.run(["tar", "-xf", str(tmp_path / "b.tar"), "-C", str(target)], check=True)
    loads_exactly(moved(c, target))
    assert scan_warnings(target) == []
    manifest = json.loads((target / c.repo_folder.name / ".hfcache" / "manifest.json").read_text())
    (repo,) = manifest["repos"]
    assert repo["commit"] == c.commit and repo["refs"] == {"main": c.commit}
    assert {f["path"] for f in repo["files"]} == set(c.files)
    assert all(len(f["sha256"]) == 64 and f["size"] == len(c.files[f["path"]]) for f in repo["files"])
    assert manifest["hfcache_version"] and manifest["created"]


def test_dataset_repo(hub: StandinHub, tmp_path: Path, hf_env: Path) -> None:
    repo_id = hub.unique_repo_id()
    hub.add_commit(
        repo_id, {"data/train.jsonl": b'{"a": 1}\n' * 100, "README.md": b"# d\n"}, repo_type="dataset"
    )
    c = cache_repo(hub, tmp_path / "hub", repo_id, repo_type="dataset")
    pack([repo_id], str(tmp_path / "d.tar"), cache_dir=str(c.cache_dir), repo_type="dataset")
    done = unpack(str(tmp_path / "d.tar"), cache_dir=str(tmp_path / "server"))
    loads_exactly(moved(c, tmp_path / "server"))
    assert any(f'load_dataset(snapshot_download("{repo_id}"' in h for h in done.hints())


def test_two_revisions_share_blobs_on_the_server(hub: StandinHub, tmp_path: Path, hf_env: Path) -> None:
    repo_id = hub.unique_repo_id()
    files = sharded_model_files()
    first = hub.add_commit(repo_id, files)
    second = hub.add_commit(repo_id, {**files, "README.md": b"# v2\n"})
    cache = tmp_path / "hub"
    c1 = cache_repo(hub, cache, repo_id, revision=first)
    c2 = cache_repo(hub, cache, repo_id, revision=second)
    pack([repo_id], str(tmp_path / "v1.tar"), cache_dir=str(cache), revision=first)
    pack([repo_id], str(tmp_path / "v2.tar"), cache_dir=str(cache), revision=second[:10])
    server = tmp_path / "server"
    unpack(str(tmp_path / "v1.tar"), cache_dir=str(server))
    again = unpack(str(tmp_path / "v2.tar"), cache_dir=str(server))
    assert again.installed is not None
    assert again.installed.blobs_written == 1  # only the new README; the rest verified in place
    loads_exactly(moved(c1, server), revision=first)
    loads_exactly(moved(c2, server), revision=second)


def test_include_and_exclude_are_recorded(fresh_cache: CachedRepo, tmp_path: Path) -> None:
    c = fresh_cache
    out = tmp_path / "small.tar"
    result = pack([c.repo_id], str(out), cache_dir=str(c.cache_dir), exclude=["model*"])
    (repo,) = result.manifest.repos
    assert repo.exclude == ["model*"] and not any(f.path.startswith("model") for f in repo.files)
    server = tmp_path / "server"
    unpack(str(out), cache_dir=str(server))
    loads_exactly(moved(c, server), [n for n in c.files if not n.startswith("model")])
    report = diagnose(server)
    assert not report.problems  # excluded files are only notes (not downloaded)


def test_excluding_a_shard_but_keeping_its_index_is_refused(fresh_cache: CachedRepo, tmp_path: Path) -> None:
    c = fresh_cache
    with pytest.raises(PackRefusedError) as info:
        pack([c.repo_id], str(tmp_path / "x.tar"), cache_dir=str(c.cache_dir), exclude=["*00002*"])
    assert {getattr(p, "code", None) for p in info.value.problems} == {"shard-missing"}
    assert not (tmp_path / "x.tar").exists()


def test_incomplete_revision_is_refused_unless_allowed(fresh_cache: CachedRepo, tmp_path: Path) -> None:
    c = fresh_cache
    damage.drop_blob(c, "tokenizer.json")
    with pytest.raises(PackRefusedError) as info:
        pack([c.repo_id], str(tmp_path / "x.tar"), cache_dir=str(c.cache_dir))
    assert [getattr(p, "code", None) for p in info.value.problems] == ["link-missing-blob"]
    assert list(tmp_path.iterdir()) == [tmp_path / "hub"]  # nothing that looks like a bundle
    result = pack([c.repo_id], str(tmp_path / "x.tar"), cache_dir=str(c.cache_dir), allow_incomplete=True)
    (repo,) = result.manifest.repos
    assert repo.allow_incomplete and repo.problems[0]["code"] == "link-missing-blob"
    unpack(str(tmp_path / "x.tar"), cache_dir=str(tmp_path / "server"))
    loads_exactly(moved(c, tmp_path / "server"), [n for n in c.files if n != "tokenizer.json"])


def test_corrupt_source_blob_is_refused_while_streaming(fresh_cache: CachedRepo, tmp_path: Path) -> None:
    c = fresh_cache
    damage.flip_byte(c.blob("model-00001-of-00002.safetensors"))
    with pytest.raises(PackRefusedError) as info:
        pack([c.repo_id], str(tmp_path / "x.tar"), cache_dir=str(c.cache_dir))
    assert [getattr(p, "code", None) for p in info.value.problems] == ["blob-hash-mismatch"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["hub"]


def test_split_volumes_cat_back_to_the_tar(fresh_cache: CachedRepo, tmp_path: Path) -> None:
    c = fresh_cache
    result = pack([c.repo_id], str(tmp_path / "b.tar"), cache_dir=str(c.cache_dir), split_size=16 * 1024)
    assert len(result.paths) > 2 and result.paths[0].endswith(".001")
    joined = b"".join(Path(p).read_bytes() for p in result.paths)
    with tarfile.open(fileobj=io.BytesIO(joined)) as tf:
        assert tf.getnames()
    unpack(result.paths[0], cache_dir=str(tmp_path / "server"))
    loads_exactly(moved(c, tmp_path / "server"))


def test_stdout_to_stdin_pipe(fresh_cache: CachedRepo, tmp_path: Path) -> None:
    c = fresh_cache
    server = tmp_path / "server"
    cmd = f"{sys.executable} -m hfcache pack {c.repo_id} --cache-dir {c.cache_dir} -o - | "
    cmd += f"{sys.executable} -m hfcache unpack - --cache-dir {server}"
    run = subprocess.run(["bash", "-o", "pipefail", "-c", cmd], capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    assert "HF_HUB_OFFLINE=1" in run.stdout
    loads_exactly(moved(c, server))


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs named pipes")
def test_unpack_from_a_named_pipe(fresh_cache: CachedRepo, tmp_path: Path) -> None:
    """As ``hfcache unpack <(ssh host cat b.tar)`` gives it: a path that is a pipe."""
    c = fresh_cache
    pack([c.repo_id], str(tmp_path / "b.tar"), cache_dir=str(c.cache_dir))
    pipe = tmp_path / "pipe"
    os.mkfifo(pipe)
    feeder = subprocess.Popen(["sh", "-c", f'cat "{tmp_path / "b.tar"}" > "{pipe}"'])
    try:
        unpack(str(pipe), cache_dir=str(tmp_path / "server"))
        feeder.wait(timeout=60)
    finally:
        feeder.kill()  # never left blocked on the pipe if unpack stopped before reading it all
    loads_exactly(moved(c, tmp_path / "server"))


@requires_shared_store
def test_shared_store_source_gives_real_bytes(fresh_cache: CachedRepo, tmp_path: Path) -> None:
    c = fresh_cache
    move_lfs_blobs_to_shared_store(c.cache_dir, c.repo_folder)
    pack([c.repo_id], str(tmp_path / "b.tar"), cache_dir=str(c.cache_dir))
    with tarfile.open(tmp_path / "b.tar") as tf:
        blobs = [m for m in tf.getmembers() if "/blobs/" in m.name]
    assert blobs and all(m.isreg() for m in blobs)
    unpack(str(tmp_path / "b.tar"), cache_dir=str(tmp_path / "server"))
    loads_exactly(moved(c, tmp_path / "server"))
    assert not (tmp_path / "server" / "blobs").exists()


def test_windows_style_copy_source_is_packed_in_the_standard_layout(
    fresh_cache: CachedRepo, tmp_path: Path
) -> None:
    c = fresh_cache
    for name in c.files:
        damage.full_copy_without_blob(c, name)
    pack([c.repo_id], str(tmp_path / "b.tar"), cache_dir=str(c.cache_dir))
    target = tmp_path / "plain"
    target.mkdir()
    subprocess.run(["tar", "-xf", str(tmp_path / "b.tar"), "-C", str(target)], check=True)
    loads_exactly(moved(c, target))
    assert all((target / c.repo_folder.name / "snapshots" / c.commit / n).is_symlink() for n in c.files)


def test_unpack_again_is_harmless(fresh_cache: CachedRepo, tmp_path: Path) -> None:
    c = fresh_cache
    pack([c.repo_id], str(tmp_path / "b.tar"), cache_dir=str(c.cache_dir))
    server = tmp_path / "server"
    unpack(str(tmp_path / "b.tar"), cache_dir=str(server))
    second = unpack(str(tmp_path / "b.tar"), cache_dir=str(server))
    assert second.installed is not None
    assert second.installed.blobs_written == 0 and second.installed.quarantined == ()
    loads_exactly(moved(c, server))


def test_local_dir_gets_plain_files(fresh_cache: CachedRepo, tmp_path: Path) -> None:
    c = fresh_cache
    pack([c.repo_id], str(tmp_path / "b.tar"), cache_dir=str(c.cache_dir))
    plain = tmp_path / "model"
    done = unpack(str(tmp_path / "b.tar"), local_dir=str(plain))
    for name, data in c.files.items():
        path = plain / name
        assert path.is_file() and not path.is_symlink() and path.read_bytes() == data
    assert not (plain / ".hfcache").exists()
    assert str(plain) in done.hints()[0]
    assert [f for f in diagnose(plain).findings if f.severity is not Severity.INFO] == []


def test_check_installs_nothing(fresh_cache: CachedRepo, tmp_path: Path) -> None:
    c = fresh_cache
    pack([c.repo_id], str(tmp_path / "b.tar"), cache_dir=str(c.cache_dir))
    result = unpack(str(tmp_path / "b.tar"), check_only=True)
    assert result.installed is None and result.bytes_verified == sum(len(v) for v in set(c.files.values()))
    broken = tmp_path / "broken.tar"
    data = bytearray((tmp_path / "b.tar").read_bytes())
    data[len(data) // 2] ^= 0xFF
    broken.write_bytes(bytes(data))
    with pytest.raises(BundleError):
        unpack(str(broken), check_only=True)


def test_several_repos_in_one_bundle(hub: StandinHub, tmp_path: Path, hf_env: Path) -> None:
    ids = [hub.unique_repo_id(), hub.unique_repo_id()]
    for i, repo_id in enumerate(ids):
        hub.add_commit(repo_id, {"config.json": f'{{"n": {i}}}'.encode(), "w.bin": bytes([i]) * 20000})
    cache = tmp_path / "hub"
    cached = [cache_repo(hub, cache, r) for r in ids]
    pack(ids, str(tmp_path / "two.tar"), cache_dir=str(cache))
    unpack(str(tmp_path / "two.tar"), cache_dir=str(tmp_path / "server"))
    for c in cached:
        loads_exactly(moved(c, tmp_path / "server"))
    shutil.rmtree(tmp_path / "server")
    os.makedirs(tmp_path / "server")
