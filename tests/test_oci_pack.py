"""``pack --format oci`` and ``unpack`` of a layout, through the real command line, real caches
(downloaded by huggingface_hub from the stand-in hub), the real client loading the result
offline, and, where installed, a real registry and skopeo carrying the artifact between them."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import jsonschema
import pytest
from builders import CachedRepo
from checks import loads_exactly
from ocitools import MODEL_CONFIG_SCHEMA, blob, copy_layout, index, tagged
from registry import docker_registry, needs_registry, needs_skopeo, skopeo
from test_cli import hfcache

from hfcache import _hf

SHARD = "model-00002-of-00002.safetensors"


def _pack(c: CachedRepo, out: Path, *extra: str) -> dict[str, object]:
    run = hfcache(
        "pack", c.repo_id, "--format", "oci", "--cache-dir", c.cache_dir, "-o", out, "--json", *extra
    )
    assert run.returncode == 0, run.stderr
    return json.loads(run.stdout)


def test_a_revision_becomes_one_modelpack_artifact(fresh_cache: CachedRepo, tmp_path: Path) -> None:
    c = fresh_cache
    doc = _pack(c, tmp_path / "m.oci")
    layout = tmp_path / "m.oci"
    assert json.loads((layout / "oci-layout").read_text()) == {"imageLayoutVersion": "1.0.0"}
    refs = {d["annotations"]["org.opencontainers.image.ref.name"] for d in index(layout)["manifests"]}
    assert {"main", c.commit} <= refs
    m = tagged(layout, "main")
    assert m["mediaType"] == "application/vnd.oci.image.manifest.v1+json"
    assert m["artifactType"] == "application/vnd.cncf.model.manifest.v1+json"
    assert m["config"]["mediaType"] == "application/vnd.cncf.model.config.v1+json"
    config = json.loads(blob(layout, m["config"]["digest"]))
    jsonschema.validate(config, MODEL_CONFIG_SCHEMA)
    assert config["modelfs"]["diffIds"] == [layer["digest"] for layer in m["layers"]]
    assert m["annotations"]["io.hfcache.repo.id"] == c.repo_id
    assert m["annotations"]["org.opencontainers.image.revision"] == c.commit
    by_path = {layer["annotations"]["org.cncf.model.filepath"]: layer for layer in m["layers"]}
    assert set(by_path) == set(c.files)
    for name, data in c.files.items():
        layer = by_path[name]
        assert layer["annotations"]["org.opencontainers.image.title"] == name
        assert layer["digest"] == "sha256:" + hashlib.sha256(data).hexdigest() and layer["size"] == len(data)
        assert blob(layout, layer["digest"]) == data
        lfs = layer["annotations"]["io.hfcache.file.lfs"] == "true"
        assert layer["annotations"]["io.hfcache.file.etag"] == os.path.basename(
            os.readlink(c.snapshot / name)
        )
        assert lfs == (len(layer["annotations"]["io.hfcache.file.etag"]) == 64)
    assert by_path[SHARD]["mediaType"] == "application/vnd.cncf.model.weight.v1.raw"
    assert by_path["config.json"]["mediaType"] == "application/vnd.cncf.model.weight.config.v1.raw"
    # weights go in by hard links: the very bytes of the cache, not a copy
    shard_blob = layout / "blobs" / "sha256" / by_path[SHARD]["digest"][7:]
    assert os.stat(shard_blob).st_ino == os.stat(c.blob(SHARD)).st_ino
    assert doc["artifacts"][0]["digest"] == index(layout)["manifests"][0]["digest"]  # type: ignore[index]


def test_the_same_revision_gives_the_same_digest(fresh_cache: CachedRepo, tmp_path: Path) -> None:
    a = _pack(fresh_cache, tmp_path / "a.oci")
    b = _pack(fresh_cache, tmp_path / "b.oci")
    assert a["artifacts"][0]["digest"] == b["artifacts"][0]["digest"]  # type: ignore[index]
    assert (tmp_path / "a.oci" / "index.json").read_bytes() == (
        tmp_path / "b.oci" / "index.json"
    ).read_bytes()


def test_a_broken_revision_is_refused_and_nothing_is_written(fresh_cache: CachedRepo, tmp_path: Path) -> None:
    blob_path = fresh_cache.blob(SHARD)
    data = bytearray(blob_path.read_bytes())
    data[-1] ^= 0xFF  # in the tensor bytes, same size: only hashing finds it
    blob_path.write_bytes(bytes(data))
    run = hfcache("pack", fresh_cache.repo_id, "--format", "oci", "--cache-dir", fresh_cache.cache_dir,
                  "-o", tmp_path / "x.oci")  # fmt: skip
    assert run.returncode == 1, run.stderr
    assert "blob-hash-mismatch" in run.stderr and SHARD in run.stderr
    assert not (tmp_path / "x.oci" / "index.json").exists()


def test_bytes_changed_after_a_recorded_hash_are_hashed_again(
    fresh_cache: CachedRepo, tmp_path: Path
) -> None:
    _pack(fresh_cache, tmp_path / "first.oci")  # hashes every blob and records it
    blob_path = fresh_cache.blob(SHARD)
    data = bytearray(blob_path.read_bytes())
    data[-1] ^= 0x01
    blob_path.write_bytes(bytes(data))  # a new mtime: the record no longer vouches for it
    run = hfcache("pack", fresh_cache.repo_id, "--format", "oci", "--cache-dir", fresh_cache.cache_dir,
                  "-o", tmp_path / "second.oci")  # fmt: skip
    assert run.returncode == 1 and "blob-hash-mismatch" in run.stderr


def test_unpack_of_the_layout_rebuilds_the_revision(fresh_cache: CachedRepo, tmp_path: Path) -> None:
    c = fresh_cache
    _pack(c, tmp_path / "m.oci")
    target = tmp_path / "offline" / "hub"
    run = hfcache("unpack", tmp_path / "m.oci", "--cache-dir", target, "--json")
    assert run.returncode == 0, run.stderr
    doc = json.loads(run.stdout)
    assert doc["installed"]["links"] == len(c.files) and doc["findings"] == []
    offline = CachedRepo(c.hub, target, c.repo_id, c.repo_type, c.commit, c.files)
    loads_exactly(offline)
    folder = c.repo_folder.name
    assert sorted(os.listdir(target / folder / "blobs")) == sorted(os.listdir(c.repo_folder / "blobs"))
    assert (target / folder / "refs" / "main").read_text() == c.commit
    if _hf.HAS_TREE_CACHE:  # the listing huggingface_hub would have written, byte for byte in meaning
        listing = json.loads((target / folder / "trees" / f"{c.commit}.json").read_text())
        assert listing["files"] == {name: _listed(c, name) for name in c.files}
    assert hfcache("doctor", target, "--verify").returncode == 0


def _listed(c: CachedRepo, name: str) -> dict[str, object]:
    f = c.hub.resolve(c.repo_id, c.commit).files[name]
    out: dict[str, object] = {"size": len(f.data), "blob_id": f.oid}
    if f.lfs:
        out.update(lfs_sha256=hashlib.sha256(f.data).hexdigest(), lfs_size=len(f.data))
    return out


def test_unpack_into_a_plain_folder_and_check_only(fresh_cache: CachedRepo, tmp_path: Path) -> None:
    _pack(fresh_cache, tmp_path / "m.oci")
    check = hfcache("unpack", "--check", f"oci:{tmp_path / 'm.oci'}:main")
    assert check.returncode == 0 and "artifact OK" in check.stderr + check.stdout
    run = hfcache("unpack", tmp_path / "m.oci", "--local-dir", tmp_path / "plain")
    assert run.returncode == 0, run.stderr
    for name, data in fresh_cache.files.items():
        assert (tmp_path / "plain" / name).read_bytes() == data


@needs_registry
@needs_skopeo
def test_through_a_real_registry_with_skopeo(fresh_cache: CachedRepo, tmp_path: Path) -> None:
    """pack → skopeo copy into docker-registry → skopeo copy out to a layout → unpack → the
    client loads exact bytes offline; the manifest digest survives every hop."""
    c = fresh_cache
    doc = _pack(c, tmp_path / "m.oci")
    digest = doc["artifacts"][0]["digest"]  # type: ignore[index]
    name = doc["artifacts"][0]["name"]  # type: ignore[index]
    with docker_registry(tmp_path / "reg") as host:
        skopeo("copy", "--preserve-digests", "--dest-tls-verify=false",
               f"oci:{tmp_path / 'm.oci'}:main", f"docker://{host}/{name}:main")  # fmt: skip
        skopeo("copy", "--dest-tls-verify=false",
               f"oci:{tmp_path / 'm.oci'}:{c.commit}", f"docker://{host}/{name}:{c.commit}")  # fmt: skip
        raw = skopeo("inspect", "--raw", "--tls-verify=false", f"docker://{host}/{name}:main").stdout
        assert "sha256:" + hashlib.sha256(raw.encode()).hexdigest() == digest
        skopeo("copy", "--src-tls-verify=false", f"docker://{host}/{name}:{c.commit}",
               f"oci:{tmp_path / 'back.oci'}:main")  # fmt: skip
        direct = tmp_path / "direct" / "hub"
        run = hfcache("unpack", f"oci://{host}/{name}:main", "--plain-http", "--cache-dir", direct, "--json")
        assert run.returncode == 0, run.stderr
        loads_exactly(CachedRepo(c.hub, direct, c.repo_id, c.repo_type, c.commit, c.files))
        assert json.loads(run.stdout)["findings"] == []
    assert tagged(tmp_path / "back.oci", "main") == tagged(tmp_path / "m.oci", "main")
    target = tmp_path / "offline" / "hub"
    run = hfcache("unpack", tmp_path / "back.oci", "--cache-dir", target)
    assert run.returncode == 0, run.stderr
    loads_exactly(CachedRepo(c.hub, target, c.repo_id, c.repo_type, c.commit, c.files))


@needs_registry
@needs_skopeo
def test_oras_pulls_the_artifact_from_a_real_registry(fresh_cache: CachedRepo, tmp_path: Path) -> None:
    """oras-py, a real OCI client, pulls what skopeo pushed: every file named by its title."""
    oras_client = pytest.importorskip("oras.client")
    doc = _pack(fresh_cache, tmp_path / "m.oci")
    name = doc["artifacts"][0]["name"]  # type: ignore[index]
    with docker_registry(tmp_path / "reg") as host:
        skopeo(
            "copy",
            "--dest-tls-verify=false",
            f"oci:{tmp_path / 'm.oci'}:main",
            f"docker://{host}/{name}:main",
        )
        client = oras_client.OrasClient(hostname=host, insecure=True)
        client.pull(target=f"{host}/{name}:main", outdir=str(tmp_path / "oras"))
    for file, data in fresh_cache.files.items():
        assert (tmp_path / "oras" / file).read_bytes() == data, file


def test_a_layout_is_added_to_not_replaced(fresh_cache: CachedRepo, tmp_path: Path) -> None:
    layout = tmp_path / "m.oci"
    _pack(fresh_cache, layout)
    mine = copy_layout(layout, tmp_path / "copy.oci")
    (mine / "index.json").write_text(
        json.dumps(
            {
                **index(mine),
                "manifests": [
                    *index(mine)["manifests"],
                    {"mediaType": "x/y", "digest": "sha256:" + "0" * 64, "size": 1},
                ],
            }
        )
    )
    _pack(fresh_cache, mine)
    kinds = [d["mediaType"] for d in index(mine)["manifests"]]
    assert kinds.count("x/y") == 1  # someone else's entry kept; ours replaced, not doubled
    assert len(kinds) == len(index(layout)["manifests"]) + 1


@pytest.mark.parametrize("args", [["-o", "-"], ["--split-size", "1G"], ["--allow-incomplete"]])
def test_bundle_only_options_are_refused(fresh_cache: CachedRepo, tmp_path: Path, args: list[str]) -> None:
    run = hfcache("pack", fresh_cache.repo_id, "--format", "oci", "--cache-dir", fresh_cache.cache_dir, *args,
                  *([] if "-o" in args else ["-o", tmp_path / "x.oci"]))  # fmt: skip
    assert run.returncode == 2 and run.stderr.startswith("hfcache: error: ")


def test_a_layout_read_in_place_is_a_source_of_revisions(fresh_cache: CachedRepo, tmp_path: Path) -> None:
    """The layout answers the same questions as the cache it came from (repos, refs, resolve,
    files), its bytes the blob files: the interface every command reads revisions through."""
    from hfcache.oci.view import LayoutView
    from hfcache.sources import CacheView
    from hfcache.view import Trust

    _pack(fresh_cache, tmp_path / "m.oci")
    oci, cache = LayoutView(str(tmp_path / "m.oci")), CacheView.open(fresh_cache.cache_dir)
    name = cache.repos()[0]
    assert oci.repos() == cache.repos() and oci.refs(name) == cache.refs(name)
    assert oci.resolve(name, fresh_cache.commit[:10]) == fresh_cache.commit
    got, want = oci.revision(name, "main"), cache.revision(name, "main")
    assert set(got.files) == set(want.files) and got.refs == want.refs
    for path, f in got.files.items():
        assert (f.blob_id, f.size, f.lfs) == (
            want.files[path].blob_id,
            want.files[path].size,
            want.files[path].lfs,
        )
        assert f.trust is Trust.SIZE_CHECKED and f.path is not None
        assert Path(f.path).read_bytes() == fresh_cache.files[path]


@pytest.mark.skipif(
    not os.path.isdir("/dev/shm") or os.stat("/dev/shm").st_dev == os.stat(os.path.expanduser("~")).st_dev,
    reason="needs /dev/shm on a file system of its own",
)
def test_across_file_systems_blobs_are_copied_and_hashed(fresh_cache: CachedRepo, tmp_path: Path) -> None:
    """No hard link across file systems: every blob is copied, hashed in the copy's own pass,
    and unpack of that layout copies back (no link either)."""
    import shutil
    import tempfile

    other = Path(tempfile.mkdtemp(dir="/dev/shm"))
    try:
        doc = _pack(fresh_cache, other / "m.oci")
        blobs = doc["blobs"]
        assert blobs["linked"] == 0 and blobs["copied"] == len(set(fresh_cache.files.values()))  # type: ignore[index]
        target = tmp_path / "hub"
        assert hfcache("unpack", other / "m.oci", "--cache-dir", target).returncode == 0
        loads_exactly(
            CachedRepo(
                fresh_cache.hub, target, fresh_cache.repo_id, "model", fresh_cache.commit, fresh_cache.files
            )
        )
    finally:
        shutil.rmtree(other)
