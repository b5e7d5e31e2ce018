"""Hostile and broken OCI layouts: each refused with one clear line, exit 2, and nothing installed
(the target is not even created). A layout is untrusted input: every path, digest, size, media
type and annotation is checked before a byte reaches the target."""

from __future__ import annotations

import hashlib
import json
import tarfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from ocitools import put_blob, rewrite_manifest, tar_of, write_layout
from test_cli import hfcache

CNCF = "application/vnd.cncf.model."
GOOD = b'{"a": 1}'
ID = {"io.hfcache.repo.id": "acme/m", "io.hfcache.repo.type": "model", "io.hfcache.format": "1",
      "org.opencontainers.image.revision": "1" * 40, "io.hfcache.refs": '["main"]'}  # fmt: skip
CONFIG = {"descriptor": {"name": "acme/m"}, "config": {}, "modelfs": {"type": "layers", "diffIds": ["x"]}}


def _layout(tmp: Path, layers: list[tuple[str, bytes, dict[str, str]]], **kw: Any) -> Path:
    layout = tmp / "bad.oci"
    write_layout(layout, layers, kw.pop("config", CONFIG), annotations=kw.pop("annotations", ID), **kw)
    return layout


def _path(p: str) -> dict[str, str]:
    return {"org.cncf.model.filepath": p}


def _symlink_member() -> tarfile.TarInfo:
    ti = tarfile.TarInfo("evil")
    ti.type, ti.linkname = tarfile.SYMTYPE, "/etc/passwd"
    return ti


def _refused(layout: Path | str, tmp: Path, *words: str, extra: tuple[str, ...] = ()) -> None:
    target = tmp / "target" / "hub"
    run = hfcache("unpack", layout, "--cache-dir", target, *extra)
    assert run.returncode == 2, (run.stdout, run.stderr)
    assert run.stderr.count("\n") == 1 and run.stderr.startswith("hfcache: error: "), run.stderr
    for w in words:
        assert w in run.stderr, run.stderr
    assert not (tmp / "target").exists()  # nothing installed, nothing created


@pytest.mark.parametrize(
    ("path", "why"),
    [("../../etc/cron.d/x", ".."), ("/etc/passwd", "absolute"), ("a/./b", "'.'"), ("a\\..\\b", "backslash"),
     (".git/config", ".git"), ("x\x00y", "control")],
)  # fmt: skip
def test_a_path_that_escapes_the_repo(tmp_path: Path, path: str, why: str) -> None:
    layout = _layout(tmp_path, [(CNCF + "weight.config.v1.raw", GOOD, _path(path))])
    _refused(layout, tmp_path, why)


def test_a_blob_whose_bytes_do_not_match_its_digest(tmp_path: Path) -> None:
    layout = _layout(tmp_path, [(CNCF + "weight.config.v1.raw", GOOD, _path("config.json"))])
    blob = layout / "blobs" / "sha256" / hashlib.sha256(GOOD).hexdigest()
    blob.write_bytes(b'{"a": 2}')  # same size, other bytes
    _refused(layout, tmp_path, "hashes to")


def test_a_blob_shorter_than_its_descriptor(tmp_path: Path) -> None:
    layout = _layout(tmp_path, [(CNCF + "weight.config.v1.raw", GOOD, _path("config.json"))])
    (layout / "blobs" / "sha256" / hashlib.sha256(GOOD).hexdigest()).write_bytes(GOOD[:-1])
    _refused(layout, tmp_path, "descriptor says")


def test_a_missing_blob(tmp_path: Path) -> None:
    layout = _layout(tmp_path, [(CNCF + "weight.config.v1.raw", GOOD, _path("config.json"))])
    (layout / "blobs" / "sha256" / hashlib.sha256(GOOD).hexdigest()).unlink()
    _refused(layout, tmp_path, "not in the layout")


def test_a_huge_manifest(tmp_path: Path) -> None:
    layout = _layout(tmp_path, [(CNCF + "weight.config.v1.raw", GOOD, _path("config.json"))])

    def pad(m: dict[str, Any]) -> bytes:
        m["annotations"]["padding"] = "x" * (9 << 20)
        return json.dumps(m).encode()

    rewrite_manifest(layout, pad)
    _refused(layout, tmp_path, "more than")


@pytest.mark.parametrize(
    "media",
    [
        "application/vnd.oci.image.layer.v1.tar+gzip",
        CNCF + "weight.v2.raw",
        CNCF + "secret.v1.raw",
        "text/plain",
    ],
)
def test_an_unknown_media_type(tmp_path: Path, media: str) -> None:
    layout = _layout(tmp_path, [(media, GOOD, _path("config.json"))])
    _refused(layout, tmp_path, "not a ModelPack model layer")


def test_a_zstd_tar_layer_is_named_not_guessed(tmp_path: Path) -> None:
    layout = _layout(tmp_path, [(CNCF + "weight.v1.tar+zstd", GOOD, _path("w"))])
    _refused(layout, tmp_path, "zstd")


def test_not_a_model(tmp_path: Path) -> None:
    layout = _layout(tmp_path, [(CNCF + "weight.v1.raw", GOOD, _path("w"))],
                     config_type="application/vnd.oci.image.config.v1+json", artifact_type=None)  # fmt: skip
    _refused(layout, tmp_path, "not a ModelPack model")


def test_a_single_file_layer_without_a_path(tmp_path: Path) -> None:
    _refused(_layout(tmp_path, [(CNCF + "weight.v1.raw", GOOD, {})]), tmp_path, "names no path")


def test_two_layers_for_one_path(tmp_path: Path) -> None:
    layers = [(CNCF + "weight.v1.raw", GOOD, _path("w")), (CNCF + "weight.v1.raw", b"other", _path("w"))]
    _refused(_layout(tmp_path, layers), tmp_path, "two layers")


def test_an_etag_annotation_the_bytes_do_not_have(tmp_path: Path) -> None:
    notes = {**_path("config.json"), "io.hfcache.file.etag": "0" * 40, "io.hfcache.file.lfs": "false"}
    _refused(_layout(tmp_path, [(CNCF + "weight.config.v1.raw", GOOD, notes)]), tmp_path, "not the blob")


def test_an_lfs_etag_that_is_not_the_digest(tmp_path: Path) -> None:
    notes = {**_path("w.bin"), "io.hfcache.file.etag": "a" * 64, "io.hfcache.file.lfs": "true"}
    _refused(_layout(tmp_path, [(CNCF + "weight.v1.raw", GOOD, notes)]), tmp_path, "etag")


@pytest.mark.parametrize(
    ("member", "why"),
    [(lambda: tar_of({"../x": GOOD}), ".."), (lambda: tar_of({"/abs": GOOD}), "absolute"),
     (lambda: tar_of({}, extra=[_symlink_member()]), "not a regular file")],
)  # fmt: skip
def test_a_hostile_tar_layer(tmp_path: Path, member: Callable[[], bytes], why: str) -> None:
    layout = _layout(tmp_path, [(CNCF + "weight.v1.tar", member(), {})])
    _refused(layout, tmp_path, why)


def test_a_config_that_is_not_what_its_digest_says(tmp_path: Path) -> None:
    layout = _layout(tmp_path, [(CNCF + "weight.config.v1.raw", GOOD, _path("config.json"))])
    cfg = json.dumps(CONFIG).encode()
    (layout / "blobs" / "sha256" / hashlib.sha256(cfg).hexdigest()).write_bytes(cfg.replace(b"acme", b"evil"))
    _refused(layout, tmp_path, "config")


def test_an_index_naming_a_manifest_by_a_bad_digest(tmp_path: Path) -> None:
    layout = _layout(tmp_path, [(CNCF + "weight.config.v1.raw", GOOD, _path("config.json"))])
    idx = json.loads((layout / "index.json").read_text())
    idx["manifests"][0]["digest"] = "sha256:../../../etc/passwd"
    (layout / "index.json").write_text(json.dumps(idx))
    _refused(layout, tmp_path, "names a manifest")


def test_a_manifest_blob_that_is_not_its_digest(tmp_path: Path) -> None:
    layout = _layout(tmp_path, [(CNCF + "weight.config.v1.raw", GOOD, _path("config.json"))])
    idx = json.loads((layout / "index.json").read_text())
    other = put_blob(layout, b'{"schemaVersion": 2}')
    (layout / "blobs" / "sha256" / idx["manifests"][0]["digest"][7:]).write_bytes(
        (layout / "blobs" / "sha256" / other[7:]).read_bytes()
    )
    _refused(layout, tmp_path, "hash to")


def test_a_bad_repo_id_in_the_annotations(tmp_path: Path) -> None:
    layout = _layout(tmp_path, [(CNCF + "weight.config.v1.raw", GOOD, _path("config.json"))],
                     annotations={**ID, "io.hfcache.repo.id": "../../evil"})  # fmt: skip
    _refused(layout, tmp_path, "cannot be one")


def test_a_bad_repo_id_option(tmp_path: Path) -> None:
    layout = _layout(tmp_path, [(CNCF + "weight.config.v1.raw", GOOD, _path("config.json"))])
    _refused(layout, tmp_path, "--repo-id", extra=("--repo-id", "../x"))
