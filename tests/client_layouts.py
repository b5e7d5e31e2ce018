"""The cache layouts huggingface_hub's own test suite builds, rebuilt here without the internet.

huggingface_hub 2.4.0's tests (``tests/test_utils_cache.py``, ``test_cache_layout.py``,
``test_cache_no_symlinks.py``, ``test_snapshot_download.py``, ``test_tree_cache.py`` and
``test_shared_blobs.py`` of its source distribution) build dozens of caches -- valid, unusual and
broken -- and assert how the client reacts.  Most of them download from the real Hub; here each
layout is built the same way against the stand-in hub (``hf_hub_download``/``snapshot_download``
with the same revisions, patterns and symlink switches), then damaged the way the source test
damages it.  The shared-store tests build their caches with no download at all, through
``huggingface_hub.utils._shared_blobs``: their helpers ``_write_blob``, ``_publish`` and
``_make_cached_file`` are reproduced below line for line (the unpacked test folder is not part of
this repository, so it is not imported).

One function per layout; each docstring names the huggingface_hub test it comes from.  Every
builder takes the stand-in hub and an empty cache folder and returns a :class:`Built`: the cache
and the files to ask the client for (``probes``).  :data:`LAYOUTS` (in ``test_client_layouts.py``'s
order) pairs each builder with the client's verdict and hfcache's, which
``tests/test_client_layouts.py`` checks and ``benchmarks/client_layouts_table.py`` prints.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from unittest.mock import patch

from builders import HAS_SHARED_STORE, HAS_TREES, SHARDED_REPO_ID, SilentTqdm, download_cache
from copies import symlinks_unsupported
from huggingface_hub import hf_hub_download, scan_cache_dir
from huggingface_hub.file_download import repo_folder_name
from standin_hub import StandinHub, git_blob_sha1

SOURCE = "huggingface_hub 2.4.0 tests/"

# --------------------------------------------------------------------------------------------
# What a layout is, and what is asked of the client.


@dataclass(frozen=True)
class Probe:
    """One file to load offline with ``hf_hub_download``, and the bytes it should have."""

    repo_id: str
    filename: str
    data: bytes
    revision: str = "main"
    repo_type: str = "model"

    def __str__(self) -> str:
        return f"{self.repo_id}@{self.revision}:{self.filename}"


@dataclass(frozen=True)
class Built:
    """A layout on disk: the cache folder and the files the client is asked for."""

    cache: Path
    probes: tuple[Probe, ...] = ()
    keep: tuple[Path, ...] = ()
    """Paths that neither doctor nor ``--fix`` may remove or change (e.g. a link's outside target)."""


Builder = Callable[[StandinHub, Path], Built]


def repo_dir(cache: Path, repo_id: str, repo_type: str = "model") -> Path:
    return cache / repo_folder_name(repo_id=repo_id, repo_type=repo_type)


def hub_download(hub: StandinHub, cache: Path, repo_id: str, filename: str, **kw: Any) -> str:
    """``hf_hub_download`` from the stand-in hub (endpoint and ``token=False`` always explicit)."""
    path = hf_hub_download(repo_id, filename, cache_dir=cache, endpoint=hub.url, token=False, **kw)
    assert isinstance(path, str)
    return path


def probes_of(
    hub: StandinHub, repo_id: str, revision: str = "main", repo_type: str = "model"
) -> tuple[Probe, ...]:
    """A probe for every file of ``revision`` as the hub has it."""
    commit = hub.resolve(repo_id, revision, repo_type=repo_type)
    return tuple(Probe(repo_id, p, f.data, revision, repo_type) for p, f in sorted(commit.files.items()))


def probes_for(hub: StandinHub, repo_id: str, names: list[str], revision: str = "main") -> tuple[Probe, ...]:
    files = hub.resolve(repo_id, revision).files
    return tuple(Probe(repo_id, n, files[n].data, revision) for n in names)


GITATTRIBUTES = (
    b"*.bin filter=lfs diff=lfs merge=lfs -text\n*.safetensors filter=lfs diff=lfs merge=lfs -text\n"
)


# --------------------------------------------------------------------------------------------
# The repos the source tests download, published on the stand-in hub.


def publish_scan_repos(hub: StandinHub) -> dict[str, str]:
    """``hf-internal-testing/hfh_ci_scan_repo_a`` (an older commit, ``main``, and ``refs/pr/1``
    whose README shares main's blob) and ``hfh_ci_scan_dataset_b``, as ``test_utils_cache.py``
    uses them.  Returns the repo ids and commits by name."""
    model, dataset = (
        hub.unique_repo_id("standin/hfh_ci_scan_repo_a"),
        hub.unique_repo_id("standin/scan_dataset_b"),
    )
    readme = b"# Repo A\n"
    other = hub.add_commit(model, {".gitattributes": GITATTRIBUTES, "README.md": b"# first\n"})
    main = hub.add_commit(
        model, {".gitattributes": GITATTRIBUTES, "README.md": readme, "file.txt": b"main\n"}
    )
    pr = hub.add_commit(
        model,
        {".gitattributes": GITATTRIBUTES, "README.md": readme, "file.txt": b"pr\n"},
        branch="refs/pr/1",
        parent=main,
    )
    dataset_main = hub.add_commit(
        dataset, {"README.md": b"# B\n", "data.csv": b"a,b\n1,2\n"}, repo_type="dataset"
    )
    return {
        "model": model,
        "dataset": dataset,
        "main": main,
        "other": other,
        "pr": pr,
        "dataset_main": dataset_main,
    }


def _download_scan_repos(hub: StandinHub, cache: Path) -> dict[str, str]:
    """``TestValidCacheUtils.setup``: main, main's commit hash, the other commit, ``refs/pr/1`` and
    the dataset's main, each by ``snapshot_download``."""
    ids = publish_scan_repos(hub)
    for revision in ("main", ids["main"], ids["other"], "refs/pr/1"):
        download_cache(hub, cache, ids["model"], revision)
    download_cache(hub, cache, ids["dataset"], "main", repo_type="dataset")
    return ids


def _scan_probes(hub: StandinHub, ids: Mapping[str, str]) -> tuple[Probe, ...]:
    return (
        *probes_of(hub, ids["model"]),
        *probes_of(hub, ids["model"], "refs/pr/1"),
        *probes_of(hub, ids["model"], ids["other"]),
        *probes_of(hub, ids["dataset"], repo_type="dataset"),
    )


def publish_cache_layout_repo(hub: StandinHub) -> str:
    """``hf-internal-testing/hfh-cache-layout``: ``file_0.txt``... with tags ``file-2`` and
    ``file-3`` (``main`` is ``file-3``), as ``test_cache_layout.py`` uses it."""
    repo_id = hub.unique_repo_id("standin/hfh-cache-layout")
    base = {".gitattributes": GITATTRIBUTES, "file_0.txt": b"File 0\n", "file_1.txt": b"File 1\n"}
    hub.add_ref(repo_id, "file-2", hub.add_commit(repo_id, {**base, "file_2.txt": b"File 2\n"}))
    hub.add_ref(repo_id, "file-3", hub.add_commit(repo_id, {**base, "file_3.txt": b"File 3\n"}))
    return repo_id


def publish_dummy_model(hub: StandinHub) -> tuple[str, str]:
    """``DUMMY_MODEL_ID`` as ``test_cache_no_symlinks.py`` uses it: ``config.json``, ``README.md``,
    ``merges.txt``, an older revision and ``main``.  Returns the repo id and the older commit."""
    repo_id = hub.unique_repo_id("standin/dummy-model")
    files = {"README.md": b"# dummy\n", "merges.txt": b"#version: 0.2\na b\n"}
    older = hub.add_commit(repo_id, {**files, "config.json": b'{"v": 0}\n'})
    hub.add_commit(repo_id, {**files, "config.json": b'{"v": 1}\n'})
    return repo_id, older


def publish_snapshot_repo(hub: StandinHub) -> str:
    """``TestSnapshotDownload``'s repo: ``dummy_file.txt``, ``subpath/file.txt`` and an LFS
    ``file.bin`` (64 KiB here, 1 MiB there) on ``main``."""
    repo_id = hub.unique_repo_id("standin/snapshot-download")
    first = {"dummy_file.txt": b"v1", "subpath/file.txt": b"content in subpath"}
    hub.add_commit(repo_id, first)
    hub.add_commit(repo_id, {**first, "dummy_file.txt": b"v2", "file.bin": bytes(range(256)) * 256})
    return repo_id


# --------------------------------------------------------------------------------------------
# test_utils_cache.py


def scan_valid_unix(hub: StandinHub, cache: Path) -> Built:
    """test_utils_cache.py::TestValidCacheUtils::test_scan_cache_on_valid_cache_unix: a model
    downloaded at main, at main's hash, at an older commit and at refs/pr/1, and a dataset."""
    ids = _download_scan_repos(hub, cache)
    return Built(cache, _scan_probes(hub, ids))


def scan_valid_windows(hub: StandinHub, cache: Path) -> Built:
    """test_utils_cache.py::TestValidCacheUtils::test_scan_cache_on_valid_cache_windows: the same
    downloads without symlinks (every file a regular file in its snapshot, no blobs)."""
    with symlinks_unsupported():
        ids = _download_scan_repos(hub, cache)
    return Built(cache, _scan_probes(hub, ids))


DROPPINGS = (".DS_Store", "Thumbs.db", "desktop.ini")


def os_droppings(hub: StandinHub, cache: Path) -> Built:
    """test_utils_cache.py::TestIgnoredCacheFiles::test_ignore_os_metadata_files_in_cache_structure,
    on a real download: ``.DS_Store``, ``Thumbs.db`` and ``desktop.ini`` in the cache root, in
    ``refs/`` and in ``snapshots/``."""
    c = download_cache(hub, cache, SHARDED_REPO_ID)
    repo = Path(c).parents[1]
    for folder in (cache, repo / "refs", repo / "snapshots"):
        for name in DROPPINGS:
            (folder / name).touch()
    return Built(cache, probes_of(hub, SHARDED_REPO_ID))


def os_droppings_short_ref(hub: StandinHub, cache: Path) -> Built:
    """test_utils_cache.py::TestIgnoredCacheFiles::test_ignore_os_metadata_files_in_cache_structure,
    exactly: ``models--foo--bar`` with ``refs/main`` = ``123``, an empty ``snapshots/123/`` and the
    OS droppings."""
    repo_path = cache / "models--foo--bar"
    refs_path, snapshots_path = repo_path / "refs", repo_path / "snapshots"
    (snapshots_path / "123").mkdir(parents=True)
    refs_path.mkdir()
    (refs_path / "main").write_text("123")
    for filename in DROPPINGS:
        for folder in (cache, refs_path, snapshots_path):
            (folder / filename).touch()
    return Built(cache)


def ref_not_commit(hub: StandinHub, cache: Path) -> Built:
    """test_utils_cache.py::TestIgnoredCacheFiles::test_ignore_os_metadata_files_in_cache_structure's
    repo (``refs/main`` = ``123``, a snapshot folder ``123``) holding one file linked to its blob
    as the client links it, so that the offline load of a ref that is not a commit hash is seen."""
    built = os_droppings_short_ref(hub, cache)
    data = b"a file in a snapshot named 123\n"
    repo = cache / "models--foo--bar"
    (repo / "blobs").mkdir()
    (repo / "blobs" / git_blob_sha1(data)).write_bytes(data)
    (repo / "snapshots" / "123" / "file.txt").symlink_to(Path("..") / ".." / "blobs" / git_blob_sha1(data))
    return Built(built.cache, (Probe("foo/bar", "file.txt", data),))


def _sharded(hub: StandinHub, cache: Path) -> tuple[Path, tuple[Probe, ...]]:
    """``TestCorruptedCacheUtils.setup``: one repo downloaded at main (its snapshot, refs, blobs
    and, from 2.x on, its tree listing)."""
    snapshot = Path(download_cache(hub, cache, SHARDED_REPO_ID))
    return snapshot.parents[1], probes_of(hub, SHARDED_REPO_ID)


def stray_file_in_cache(hub: StandinHub, cache: Path) -> Built:
    """test_utils_cache.py::TestCorruptedCacheUtils::test_repo_path_not_valid_dir, case 1: a file
    ``a_file_that_should_not_be_there.txt`` next to the repo folders."""
    _, probes = _sharded(hub, cache)
    (cache / "a_file_that_should_not_be_there.txt").touch()
    return Built(cache, probes)


def repo_folder_is_file(hub: StandinHub, cache: Path) -> Built:
    """test_utils_cache.py::TestCorruptedCacheUtils::test_repo_path_not_valid_dir, case 1, with
    the file named as a repo folder (``models--org--gone``): a repo folder that is a file."""
    _, probes = _sharded(hub, cache)
    (cache / "models--org--gone").write_bytes(b"")
    return Built(cache, probes)


def badly_named_folders(hub: StandinHub, cache: Path) -> Built:
    """test_utils_cache.py::TestCorruptedCacheUtils::test_repo_path_not_valid_dir, cases 2 and 3:
    ``a_folder_that_should_not_be_there`` and ``not-models--t5-small``."""
    _, probes = _sharded(hub, cache)
    (cache / "a_folder_that_should_not_be_there").mkdir()
    (cache / "not-models--t5-small").mkdir()
    return Built(cache, probes)


def snapshots_missing(hub: StandinHub, cache: Path) -> Built:
    """test_utils_cache.py::TestCorruptedCacheUtils::test_snapshots_path_not_found: ``snapshots/``
    removed; refs, blobs and the tree listing still there."""
    repo, probes = _sharded(hub, cache)
    shutil.rmtree(repo / "snapshots")
    return Built(cache, probes)


def file_in_snapshots(hub: StandinHub, cache: Path) -> Built:
    """test_utils_cache.py::TestCorruptedCacheUtils::test_file_in_snapshots_dir: an empty file
    ``snapshots/should_not_be_there``."""
    repo, probes = _sharded(hub, cache)
    (repo / "snapshots" / "should_not_be_there").touch()
    return Built(cache, probes)


def snapshot_emptied(hub: StandinHub, cache: Path) -> Built:
    """test_utils_cache.py::TestCorruptedCacheUtils::test_snapshot_with_no_blob_files: every
    snapshot folder emptied (removed and made again); blobs, refs and listing kept."""
    repo, probes = _sharded(hub, cache)
    for revision_path in (repo / "snapshots").glob("*"):
        shutil.rmtree(revision_path)
        revision_path.mkdir()
    return Built(cache, probes)


def no_snapshots_no_refs(hub: StandinHub, cache: Path) -> Built:
    """test_utils_cache.py::TestCorruptedCacheUtils::test_repo_with_no_snapshots: ``refs/``
    removed and ``snapshots/`` emptied; blobs and listing kept."""
    repo, probes = _sharded(hub, cache)
    shutil.rmtree(repo / "refs")
    shutil.rmtree(repo / "snapshots")
    (repo / "snapshots").mkdir()
    return Built(cache, probes)


def ref_to_missing_revision(hub: StandinHub, cache: Path) -> Built:
    """test_utils_cache.py::TestCorruptedCacheUtils::test_ref_to_missing_revision: a ref
    ``not_main`` holding ``revision_hash_that_does_not_exist``."""
    repo, probes = _sharded(hub, cache)
    (repo / "refs" / "not_main").write_text("revision_hash_that_does_not_exist")
    return Built(cache, probes)


def blob_rewritten_through_link(hub: StandinHub, cache: Path) -> Built:
    """test_utils_cache.py::TestCorruptedCacheUtils::test_scan_cache_last_modified_and_last_accessed:
    ``README.md`` rewritten through its snapshot link (``file_path.write_text("modified readme")``),
    so its blob no longer holds what its name says."""
    repo, probes = _sharded(hub, cache)
    readme = repo / "snapshots" / hub.resolve(SHARDED_REPO_ID, "main").sha / "README.md"
    os.chmod(readme.resolve(), 0o644)
    readme.write_text("modified readme")
    return Built(cache, probes)


def _part_is_file(part: str) -> Builder:
    def build(hub: StandinHub, cache: Path) -> Built:
        repo, probes = _sharded(hub, cache)
        shutil.rmtree(repo / part)
        (repo / part).write_bytes(b"")
        return Built(cache, probes)

    build.__name__ = f"{part}_is_file"
    build.__doc__ = (
        f"utils/_cache_manager.py::_scan_cached_repo (the client's scan; no test builds it): "
        f"the repo's ``{part}/`` replaced by an empty file of that name."
    )
    return build


refs_is_file = _part_is_file("refs")
blobs_is_file = _part_is_file("blobs")
snapshots_is_file = _part_is_file("snapshots")


def _scan_ids_and_cache(hub: StandinHub, cache: Path) -> tuple[dict[str, str], Built]:
    ids = _download_scan_repos(hub, cache)
    return ids, Built(cache, _scan_probes(hub, ids))


def after_delete_revision(hub: StandinHub, cache: Path) -> Built:
    """test_utils_cache.py::TestDeleteRevisionsDryRun::test_delete_pr_1_revision, executed as
    TestDeleteStrategyExecute::test_execute does: the PR revision deleted by the client itself
    (its snapshot, its ref and the blob only it used)."""
    ids, _ = _scan_ids_and_cache(hub, cache)
    scan_cache_dir(cache).delete_revisions(ids["pr"]).execute()
    model, dataset = ids["model"], ids["dataset"]
    kept = (
        *probes_of(hub, model),
        *probes_of(hub, model, ids["other"]),
        *probes_of(hub, dataset, repo_type="dataset"),
    )
    return Built(cache, kept)


def after_delete_files(hub: StandinHub, cache: Path) -> Built:
    """test_utils_cache.py::TestDeleteFilesDryRun::test_delete_files_keeps_shared_blob, executed:
    ``file.txt`` and ``README.md`` deleted from main's snapshot by the client (``hf cache rm
    hf://<repo>/<file>``); README's blob stays, refs/pr/1 still uses it."""
    ids, built = _scan_ids_and_cache(hub, cache)
    report = scan_cache_dir(cache)
    (repo,) = [r for r in report.repos if r.repo_id == ids["model"]]
    (main,) = [r for r in repo.revisions if r.commit_hash == ids["main"]]
    doomed = [f for f in main.files if f.file_name in ("file.txt", "README.md")]
    report.delete_files(*doomed).execute()
    return built


# --------------------------------------------------------------------------------------------
# test_cache_layout.py


def single_file_at_tag(hub: StandinHub, cache: Path) -> Built:
    """test_cache_layout.py::TestCacheFileLayoutHfHubDownload::test_file_downloaded_in_cache
    (revision ``file-2``): one file by ``hf_hub_download``, ``refs/file-2``, one snapshot link."""
    repo_id = publish_cache_layout_repo(hub)
    hub_download(hub, cache, repo_id, "file_0.txt", revision="file-2")
    return Built(cache, probes_for(hub, repo_id, ["file_0.txt"], "file-2"))


def no_exist_only(hub: StandinHub, cache: Path) -> Built:
    """test_cache_layout.py::TestCacheFileLayoutHfHubDownload::test_no_exist_file_is_cached: one
    ``hf_hub_download`` of a file the repo lacks leaves ``refs/main`` and
    ``.no_exist/<commit>/this_does_not_exist.txt``, nothing else."""
    from huggingface_hub.utils import EntryNotFoundError

    repo_id = publish_cache_layout_repo(hub)
    try:
        hub_download(hub, cache, repo_id, "this_does_not_exist.txt")
    except EntryNotFoundError:
        pass
    else:  # pragma: no cover - the stand-in hub must answer 404
        raise AssertionError("the download of a missing file succeeded")
    return Built(cache, (Probe(repo_id, "this_does_not_exist.txt", b""),))


def multiple_refs_same_file(hub: StandinHub, cache: Path) -> Built:
    """test_cache_layout.py::TestCacheFileLayoutHfHubDownload::test_multiple_refs_for_same_file:
    ``file_0.txt`` at main and at ``file-2``, two snapshots linking one blob."""
    repo_id = publish_cache_layout_repo(hub)
    hub_download(hub, cache, repo_id, "file_0.txt")
    hub_download(hub, cache, repo_id, "file_0.txt", revision="file-2")
    return Built(
        cache,
        (*probes_for(hub, repo_id, ["file_0.txt"]), *probes_for(hub, repo_id, ["file_0.txt"], "file-2")),
    )


def several_revisions(hub: StandinHub, cache: Path) -> Built:
    """test_cache_layout.py::TestCacheFileLayoutSnapshotDownload::test_file_downloaded_in_cache_several_revisions:
    ``snapshot_download`` at ``file-3`` then ``file-2``: two refs, two snapshots, shared blobs."""
    repo_id = publish_cache_layout_repo(hub)
    download_cache(hub, cache, repo_id, "file-3")
    download_cache(hub, cache, repo_id, "file-2")
    return Built(cache, (*probes_of(hub, repo_id, "file-3"), *probes_of(hub, repo_id, "file-2")))


def reference_updated(hub: StandinHub, cache: Path) -> Built:
    """test_cache_layout.py::TestReferenceUpdates::test_update_reference: ``file.txt`` downloaded,
    a new commit changes it on main, downloaded again: ``refs/main`` moved, the old snapshot kept."""
    repo_id = hub.unique_repo_id("standin/reference-update")
    old = hub.add_commit(repo_id, {"file.txt": b"Some string"})
    hub_download(hub, cache, repo_id, "file.txt")
    hub.add_commit(repo_id, {"file.txt": b"Some new string"})
    hub_download(hub, cache, repo_id, "file.txt")
    return Built(
        cache, (*probes_for(hub, repo_id, ["file.txt"]), *probes_for(hub, repo_id, ["file.txt"], old))
    )


# --------------------------------------------------------------------------------------------
# test_cache_no_symlinks.py


def no_symlink_new_file(hub: StandinHub, cache: Path) -> Built:
    """test_cache_no_symlinks.py::TestCacheLayoutIfSymlinksNotSupported::test_download_no_symlink_new_file:
    ``config.json`` downloaded with symlinks unsupported: a regular file in the snapshot, ``blobs/`` empty."""
    repo_id, _ = publish_dummy_model(hub)
    with symlinks_unsupported():
        hub_download(hub, cache, repo_id, "config.json")
    return Built(cache, probes_for(hub, repo_id, ["config.json"]))


def no_symlink_existing_file(hub: StandinHub, cache: Path) -> Built:
    """test_cache_no_symlinks.py::TestCacheLayoutIfSymlinksNotSupported::test_download_no_symlink_existing_file:
    downloaded with a link, the link removed, downloaded again without symlinks: a full copy in
    the snapshot and the blob still there (the file twice on disk)."""
    repo_id, _ = publish_dummy_model(hub)
    path = Path(hub_download(hub, cache, repo_id, "config.json"))
    path.unlink()
    with symlinks_unsupported():
        hub_download(hub, cache, repo_id, "config.json")
    return Built(cache, probes_for(hub, repo_id, ["config.json"]))


def _mixed_downloads(hub: StandinHub, cache: Path) -> tuple[str, str]:
    repo_id, older = publish_dummy_model(hub)
    with symlinks_unsupported():
        hub_download(hub, cache, repo_id, "config.json")
        hub_download(hub, cache, repo_id, "README.md")
        hub_download(hub, cache, repo_id, "config.json", revision=older)
    hub_download(hub, cache, repo_id, "merges.txt", revision=older)
    return repo_id, older


def no_symlink_mixed(hub: StandinHub, cache: Path) -> Built:
    """test_cache_no_symlinks.py::TestCacheLayoutIfSymlinksNotSupported::test_scan_and_delete_cache_no_symlinks:
    main's config and README and an older config without symlinks, then the older ``merges.txt``
    with one (the user reran as admin)."""
    repo_id, older = _mixed_downloads(hub, cache)
    return Built(
        cache,
        (
            *probes_for(hub, repo_id, ["config.json", "README.md"]),
            *probes_for(hub, repo_id, ["config.json", "merges.txt"], older),
        ),
    )


def no_symlink_after_delete_revision(hub: StandinHub, cache: Path) -> Built:
    """test_cache_no_symlinks.py::TestCacheLayoutIfSymlinksNotSupported::test_scan_and_delete_cache_no_symlinks,
    to its end: ``strategy_delete_revision.execute()`` deletes the older revision."""
    repo_id, older = _mixed_downloads(hub, cache)
    scan_cache_dir(cache).delete_revisions(older).execute()
    return Built(cache, probes_for(hub, repo_id, ["config.json", "README.md"]))


# --------------------------------------------------------------------------------------------
# test_snapshot_download.py


def allow_patterns(hub: StandinHub, cache: Path) -> Built:
    """test_snapshot_download.py::TestSnapshotDownload::test_download_model_with_allow_pattern:
    ``snapshot_download(allow_patterns="*.txt")``: ``file.bin`` left out by choice (the tree
    listing, from 2.x on, names every file)."""
    repo_id = publish_snapshot_repo(hub)
    download_cache(hub, cache, repo_id, allow_patterns="*.txt")
    return Built(cache, probes_of(hub, repo_id))


def partial_snapshot(hub: StandinHub, cache: Path) -> Built:
    """test_snapshot_download.py::TestSnapshotDownload::test_tree_cache_written_and_incomplete_detected:
    ``dummy_file.txt`` removed from a complete snapshot (offline ``snapshot_download`` then raises
    ``IncompleteSnapshotError``); its blob is still there."""
    repo_id = publish_snapshot_repo(hub)
    snapshot = Path(download_cache(hub, cache, repo_id))
    (snapshot / "dummy_file.txt").unlink()
    return Built(cache, probes_of(hub, repo_id))


PINNED_COMMIT = "0123456789abcdef0123456789abcdef01234567"


def pinned_snapshot_without_tree(hub: StandinHub, cache: Path) -> Built:
    """test_snapshot_download.py::test_pinned_revision_offline_without_cached_tree: only
    ``snapshots/<commit>/config.json`` (a regular file ``{}``), no refs, no blobs, no listing."""
    snapshot_folder = repo_dir(cache, "user/repo") / "snapshots" / PINNED_COMMIT
    snapshot_folder.mkdir(parents=True)
    (snapshot_folder / "config.json").write_text("{}")
    return Built(cache, (Probe("user/repo", "config.json", b"{}", PINNED_COMMIT),))


# --------------------------------------------------------------------------------------------
# test_tree_cache.py


def _listing(hub: StandinHub, cache: Path) -> tuple[Path, tuple[Probe, ...]]:
    repo, probes = _sharded(hub, cache)
    commit = hub.resolve(SHARDED_REPO_ID, "main").sha
    listing = repo / "trees" / f"{commit}.json"
    if not listing.exists():  # clients before the listings: write it as 2.x does
        from builders import tree_listing

        listing.parent.mkdir(exist_ok=True)
        listing.write_text(json.dumps(tree_listing(hub, SHARDED_REPO_ID, commit)))
    return listing, probes


def tree_unknown_format(hub: StandinHub, cache: Path) -> Built:
    """test_tree_cache.py::TestTreeCacheReadWrite::test_unknown_format_version_returns_none: the
    revision's listing rewritten as ``{"format_version": 999, "files": {}}`` (a newer client's)."""
    listing, probes = _listing(hub, cache)
    listing.write_text(json.dumps({"format_version": 999, "files": {}}))
    return Built(cache, probes, keep=(listing,))


def tree_corrupt(hub: StandinHub, cache: Path) -> Built:
    """test_tree_cache.py::TestTreeCacheReadWrite::test_corrupted_file_returns_none: the listing
    holds ``{ not valid json``."""
    listing, probes = _listing(hub, cache)
    listing.write_text("{ not valid json")
    return Built(cache, probes)


MASKED_XET_HASH = "*" * 64


def tree_masked_xet_hash(hub: StandinHub, cache: Path) -> Built:
    """test_tree_cache.py::TestTreeCacheReadWrite::test_invalid_entries_return_none (and
    test_snapshot_download.py::test_tree_with_redacted_xet_hash_is_not_cached): the LFS entries of
    the listing carry the masked Xet hash ``"*" * 64`` the client rejects."""
    listing, probes = _listing(hub, cache)
    document = json.loads(listing.read_text())
    for entry in document["files"].values():
        if "lfs_sha256" in entry:
            entry["xet_hash"] = MASKED_XET_HASH
    listing.write_text(json.dumps(document, indent=1, sort_keys=True))
    return Built(cache, probes)


# --------------------------------------------------------------------------------------------
# test_shared_blobs.py: its helpers, reproduced line for line, and the layouts its tests leave.

XET_HASH = "cf" + "ab" * 31
OTHER_XET_HASH = "0d" + "12" * 31
CONTENT = b"shared-content" * 100


def _write_blob(path: Path, content: bytes = CONTENT) -> Path:
    """test_shared_blobs.py::_write_blob."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(content)
    return path


def _publish(
    cache_dir: Path,
    *,
    repo_folder: str = "models--org--repoA",
    etag: str = "etag",
    xet_hash: str = XET_HASH,
    content: bytes = CONTENT,
    replace_existing: bool = False,
) -> Path:
    """test_shared_blobs.py::_publish."""
    from huggingface_hub.utils._shared_blobs import publish_blob_to_shared_store

    blob = _write_blob(cache_dir / repo_folder / "blobs" / etag, content)
    assert publish_blob_to_shared_store(
        blob_path=str(blob),
        xet_hash=xet_hash,
        cache_dir=cache_dir,
        expected_size=len(content),
        replace_existing=replace_existing,
    )
    return blob


def _make_cached_file(
    cache_dir: Path,
    repo_folder: str,
    commit: str,
    filename: str,
    etag: str,
    content: bytes = CONTENT,
    *,
    ref: str | None = None,
) -> Path:
    """test_shared_blobs.py::_make_cached_file."""
    repo = cache_dir / repo_folder
    (repo / "refs").mkdir(parents=True, exist_ok=True)
    blob = _write_blob(repo / "blobs" / etag, content)
    snapshot = repo / "snapshots" / commit
    snapshot.mkdir(parents=True, exist_ok=True)
    if ref is not None:
        (repo / "refs" / ref).write_text(commit)
    (snapshot / filename).symlink_to(Path("..") / ".." / "blobs" / etag)
    return blob


def _two_repos_sharing(cache: Path) -> None:
    """The first lines of test_cache_total_counts_shared_payload_once_and_store_only_payloads."""
    from huggingface_hub.utils._shared_blobs import publish_blob_to_shared_store, try_link_from_shared_store

    rev_a, rev_b = "a" * 40, "b" * 40
    blob_a = _make_cached_file(cache, "models--org--repoA", rev_a, "model.bin", "11" * 32, ref="main")
    assert publish_blob_to_shared_store(
        blob_path=str(blob_a), xet_hash=XET_HASH, cache_dir=cache, expected_size=len(CONTENT)
    )
    blob_b = _make_cached_file(cache, "models--org--repoB", rev_b, "model.bin", "11" * 32, ref="main")
    blob_b.unlink()
    assert try_link_from_shared_store(
        blob_path=str(blob_b), xet_hash=XET_HASH, cache_dir=cache, expected_size=len(CONTENT)
    )


def store_first_hop(hub: StandinHub, cache: Path) -> Built:
    """test_shared_blobs.py::TestScanAndDelete::test_scan_keeps_repo_blob_as_first_hop: one cached
    file whose repo blob is published to the store (snapshot -> repo blob -> store entry)."""
    from huggingface_hub.utils._shared_blobs import publish_blob_to_shared_store

    blob = _make_cached_file(cache, "models--org--repo", "a" * 40, "file.bin", "11" * 32, ref="main")
    assert publish_blob_to_shared_store(
        blob_path=str(blob), xet_hash=XET_HASH, cache_dir=cache, expected_size=len(CONTENT)
    )
    return Built(cache, (Probe("org/repo", "file.bin", CONTENT),))


def store_two_repos(hub: StandinHub, cache: Path) -> Built:
    """test_shared_blobs.py::TestScanAndDelete::test_cache_total_counts_shared_payload_once_and_store_only_payloads
    (and TestLinkAndPublish::test_publish_then_link_roundtrip): two repos whose blobs link one store entry."""
    _two_repos_sharing(cache)
    return Built(cache, (Probe("org/repoA", "model.bin", CONTENT), Probe("org/repoB", "model.bin", CONTENT)))


def store_only_marked(hub: StandinHub, cache: Path) -> Built:
    """test_shared_blobs.py::TestScanAndDelete::test_cache_total_counts_shared_payload_once_and_store_only_payloads,
    to its end: both repo folders removed, the marked store keeps the payload and its manifest."""
    _two_repos_sharing(cache)
    shutil.rmtree(cache / "models--org--repoA")
    shutil.rmtree(cache / "models--org--repoB")
    return Built(cache)


def store_only_unmarked(hub: StandinHub, cache: Path) -> Built:
    """test_shared_blobs.py::TestScanAndDelete::test_unmarked_blobs_directory_is_not_hidden: only
    ``<cache>/blobs/user-file``, no marker, no repo."""
    _write_blob(cache / "blobs" / "user-file")
    return Built(cache)


def store_marker_temp_only(hub: StandinHub, cache: Path) -> Built:
    """test_shared_blobs.py::TestStoreHelpers::test_abandoned_marker_temp_does_not_disable_store,
    before its publish: ``<cache>/blobs/`` holding only ``.huggingface-shared-blobs.deadbeef.tmp``."""
    store_dir = cache / "blobs"
    store_dir.mkdir(parents=True)
    (store_dir / ".huggingface-shared-blobs.deadbeef.tmp").write_text("1\n")
    return Built(cache)


def store_publish_only(hub: StandinHub, cache: Path) -> Built:
    """test_shared_blobs.py::_publish as TestStoreHelpers leaves it: ``models--org--repoA/blobs/etag``
    a link into the store, the repo folder holding nothing else."""
    _publish(cache)
    return Built(cache)


def store_symlinked_prefix(hub: StandinHub, cache: Path) -> Built:
    """test_shared_blobs.py::TestStoreHelpers::test_symlinked_prefix_is_refused: after a publish
    (whose repo blob is then removed) the prefix folder ``blobs/0d`` is a symlink to a folder
    ``external`` -- here next to the cache rather than in it, so the link leads out of the cache --
    and the refused publish leaves ``models--org--repoB/blobs/etag`` a regular file."""
    from huggingface_hub.utils._shared_blobs import publish_blob_to_shared_store, shared_blob_path

    first_blob = _publish(cache)
    first_blob.unlink()
    prefix = shared_blob_path(cache, OTHER_XET_HASH).parent
    external = cache.parent / "external"
    external.mkdir()
    prefix.symlink_to(external, target_is_directory=True)
    blob = _write_blob(cache / "models--org--repoB" / "blobs" / "etag")
    assert not publish_blob_to_shared_store(
        blob_path=str(blob), xet_hash=OTHER_XET_HASH, cache_dir=cache, expected_size=len(CONTENT)
    )
    return Built(cache, keep=(external,))


def store_stale_soft_lock(hub: StandinHub, cache: Path) -> Built:
    """test_shared_blobs.py::TestStoreHelpers::test_stale_soft_lock_fails_without_blocking: a
    stale ``<store entry>.lock.soft`` left in the store (here of the complete cached file of
    test_scan_keeps_repo_blob_as_first_hop, so that only the lock is at issue)."""
    from huggingface_hub.utils._shared_blobs import shared_blob_path

    built = store_first_hop(hub, cache)
    lock = Path(f"{shared_blob_path(cache, XET_HASH)}.lock.soft")
    lock.touch()
    old = time.time() - 7200  # stale: left by a download that ended two hours ago
    os.utime(lock, (old, old))
    return built


# The client's test uses a made-up etag; here it is the content's real sha256, as the Hub's is, so
# that a repair which hashes the bytes finds the blob they belong to.
ETAG, COMMIT = hashlib.sha256(CONTENT).hexdigest(), "d" * 40


@contextmanager
def fake_xet_download(repo_id: str, downloads: list[str]) -> Iterator[None]:
    """test_shared_blobs.py::TestDownloadIntegration::_download's patches: the Hub's metadata for
    ``file.bin`` (etag ``ETAG``, commit ``COMMIT``, Xet hash ``XET_HASH``) and an ``xet_get`` that
    writes ``CONTENT``."""
    from huggingface_hub.utils._xet import XetFileData

    metadata = (
        "https://example.com/file.bin",
        ETAG,
        COMMIT,
        len(CONTENT),
        XetFileData(file_hash=XET_HASH, refresh_route="https://example.com/refresh"),
        None,
    )

    def fake_xet_get(*, incomplete_path: Path, **kwargs: Any) -> None:
        downloads.append(repo_id)
        incomplete_path.write_bytes(CONTENT)

    with ExitStack() as stack:
        stack.enter_context(
            patch("huggingface_hub.file_download._get_metadata_or_catch_error", return_value=metadata)
        )
        stack.enter_context(patch("huggingface_hub.file_download.xet_get", side_effect=fake_xet_get))
        stack.enter_context(patch("huggingface_hub.file_download.is_xet_available", return_value=True))
        yield


def _xet_download(cache: Path, repo_id: str, downloads: list[str]) -> Path:
    with fake_xet_download(repo_id, downloads):
        return Path(hf_hub_download(repo_id, "file.bin", cache_dir=str(cache), tqdm_class=SilentTqdm))


def xet_download_two_repos(hub: StandinHub, cache: Path) -> Built:
    """test_shared_blobs.py::TestDownloadIntegration::test_second_repo_reuses_blob_without_download:
    ``hf_hub_download`` of a Xet file into two repos; the second links the first's store entry."""
    downloads: list[str] = []
    _xet_download(cache, "org/repoA", downloads)
    _xet_download(cache, "org/repoB", downloads)
    assert downloads == ["org/repoA"]
    return Built(cache, (Probe("org/repoA", "file.bin", CONTENT), Probe("org/repoB", "file.bin", CONTENT)))


def xet_snapshot_symlink_failure(hub: StandinHub, cache: Path) -> Built:
    """test_shared_blobs.py::TestDownloadIntegration::test_actual_snapshot_symlink_failure_preserves_repo_blob:
    the repo blob links into the store but the snapshot link failed: the snapshot holds a full copy."""
    downloads: list[str] = []
    with patch("huggingface_hub.file_download.are_symlinks_supported", side_effect=[True, False]):
        _xet_download(cache, "org/repoA", downloads)
    return Built(cache, (Probe("org/repoA", "file.bin", CONTENT),))


# --------------------------------------------------------------------------------------------
# The verdicts.


@dataclass(frozen=True)
class Client:
    """huggingface_hub's verdict: ``scan_cache_dir``'s repos (id: number of revisions) and its
    warnings (a fragment of each, in order), and each probe's offline ``hf_hub_download``:
    ``y`` loads the right bytes, ``w`` loads other bytes, ``n`` raises."""

    listed: Mapping[str, int] = field(default_factory=dict)
    warnings: tuple[str, ...] = ()
    loads: str = ""

    def __str__(self) -> str:
        repos = ", ".join(f"{r} ({n} rev)" for r, n in sorted(self.listed.items())) or "no repo"
        said = "; ".join(f'"{w}"' for w in self.warnings) or "no warning"
        loads = f"; loads {self.loads}" if self.loads else ""
        return f"lists {repos}; {said}{loads}"


@dataclass(frozen=True)
class Doctor:
    """hfcache's verdict: the exit status and the finding codes -- exactly these (``exact``), at
    least these (``least``) or at most these (``most``) -- and codes that must not appear."""

    exit: int
    codes: frozenset[str] = frozenset()
    mode: str = "exact"
    lacks: frozenset[str] = frozenset()

    def __str__(self) -> str:
        if self.mode == "no worse":
            return "no worse than before"
        codes = ", ".join(f"`{c}`" for c in sorted(self.codes))
        if self.mode == "exact":
            said = f": {codes or 'no finding'}"
        elif self.mode == "most":
            said = f": {codes or 'nothing'} at most"
        else:
            said = f": {codes} and maybe more" if codes else (": info at most" if self.exit == 0 else "")
        lacks = f"; no {', '.join(f'`{c}`' for c in sorted(self.lacks))}" if self.lacks else ""
        return f"exit {self.exit}{said}{lacks}"


def exact(exit: int, *codes: str, lacks: tuple[str, ...] = ()) -> Doctor:
    return Doctor(exit, frozenset(codes), "exact", frozenset(lacks))


def least(exit: int, *codes: str, lacks: tuple[str, ...] = ()) -> Doctor:
    return Doctor(exit, frozenset(codes), "least", frozenset(lacks))


def most(exit: int, *codes: str, lacks: tuple[str, ...] = ()) -> Doctor:
    return Doctor(exit, frozenset(codes), "most", frozenset(lacks))


CLEAN = exact(0)


@dataclass(frozen=True)
class Layout:
    """One row: a layout, the test it comes from, the client's verdict and hfcache's before and
    after ``--fix`` (``--fix --verify`` with ``verify``).  ``why`` says in one line why hfcache
    deliberately differs from the client, where it does."""

    build: Builder
    client: Client
    before: Doctor
    after: Doctor
    verify: bool = False
    why: str = ""
    needs: str = ""
    """``trees`` or ``store``: the client feature the layout needs (skipped on older clients)."""

    @property
    def name(self) -> str:
        return self.build.__name__.replace("_", "-")

    @property
    def source(self) -> str:
        first = (self.build.__doc__ or "").split()[0]
        return first.rstrip(":,").removesuffix("'s")


def available(layout: Layout) -> bool:
    return {"": True, "trees": HAS_TREES, "store": HAS_SHARED_STORE}[layout.needs]


# --------------------------------------------------------------------------------------------
# Measuring: the real client and hfcache, on a built layout.


def client_verdict(built: Built) -> Client:
    """What huggingface_hub says now: ``scan_cache_dir`` and an offline ``hf_hub_download`` per probe.

    Run with ``HF_HUB_OFFLINE=1`` (``offline``); warnings have the cache path replaced by ``<cache>``.
    """
    report = scan_cache_dir(built.cache)
    listed = {r.repo_id: len(r.revisions) for r in report.repos}
    warnings = tuple(str(w).replace(str(built.cache), "<cache>") for w in report.warnings)
    return Client(listed, warnings, "".join(load(built.cache, p) for p in built.probes))


def load(cache: Path, probe: Probe) -> str:
    """``y``: the client returns the right bytes; ``w``: other bytes; ``n``: it raises."""
    try:
        path = hf_hub_download(
            probe.repo_id,
            probe.filename,
            repo_type=probe.repo_type,
            revision=probe.revision,
            cache_dir=cache,
            local_files_only=True,
        )
        data = Path(path).read_bytes()
    except Exception:  # any refusal of the client's is a "no"
        return "n"
    return "y" if data == probe.data else "w"


@contextmanager
def offline() -> Iterator[None]:
    """``HF_HUB_OFFLINE=1`` for the environment and huggingface_hub's import-time constant."""
    from huggingface_hub import constants

    with patch.dict(os.environ, {"HF_HUB_OFFLINE": "1"}), patch.object(constants, "HF_HUB_OFFLINE", True):
        yield


NO_WORSE = Doctor(-1, mode="no worse")
"""After ``--fix``: no target of its own, only no worse than before (exit status not higher)."""

W_NOT_DIR = "Repo path is not a directory"
W_NOT_CACHE_DIR = "Repo path is not a valid HuggingFace cache directory"
W_NO_SNAPSHOTS = "Snapshots dir doesn't exist in cached repo"
SHARDED = "standin/tiny-sharded"
SCAN_REPOS = {"standin/hfh_ci_scan_repo_a": 3, "standin/scan_dataset_b": 1}

LAYOUTS: tuple[Layout, ...] = (
    # Valid layouts the client writes and reads: exit 0.
    Layout(scan_valid_unix, Client(SCAN_REPOS, loads="y" * 10), CLEAN, CLEAN),
    Layout(scan_valid_windows, Client(SCAN_REPOS, loads="y" * 10), exact(0, "entry-full-copy"), CLEAN),
    Layout(os_droppings, Client({SHARDED: 1}, loads="y" * 9), CLEAN, CLEAN),
    Layout(
        os_droppings_short_ref,
        Client({"foo/bar": 1}),
        least(1, lacks=("ref-malformed",)),
        NO_WORSE,
        why="the client does not notice an empty snapshot; hfcache does (the ref naming it is no error)",
    ),
    Layout(
        ref_not_commit,
        Client({"foo/bar": 1}, loads="y"),
        most(0, "ref-not-commit"),
        most(0, "ref-not-commit"),
    ),
    Layout(single_file_at_tag, Client({"standin/hfh-cache-layout": 1}, loads="y"), CLEAN, CLEAN),
    Layout(multiple_refs_same_file, Client({"standin/hfh-cache-layout": 2}, loads="yy"), CLEAN, CLEAN),
    Layout(several_revisions, Client({"standin/hfh-cache-layout": 2}, loads="y" * 8), CLEAN, CLEAN),
    Layout(reference_updated, Client({"standin/reference-update": 2}, loads="yy"), CLEAN, CLEAN),
    Layout(
        no_exist_only,
        Client(warnings=(W_NO_SNAPSHOTS,), loads="n"),
        least(0),
        least(0),
        why="the client's scan wants a snapshots/ it never wrote; the folder only remembers a 404",
    ),
    Layout(
        no_symlink_new_file, Client({"standin/dummy-model": 1}, loads="y"), exact(0, "entry-full-copy"), CLEAN
    ),
    Layout(
        no_symlink_existing_file,
        Client({"standin/dummy-model": 1}, loads="y"),
        exact(0, "entry-full-copy"),
        CLEAN,
    ),
    Layout(
        no_symlink_mixed, Client({"standin/dummy-model": 2}, loads="yyyy"), exact(0, "entry-full-copy"), CLEAN
    ),
    Layout(
        no_symlink_after_delete_revision,
        Client({"standin/dummy-model": 1}, loads="yy"),
        exact(0, "entry-full-copy"),
        CLEAN,
    ),
    Layout(
        after_delete_revision,
        Client({**SCAN_REPOS, "standin/hfh_ci_scan_repo_a": 2}, loads="y" * 7),
        CLEAN,
        CLEAN,
    ),
    Layout(
        after_delete_files,
        Client(SCAN_REPOS, loads="ynn" + "y" * 7),
        exact(1, "entry-missing"),
        exact(0, "entry-missing"),
        why="a file removed while its blob stays is what test_tree_cache_written_and_incomplete_detected "
        "removes (offline snapshot_download: IncompleteSnapshotError): hfcache relinks it",
        needs="trees",
    ),
    Layout(
        allow_patterns,
        Client({"standin/snapshot-download": 1}, loads="yny"),
        exact(0, "entry-missing"),
        exact(0, "entry-missing"),
        needs="trees",
    ),
    Layout(
        partial_snapshot,
        Client({"standin/snapshot-download": 1}, loads="nyy"),
        exact(1, "entry-missing"),
        CLEAN,
        why="the client's scan misses the removed file (snapshot_download refuses it); hfcache relinks it",
        needs="trees",
    ),
    Layout(
        pinned_snapshot_without_tree, Client({"user/repo": 1}, loads="y"), exact(0, "entry-full-copy"), CLEAN
    ),
    Layout(store_first_hop, Client({"org/repo": 1}, loads="y"), CLEAN, CLEAN, needs="store"),
    Layout(
        store_two_repos, Client({"org/repoA": 1, "org/repoB": 1}, loads="yy"), CLEAN, CLEAN, needs="store"
    ),
    Layout(
        xet_download_two_repos,
        Client({"org/repoA": 1, "org/repoB": 1}, loads="yy"),
        CLEAN,
        CLEAN,
        needs="store",
    ),
    Layout(
        xet_snapshot_symlink_failure,
        Client({"org/repoA": 1}, loads="y"),
        exact(0, "entry-full-copy"),
        CLEAN,
        needs="store",
    ),
    Layout(
        tree_unknown_format,
        Client({SHARDED: 1}, loads="y" * 9),
        exact(0, "tree-unknown-format"),
        exact(0, "tree-unknown-format"),
        needs="trees",
    ),
    # Broken, unusual or half-finished layouts.
    Layout(
        stray_file_in_cache, Client({SHARDED: 1}, (W_NOT_DIR,), "y" * 9), exact(1, "repo-bad-name"), NO_WORSE
    ),
    Layout(
        repo_folder_is_file,
        Client({SHARDED: 1}, (W_NOT_DIR,), "y" * 9),
        exact(1, "repo-not-folder"),
        CLEAN,
    ),
    Layout(
        badly_named_folders,
        Client({SHARDED: 1}, ("Repo type must be one of", W_NOT_CACHE_DIR), "y" * 9),
        exact(1, "repo-bad-name"),
        NO_WORSE,
    ),
    Layout(
        refs_is_file,
        Client(warnings=("Refs directory cannot be a file",), loads="n" * 9),
        least(1, "repo-part-not-folder", lacks=("unreadable",)),
        CLEAN,
        why="--fix moves the file aside: the client's scan lists the repo again (loads by commit hash)",
    ),
    Layout(
        blobs_is_file,
        Client(warnings=("Blob missing (broken symlink)",), loads="n" * 9),
        least(1, "repo-part-not-folder", lacks=("unreadable",)),
        NO_WORSE,
    ),
    Layout(
        snapshots_is_file,
        Client(warnings=(W_NO_SNAPSHOTS,), loads="n" * 9),
        least(1, "repo-part-not-folder", lacks=("unreadable",)),
        least(1, "repo-no-snapshots"),
        why="--fix moves the file aside; the next --fix rebuilds the snapshot from its listing",
    ),
    Layout(
        snapshots_missing,
        Client(warnings=(W_NO_SNAPSHOTS,), loads="n" * 9),
        least(1, "repo-no-snapshots"),
        CLEAN,
        why="listing, blobs and refs are all there: hfcache rebuilds the snapshot the client gave up on",
        needs="trees",
    ),
    Layout(
        file_in_snapshots,
        Client(warnings=("Snapshots folder corrupted. Found a file",), loads="y" * 9),
        exact(1, "snapshot-stray-file"),
        NO_WORSE,
        why="the client's scan drops the whole repo; hfcache names the stray file and judges the revisions",
    ),
    Layout(
        snapshot_emptied,
        Client({SHARDED: 1}, loads="n" * 9),
        exact(1, "entry-missing"),
        CLEAN,
        why="the client does not notice an emptied snapshot; hfcache does, and relinks it from the listing",
        needs="trees",
    ),
    Layout(no_snapshots_no_refs, Client({SHARDED: 0}, loads="n" * 9), least(0), least(0)),
    Layout(
        ref_to_missing_revision,
        Client(warnings=("Reference(s) refer to missing commit hashes",), loads="y" * 9),
        exact(1, "ref-malformed"),
        NO_WORSE,
        why="the client's scan drops the whole repo for one bad ref; hfcache names the ref",
    ),
    Layout(
        blob_rewritten_through_link,
        Client({SHARDED: 1}, loads="yw" + "y" * 7),
        least(1, "blob-hash-mismatch"),
        least(1),
        verify=True,
        why="the client does not hash blobs; --verify does, parks the blob and keeps the repo listed",
    ),
    Layout(
        tree_corrupt, Client({SHARDED: 1}, loads="y" * 9), exact(1, "tree-unreadable"), CLEAN, needs="trees"
    ),
    Layout(
        tree_masked_xet_hash,
        Client({SHARDED: 1}, loads="y" * 9),
        exact(1, "tree-unreadable"),
        CLEAN,
        why="the client silently ignores the listing; hfcache says it cannot be trusted and parks it",
        needs="trees",
    ),
    Layout(store_only_marked, Client(), least(0, "store-orphan"), least(0, "store-orphan"), needs="store"),
    Layout(
        store_only_unmarked,
        Client(warnings=(W_NOT_CACHE_DIR,)),
        exact(1, "store-unmarked"),
        exact(1, "store-unmarked"),
        needs="store",
    ),
    Layout(
        store_marker_temp_only,
        Client(warnings=(W_NOT_CACHE_DIR,)),
        least(1, "store-unmarked"),
        NO_WORSE,
        needs="store",
    ),
    Layout(
        store_publish_only,
        Client(warnings=(W_NO_SNAPSHOTS,)),
        least(1, "repo-no-snapshots", lacks=("blob-orphan",)),
        NO_WORSE,
        why="the helper's repo blob is named 'etag', not a blob id: blob-bad-name (info), link or file alike",
        needs="store",
    ),
    Layout(
        store_symlinked_prefix,
        Client(warnings=(W_NO_SNAPSHOTS, W_NO_SNAPSHOTS)),
        least(1, "dir-is-link"),
        least(1, "dir-is-link"),
        why="the client only refuses to publish through the link; hfcache reports it and never follows it",
        needs="store",
    ),
    Layout(
        store_stale_soft_lock,
        Client({"org/repo": 1}, loads="y"),
        exact(0, "lock-stale"),
        CLEAN,
        why="the client notices a stale soft lock only when a publish times out on it",
        needs="store",
    ),
)
"""Every layout, with the client's verdict (measured on huggingface_hub 2.4) and hfcache's target."""


def markdown() -> str:
    """:data:`LAYOUTS` as one markdown table."""
    rows = [
        "| layout | source test (huggingface_hub 2.4.0 tests/) | client's verdict | hfcache before | "
        "hfcache after `--fix` | why hfcache differs |",
        "|---|---|---|---|---|---|",
    ]
    for layout in LAYOUTS:
        after = str(layout.after)
        flag = " (`--fix --verify`)" if layout.verify else ""
        cells = [
            f"`{layout.name}`",
            f"`{layout.source}`",
            str(layout.client),
            str(layout.before),
            after + flag,
            layout.why,
        ]
        rows.append("| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |")
    return "\n".join(rows)
