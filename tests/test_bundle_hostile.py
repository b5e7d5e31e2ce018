"""Hostile and broken bundles: each is refused, nothing is written outside the target, and the
target is left exactly as it was (no half-installed blob, no link to unverified content)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest
from builders import CachedRepo
from bundles import (
    Members,
    file_member,
    link_member,
    read_members,
    special_member,
    tree_listing,
    write_members,
)

from hfcache.bundle.pack import pack
from hfcache.bundle.unpack import unpack
from hfcache.errors import BundleError

pytestmark = pytest.mark.usefixtures("blob_route")
SHARD = "model-00002-of-00002.safetensors"


@pytest.fixture
def bundle(fresh_cache: CachedRepo, tmp_path: Path) -> Path:
    out = tmp_path / "good.tar"
    pack([fresh_cache.repo_id], str(out), cache_dir=str(fresh_cache.cache_dir))
    return out


@pytest.fixture
def target(tmp_path: Path) -> Path:
    """A server cache that already holds something, so 'left as it was' means something."""
    t = tmp_path / "server" / "hub"
    (t / "models--someone--else" / "refs").mkdir(parents=True)
    (t / "models--someone--else" / "refs" / "main").write_text("a" * 40)
    return t


def refused(path: Path, target: Path, outside: Path) -> str:
    before, outside_before = tree_listing(target), tree_listing(outside)
    with pytest.raises(BundleError) as info:
        unpack(str(path), cache_dir=str(target))
    assert tree_listing(target) == before, "the target changed"
    assert tree_listing(outside) == outside_before, "something was written outside the target"
    return str(info.value)


def _folder(members: Members) -> str:
    return members[0][0].name.split("/")[0]


def _commit(members: Members) -> str:
    return next(ti.name.split("/")[2] for ti, _ in members if "/snapshots/" in ti.name)


def test_not_a_tar_at_all(tmp_path: Path, target: Path) -> None:
    junk = tmp_path / "junk.tar"
    junk.write_bytes(os.urandom(10000))
    assert "not a tar" in refused(junk, target, tmp_path / "outside")


def test_a_tar_that_is_not_a_bundle(tmp_path: Path, target: Path) -> None:
    other = write_members(tmp_path / "other.tar", [file_member("models--a--b/blobs/" + "1" * 40, b"x")])
    assert "manifest" in refused(other, target, tmp_path)


@pytest.mark.parametrize("keep", [0.1, 0.5, 0.9])
def test_truncated_anywhere(bundle: Path, tmp_path: Path, target: Path, keep: float) -> None:
    data = bundle.read_bytes()
    cut = tmp_path / "cut.tar"
    cut.write_bytes(data[: int(len(data) * keep)])
    refused(cut, target, tmp_path / "outside")


def test_truncated_inside_the_last_member(bundle: Path, tmp_path: Path, target: Path) -> None:
    with tarfile.open(bundle) as tf:
        last = tf.getmembers()[-1]
    cut = tmp_path / "cut.tar"
    cut.write_bytes(bundle.read_bytes()[: last.offset + 100])
    refused(cut, target, tmp_path / "outside")


def test_missing_end_of_archive_blocks_are_tolerated(bundle: Path, tmp_path: Path) -> None:
    """Like GNU tar: every member arrived and verified; only the trailing zero blocks are gone."""
    with tarfile.open(bundle) as tf:
        last = tf.getmembers()[-1]
    cut = tmp_path / "cut.tar"
    cut.write_bytes(bundle.read_bytes()[: last.offset_data])
    assert unpack(str(cut), check_only=True).bytes_verified > 0


def test_flipped_byte_in_a_blob(bundle: Path, tmp_path: Path, target: Path) -> None:
    members = read_members(bundle)
    i = next(i for i, (ti, _) in enumerate(members) if "/blobs/" in ti.name and ti.size > 1000)
    ti, data = members[i]
    members[i] = (ti, data[:-1] + bytes([data[-1] ^ 1]))
    assert "corrupt" in refused(write_members(tmp_path / "flip.tar", members), target, tmp_path / "outside")


@pytest.mark.parametrize(
    "name",
    [
        "../evil.txt",
        "/tmp/evil.txt",
        "models--a--b/../../evil.txt",
        "models--a--b/blobs/../../../evil.txt",
        "evil",
    ],
)
def test_paths_leading_out(bundle: Path, tmp_path: Path, target: Path, name: str) -> None:
    members = read_members(bundle)
    members.insert(1, file_member(name, b"pwned"))
    refused(write_members(tmp_path / "trav.tar", members), target, tmp_path / "outside")
    assert not (tmp_path / "evil.txt").exists() and not Path("/tmp/evil.txt").exists()


def test_link_leading_out_then_a_file_through_it(bundle: Path, tmp_path: Path, target: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    members = read_members(bundle)
    folder, commit = _folder(members), _commit(members)
    escape = f"{folder}/snapshots/{commit}/escape"
    members.insert(1, link_member(escape, "../../../../../outside"))
    members.insert(2, file_member(f"{escape}/planted.txt", b"pwned"))
    refused(write_members(tmp_path / "link.tar", members), target, outside)
    assert list(outside.iterdir()) == []


def test_absolute_link_target(bundle: Path, tmp_path: Path, target: Path) -> None:
    members = read_members(bundle)
    folder, commit = _folder(members), _commit(members)
    members.append(link_member(f"{folder}/snapshots/{commit}/passwd", "/etc/passwd"))
    refused(write_members(tmp_path / "abs.tar", members), target, tmp_path / "outside")


@pytest.mark.parametrize(
    "kind", [tarfile.CHRTYPE, tarfile.BLKTYPE, tarfile.FIFOTYPE, tarfile.LNKTYPE, tarfile.GNUTYPE_SPARSE]
)
def test_special_members(bundle: Path, tmp_path: Path, target: Path, kind: bytes) -> None:
    """Devices, fifos, hard links and sparse files."""
    members = read_members(bundle)
    folder = _folder(members)
    members.insert(1, special_member(f"{folder}/blobs/{'e' * 40}", kind, linkname="/etc/passwd"))
    message = refused(write_members(tmp_path / "dev.tar", members), target, tmp_path / "outside")
    assert "never accepted" in message


def test_member_the_manifest_does_not_list(bundle: Path, tmp_path: Path, target: Path) -> None:
    members = read_members(bundle)
    folder = _folder(members)
    members.insert(2, file_member(f"{folder}/blobs/{'f' * 40}", b"extra"))
    assert "does not list" in refused(write_members(tmp_path / "extra.tar", members), target, tmp_path)


def test_link_to_a_blob_of_other_content(bundle: Path, tmp_path: Path, target: Path) -> None:
    """A link pointing a file at another listed blob than the manifest says: silently wrong bytes."""
    members = read_members(bundle)
    top = [ti for ti, _ in members if ti.issym() and ti.name.count("/") == 3]
    assert len({ti.linkname for ti in top}) >= 2
    top[0].linkname = next(ti.linkname for ti in top if ti.linkname != top[0].linkname)
    refused(write_members(tmp_path / "swap.tar", members), target, tmp_path / "outside")


def test_missing_member_is_incomplete(bundle: Path, tmp_path: Path, target: Path) -> None:
    members = [m for m in read_members(bundle) if not m[0].issym()]
    assert "incomplete" in refused(write_members(tmp_path / "nolinks.tar", members), target, tmp_path)


def test_one_missing_link_is_named(bundle: Path, tmp_path: Path, target: Path) -> None:
    """The links still due are tracked a revision at a time: one left out is named, not lost."""
    members = read_members(bundle)
    links = [i for i, (ti, _) in enumerate(members) if ti.issym()]
    gone = members.pop(links[len(links) // 2])[0].name.split("/", 3)[3]
    message = refused(write_members(tmp_path / "nolink.tar", members), target, tmp_path)
    assert f"the link of {gone} of" in message and "incomplete" in message


def test_a_link_twice_or_unlisted(bundle: Path, tmp_path: Path, target: Path) -> None:
    members = read_members(bundle)
    link = next((ti, data) for ti, data in members if ti.issym())
    twice = write_members(tmp_path / "twice.tar", [*members, link])
    assert "a link the manifest does not list, or one read before" in refused(twice, target, tmp_path)
    folder, commit = _folder(members), _commit(members)
    other = link_member(f"{folder}/snapshots/{commit}/not-listed.txt", link[0].linkname)
    unlisted = write_members(tmp_path / "unlisted.tar", [*members[:-1], other, members[-1]])
    assert "a link the manifest does not list" in refused(unlisted, target, tmp_path)


def test_a_tree_listing_twice(bundle: Path, tmp_path: Path, target: Path) -> None:
    """Listings are staged on disk as they arrive: a second copy is refused by name, not by a
    clash in the staging folder."""
    members = read_members(bundle)
    tree = next(((ti, data) for ti, data in members if "/trees/" in ti.name), None)
    if tree is None:
        pytest.skip("this huggingface_hub keeps no tree listings")
    twice = write_members(tmp_path / "twice.tar", [*members[:-1], tree, members[-1]])
    assert "appears twice" in refused(twice, target, tmp_path)


def test_a_later_manifest_copy_must_match_the_first(bundle: Path, tmp_path: Path, target: Path) -> None:
    """Bundles of older versions carry the manifest in every repo folder: each copy is checked."""
    members = read_members(bundle)
    ti, data = members[0]
    same = write_members(tmp_path / "same.tar", [*members[:-1], (ti, data), members[-1]])
    unpack(str(same), cache_dir=str(tmp_path / "ok"))
    changed = data.replace(b'"created": "', b'"created": "1', 1)
    assert changed != data
    other = write_members(tmp_path / "other.tar", [*members[:-1], file_member(ti.name, changed), members[-1]])
    assert "disagrees with the first manifest" in refused(other, target, tmp_path)


def test_cli_refusal_is_one_line_and_nonzero(tmp_path: Path, target: Path) -> None:
    junk = tmp_path / "junk.tar"
    junk.write_bytes(b"hello, not a tar" * 100)
    run = subprocess.run(
        [sys.executable, "-m", "hfcache", "unpack", str(junk), "--cache-dir", str(target)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert run.returncode == 2
    assert run.stderr.count("\n") == 1 and "Traceback" not in run.stderr


def test_empty_target_is_not_created_by_a_refused_bundle(tmp_path: Path) -> None:
    junk = tmp_path / "junk.tar"
    junk.write_bytes(os.urandom(4096))
    fresh = tmp_path / "new" / "hub"
    with pytest.raises(BundleError):
        unpack(str(junk), cache_dir=str(fresh))
    assert not (tmp_path / "new").exists()


def test_not_enough_space_is_refused_before_writing(
    bundle: Path, tmp_path: Path, target: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import shutil

    from hfcache.bundle import unpack as unpack_mod

    real = shutil.disk_usage
    monkeypatch.setattr(unpack_mod.shutil, "disk_usage", lambda p: real(p)._replace(free=1024))
    assert "not enough free space" in refused(bundle, target, tmp_path / "outside")


def _offsets(bundle: Path) -> dict[str, tarfile.TarInfo]:
    with tarfile.open(bundle) as tf:
        return {ti.name: ti for ti in tf.getmembers()}


def test_a_cut_is_named_by_the_files_of_the_repo(bundle: Path, tmp_path: Path, target: Path) -> None:
    """Where a bundle is cut short, the message names the repo's file (never a blob id)."""
    manifest = json.loads(read_members(bundle)[0][1])
    (repo,) = manifest["repos"]
    etag = next(f["etag"] for f in repo["files"] if f["path"] == SHARD)
    members = _offsets(bundle)
    blob = next(ti for name, ti in members.items() if name.endswith(f"/blobs/{etag}"))
    cut = tmp_path / "cut.tar"
    cut.write_bytes(bundle.read_bytes()[: blob.offset_data + 100])
    message = refused(cut, target, tmp_path / "outside")
    assert message.startswith(f"the bundle is cut short inside {SHARD} of {repo['repo_id']} ({cut} holds ")
    first_link = min((ti for ti in members.values() if ti.issym()), key=lambda ti: ti.offset)
    cut.write_bytes(bundle.read_bytes()[: first_link.offset])  # every blob there, no link
    message = refused(cut, target, tmp_path / "outside")
    assert message.startswith("the bundle is incomplete (cut short?): the link of ")
    assert f"of {repo['repo_id']} and {len(repo['files']) - 1} more member(s) are missing" in message
    assert not any(f["etag"] in message for f in repo["files"])


def test_metadata_members_are_bounded_before_they_are_read(
    bundle: Path, tmp_path: Path, target: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A manifest, tree listing or ref is read whole: one larger than the limit is refused by its
    header, before any of it is read (a hostile bundle could name gigabytes)."""
    import hfcache.bundle.metaread as metaread

    members = read_members(bundle)
    manifest = members[0][1]
    monkeypatch.setattr(metaread, "MAX_MANIFEST_BYTES", len(manifest) - 1)
    assert "more than any bundle metadata" in refused(bundle, target, tmp_path)
    monkeypatch.setattr(metaread, "MAX_MANIFEST_BYTES", len(manifest))
    folder = _folder(members)
    big = file_member(f"{folder}/refs/main", b"0" * (len(manifest) + 1))
    huge_ref = write_members(tmp_path / "ref.tar", [*members[:-1], big, members[-1]])
    assert "more than any bundle metadata" in refused(huge_ref, target, tmp_path)
