"""Delta bundles: an offline cache holding v1, its inventory carried out, v2 packed against it,
applied back; against an earlier bundle (one-way); a dataset that grew by shards; a fine-tune
sharing its base's files; and every way a delta's base can be missing, refused with nothing
installed. Real caches (huggingface_hub's downloader against the stand-in hub), the real
command line, the real client loading exact bytes offline."""

from __future__ import annotations

import hashlib
import json
import tarfile
from pathlib import Path

from builders import CachedRepo, cache_repo, sharded_model_files
from checks import loads_exactly
from standin_hub import StandinHub
from test_cli import hfcache

SHARD2 = "model-00002-of-00002.safetensors"


def _v1_v2(hub: StandinHub, laptop: Path, offline: Path) -> tuple[CachedRepo, CachedRepo, CachedRepo]:
    """A repo whose v2 changes one shard and the README; the laptop caches both, the offline
    cache only v1. Returns (laptop v1, laptop v2, offline v1)."""
    repo_id = hub.unique_repo_id("acme/delta")
    files = sharded_model_files()
    v1 = hub.add_commit(repo_id, files)
    changed = bytearray(files[SHARD2])
    changed[-1] ^= 0xFF
    v2 = hub.add_commit(repo_id, {**files, SHARD2: bytes(changed), "README.md": b"# v2\n"})
    return (
        cache_repo(hub, laptop, repo_id, revision=v1),
        cache_repo(hub, laptop, repo_id, revision=v2),
        cache_repo(hub, offline, repo_id, revision=v1),
    )


def _pack(*args: object) -> None:
    run = hfcache("pack", *map(str, args))
    assert run.returncode == 0, run.stderr


def _members(bundle: Path) -> set[str]:
    with tarfile.open(bundle) as tf:
        return {ti.name.rsplit("/", 1)[-1] for ti in tf if "/blobs/" in ti.name}


def _json(run: object) -> dict[str, object]:
    assert getattr(run, "returncode") == 0, getattr(run, "stderr")  # noqa: B009
    return dict(json.loads(getattr(run, "stdout")))  # noqa: B009


def test_v2_against_the_inventory_of_an_offline_v1(hub: StandinHub, tmp_path: Path) -> None:
    laptop, offline = tmp_path / "laptop", tmp_path / "offline"
    _, l2, o1 = _v1_v2(hub, laptop, offline)
    inv = tmp_path / "offline.json"
    assert hfcache("inventory", offline, "-o", inv).returncode == 0
    held = json.loads(inv.read_text())["blobs"]
    doc = _json(hfcache("pack", f"{l2.repo_id}@{l2.commit}", "--cache-dir", laptop,
                        "--exclude-present", inv, "-o", tmp_path / "d.tar", "--json"))  # fmt: skip
    carried = _members(tmp_path / "d.tar")
    assert carried and not carried & set(held)  # none of the blobs the target holds
    assert carried == {hashlib.sha256(l2.files[SHARD2]).hexdigest(), _git(l2.files["README.md"])}
    assert doc["delta"]["blobs_left_out"] == len(set(held) & _etags(l2))  # type: ignore[index]
    run = hfcache("unpack", tmp_path / "d.tar", "--cache-dir", offline, "--json")
    assert _json(run)["findings"] == []
    loads_exactly(CachedRepo(hub, offline, l2.repo_id, "model", l2.commit, l2.files), revision=l2.commit)
    loads_exactly(o1, revision=o1.commit)  # v1 untouched


def _git(data: bytes) -> str:
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


def _etags(c: CachedRepo) -> set[str]:
    return {hashlib.sha256(d).hexdigest() if c.hub.is_lfs(p, d) else _git(d) for p, d in c.files.items()}


def test_a_delta_on_a_cache_without_its_base_installs_nothing(hub: StandinHub, tmp_path: Path) -> None:
    laptop, offline = tmp_path / "laptop", tmp_path / "offline"
    _, l2, _ = _v1_v2(hub, laptop, offline)
    inv = tmp_path / "offline.json"
    hfcache("inventory", offline, "-o", inv)
    _pack(
        f"{l2.repo_id}@{l2.commit}", "--cache-dir", laptop, "--exclude-present", inv, "-o", tmp_path / "d.tar"
    )
    empty = tmp_path / "empty" / "hub"
    run = hfcache("unpack", tmp_path / "d.tar", "--cache-dir", empty)
    assert run.returncode == 2 and run.stderr.count("\n") == 1, run.stderr
    assert "delta" in run.stderr and "offline.json" in run.stderr and "config.json" in run.stderr
    assert not any(empty.rglob("*")) if empty.exists() else True
    check = hfcache("unpack", "--check", tmp_path / "d.tar", "--cache-dir", empty)
    assert check.returncode == 2 and "delta" in check.stderr


def test_a_corrupt_base_blob_is_not_trusted(hub: StandinHub, tmp_path: Path) -> None:
    laptop, offline = tmp_path / "laptop", tmp_path / "offline"
    _, l2, o1 = _v1_v2(hub, laptop, offline)
    inv = tmp_path / "offline.json"
    hfcache("inventory", offline, "-o", inv)
    _pack(
        f"{l2.repo_id}@{l2.commit}", "--cache-dir", laptop, "--exclude-present", inv, "-o", tmp_path / "d.tar"
    )
    shard1 = o1.blob("model-00001-of-00002.safetensors")
    data = bytearray(shard1.read_bytes())
    data[-1] ^= 1
    shard1.write_bytes(bytes(data))
    before = sorted(p.name for p in o1.repo_folder.rglob("*"))
    run = hfcache("unpack", tmp_path / "d.tar", "--cache-dir", offline)
    assert run.returncode == 2 and "model-00001-of-00002.safetensors" in run.stderr, run.stderr
    assert sorted(p.name for p in o1.repo_folder.rglob("*")) == before


def test_one_way_against_an_earlier_bundle(hub: StandinHub, tmp_path: Path) -> None:
    """Nothing comes back from the offline side: v2 is packed against the bundle that carried v1."""
    laptop = tmp_path / "laptop"
    l1, l2, _ = _v1_v2(hub, laptop, tmp_path / "unused")
    b1, d2 = tmp_path / "v1.tar", tmp_path / "v2-delta.tar"
    assert hfcache("pack", f"{l1.repo_id}@{l1.commit}", "--cache-dir", laptop, "-o", b1).returncode == 0
    doc = _json(hfcache("pack", f"{l2.repo_id}@{l2.commit}", "--cache-dir", laptop,
                        "--exclude-present", b1, "-o", d2, "--json"))  # fmt: skip
    assert doc["delta"]["against"] == "the bundle v1.tar"  # type: ignore[index]
    assert _members(d2) == {hashlib.sha256(l2.files[SHARD2]).hexdigest(), _git(l2.files["README.md"])}
    target = tmp_path / "server" / "hub"
    assert hfcache("unpack", b1, "--cache-dir", target).returncode == 0
    check = hfcache("unpack", "--check", d2, "--cache-dir", target)
    assert check.returncode == 0, check.stderr
    assert hfcache("unpack", d2, "--cache-dir", target).returncode == 0
    for c in (l1, l2):
        loads_exactly(CachedRepo(hub, target, c.repo_id, "model", c.commit, c.files), revision=c.commit)


def test_a_dataset_that_grew_by_shards(hub: StandinHub, tmp_path: Path) -> None:
    ds = hub.unique_repo_id("acme/grows")
    shards = {f"data/train-{i:05d}.parquet": bytes([i]) * (64 << 10) for i in range(6)}
    v1 = hub.add_commit(ds, {"README.md": b"# data\n", **dict(list(shards.items())[:4])}, repo_type="dataset")
    v2 = hub.add_commit(ds, {"README.md": b"# data\n", **shards}, repo_type="dataset")
    laptop, offline = tmp_path / "laptop", tmp_path / "offline"
    cache_repo(hub, offline, ds, revision=v1, repo_type="dataset")
    c2 = cache_repo(hub, laptop, ds, revision=v2, repo_type="dataset")
    inv = tmp_path / "offline.json"
    hfcache("inventory", offline, "-o", inv)
    _pack(f"datasets/{ds}@{v2}", "--cache-dir", laptop, "--exclude-present", inv, "-o", tmp_path / "d.tar")
    assert len(_members(tmp_path / "d.tar")) == 2  # the two new shards only
    assert hfcache("unpack", tmp_path / "d.tar", "--cache-dir", offline).returncode == 0
    loads_exactly(CachedRepo(hub, offline, ds, "dataset", v2, c2.files), revision=v2)


def test_a_fine_tune_takes_its_base_files_from_another_repo(hub: StandinHub, tmp_path: Path) -> None:
    base_id, tuned_id = hub.unique_repo_id("acme/base"), hub.unique_repo_id("acme/tuned")
    files = sharded_model_files()
    hub.add_commit(base_id, files)
    tuned = {**files, SHARD2: files[SHARD2][:-1] + b"\x01"}
    hub.add_commit(tuned_id, tuned)
    laptop, offline = tmp_path / "laptop", tmp_path / "offline"
    cache_repo(hub, offline, base_id)
    t = cache_repo(hub, laptop, tuned_id)
    inv = tmp_path / "offline.json"
    hfcache("inventory", offline, "-o", inv)
    _pack(tuned_id, "--cache-dir", laptop, "--exclude-present", inv, "-o", tmp_path / "d.tar")
    assert _members(tmp_path / "d.tar") == {hashlib.sha256(tuned[SHARD2]).hexdigest()}
    run = hfcache("unpack", tmp_path / "d.tar", "--cache-dir", offline)
    assert run.returncode == 0, run.stderr
    loads_exactly(CachedRepo(hub, offline, tuned_id, "model", t.commit, t.files))


def test_a_delta_into_a_plain_folder_holding_v1(hub: StandinHub, tmp_path: Path) -> None:
    laptop = tmp_path / "laptop"
    l1, l2, _ = _v1_v2(hub, laptop, tmp_path / "unused")
    b1, d2, plain = tmp_path / "v1.tar", tmp_path / "d2.tar", tmp_path / "models" / "m"
    _pack(f"{l1.repo_id}@{l1.commit}", "--cache-dir", laptop, "-o", b1)
    _pack(f"{l2.repo_id}@{l2.commit}", "--cache-dir", laptop, "--exclude-present", b1, "-o", d2)
    assert hfcache("unpack", d2, "--local-dir", plain).returncode == 2  # nothing there yet
    assert not plain.exists() or not any(p.is_file() for p in plain.rglob("*") if ".hfcache" not in p.parts)
    assert hfcache("unpack", b1, "--local-dir", plain).returncode == 0
    run = hfcache("unpack", d2, "--local-dir", plain)
    assert run.returncode == 0, run.stderr
    for name, data in l2.files.items():
        assert (plain / name).read_bytes() == data, name


def test_a_delta_is_served_only_over_the_cache_that_completes_it(hub: StandinHub, tmp_path: Path) -> None:
    from mirror import request, running

    laptop, offline = tmp_path / "laptop", tmp_path / "offline"
    _, l2, _ = _v1_v2(hub, laptop, offline)
    inv, d2 = tmp_path / "offline.json", tmp_path / "d2.tar"
    hfcache("inventory", offline, "-o", inv)
    _pack(f"{l2.repo_id}@{l2.commit}", "--cache-dir", laptop, "--exclude-present", inv, "-o", d2)
    alone = hfcache("serve", d2, "--port", "0")
    assert alone.returncode == 2 and "delta" in alone.stderr and "offline.json" in alone.stderr, alone.stderr
    with running(d2, offline, state=tmp_path / "state") as m:
        for name in ("config.json", SHARD2):  # one from the cache, one from the delta
            status, _, body = request(f"{m.url}/{l2.repo_id}/resolve/{l2.commit}/{name}")
            assert status == 200 and body == l2.files[name], name
