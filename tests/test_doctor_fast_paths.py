"""The structural doctor's fast paths give what the plain code gives.

The scan and the entry classification take shortcuts for the common case (a link written as
huggingface_hub writes it, a well-formed tree listing entry, a blob named by a hash), build their
per-file objects without the dataclasses' ``__init__``, and pause the cyclic garbage collector
during a run. Each shortcut is checked here against the slow road it stands in for.
"""

from __future__ import annotations

import dataclasses
import gc
import os
import pickle
import threading
from pathlib import Path

import pytest
from builders import CachedRepo
from hypothesis import given, settings
from hypothesis import strategies as st

from hfcache import layout
from hfcache.doctor import diagnose
from hfcache.doctor.judge import collector_paused
from hfcache.model import Cache, Kind, Node, Repo, Revision, TreeEntry, built
from hfcache.scan import entries as entries_module
from hfcache.scan.entries import EntryDiag, Form, diagnose_revision
from hfcache.scan.walk import read_tree

# --- objects built without __init__ -------------------------------------------------------------


def _fields(obj: object) -> dict[str, object]:
    return {f.name: getattr(obj, f.name) for f in dataclasses.fields(obj)}  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "made",
    [
        Node("/c/x/snapshots/c/a", Kind.LINK, 0, 0.0, "../../blobs/ab", 0),
        Node("/c/x/blobs/ab", Kind.FILE, 12, 3.5, None, 77),
        TreeEntry(12, "ab", "cd", 12, None),
        TreeEntry(3, "AB"),
    ],
)
def test_built_is_the_same_object(made: object) -> None:
    again = built(type(made), _fields(made))
    assert again == made and hash(again) == hash(made) and repr(again) == repr(made)
    assert pickle.loads(pickle.dumps(again)) == made
    assert dataclasses.replace(again) == made
    with pytest.raises(dataclasses.FrozenInstanceError):
        again.size = 1  # type: ignore[attr-defined]


def test_built_entry_diag_is_the_same_object(tmp_path: Path) -> None:
    repo = Repo(str(tmp_path), "models--a--b", "model", "a/b")
    rev = Revision("c" * 40, str(tmp_path / "snapshots" / ("c" * 40)), {})
    made = EntryDiag(repo, rev, "x", "/p", None, Form.LINK, "e", "tree", "/l", None, 3)
    again = built(EntryDiag, _fields(made))
    assert again == made and repr(again) == repr(made)
    assert dataclasses.replace(again, form=Form.COPY) == dataclasses.replace(made, form=Form.COPY)


# --- tree listings ------------------------------------------------------------------------------

_VALUES = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-3, 10),
    st.text("abAB0", max_size=3),
    st.floats(allow_nan=False, allow_infinity=False),
    st.lists(st.integers(), max_size=1),
)
_INFO = st.one_of(
    st.dictionaries(st.sampled_from(["size", "blob_id", "lfs_sha256", "lfs_size", "xet_hash"]), _VALUES),
    _VALUES,
)


def _slow(files: dict[str, object]) -> dict[str, TreeEntry] | str:
    try:
        return {p: TreeEntry.from_json(info) for p, info in files.items()}  # type: ignore[arg-type]
    except (ValueError, KeyError, TypeError, AttributeError) as e:
        return f"{type(e).__name__}: {e}"


def _fast(files: dict[str, object]) -> dict[str, TreeEntry] | str:
    try:
        return TreeEntry.parse_files(files)
    except (ValueError, KeyError, TypeError, AttributeError) as e:
        return f"{type(e).__name__}: {e}"


@settings(max_examples=400, deadline=None)
@given(st.dictionaries(st.text("ab/", min_size=1, max_size=3), _INFO, max_size=4))
def test_listing_parsed_fast_as_from_json_parses_it(files: dict[str, object]) -> None:
    fast, slow = _fast(files), _slow(files)
    assert fast == slow
    if isinstance(fast, dict) and isinstance(slow, dict):
        for name, entry in fast.items():
            plain = slow[name]
            assert (entry.etag, entry.content_size) == (plain.etag, plain.content_size)
            assert list(entry.__dict__)[:5] == [f.name for f in dataclasses.fields(TreeEntry)]


def test_read_tree_keeps_its_verdicts(tmp_path: Path) -> None:
    listing = tmp_path / "t.json"
    listing.write_text(
        '{"format_version": 1, "files": {"a": {"size": 1, "blob_id": "AB", "lfs_sha256": "CD"}}}'
    )
    tree = read_tree(str(listing), "c").tree
    assert tree is not None and tree["a"].etag == "cd" and tree["a"].content_size == 1
    listing.write_text('{"format_version": 1, "files": {"a": {"size": 1}}}')
    assert read_tree(str(listing), "c").problem == "invalid content (KeyError: 'blob_id')"
    listing.write_text('{"format_version": 1, "files": {"a": {"size": true, "blob_id": "x"}}}')
    problem = read_tree(str(listing), "c").problem
    assert problem == "invalid content (size must be a non-negative integer and blob_id a string)"


# --- blob names ---------------------------------------------------------------------------------


@settings(max_examples=500, deadline=None)
@given(
    st.one_of(
        st.text("0123456789abcdef", min_size=38, max_size=66),
        st.text("0123456789abcdefABCDEF\n \u0660g", min_size=38, max_size=66),
        st.text(max_size=70),
    )
)
def test_is_etag_is_the_two_patterns(name: str) -> None:
    by_pattern = (
        layout.GIT_SHA1_RE.fullmatch(name) is not None or layout.SHA256_RE.fullmatch(name) is not None
    )
    assert layout.is_etag(name) is by_pattern


# --- links judged by their text -----------------------------------------------------------------

_BLOB = "a" * 40
_TARGETS = st.one_of(
    st.sampled_from(
        [
            f"../../blobs/{_BLOB}",
            f"../../../blobs/{_BLOB}",
            f"../../../../blobs/{_BLOB}",
            f"../../blobs/./{_BLOB}",
            f"../../blobs/{_BLOB}/",
            f"../../blobs/{_BLOB}\\x",
            f"..\\..\\blobs\\{_BLOB}",
            f"/abs/blobs/{_BLOB}",
            "../../blobs/..",
            "../../blobs/ab",
            f"../../snapshots/../blobs/{_BLOB}",
            f"../../blobs/{'b' * 40}",
            f"../../blobs/d/{_BLOB}",
            "",
        ]
    ),
    st.builds(
        lambda ups, mid, name: "../" * ups + mid + name,
        st.integers(0, 5),
        st.sampled_from(["blobs/", "blobs//", "x/../blobs/", "blob/", "./blobs/"]),
        st.sampled_from([_BLOB, "ab", "..", ".", "", _BLOB + "/x"]),
    ),
)
_NAMES = st.sampled_from(["f", "d/f", "d/e/f", "a.lnk", "d/e/g/h/f"])


def _revision_diags(root: str, commit: str, targets: dict[str, str | None], fast: bool) -> list[EntryDiag]:
    repo_path = os.path.join(root, "models--a--b")
    rev_path = os.path.join(repo_path, "snapshots", commit)
    names = (_BLOB, "ab", "..", f"d/{_BLOB}")  # the last two no scan lists, but a hand-made Repo may
    blobs = {name: Node(os.path.join(repo_path, "blobs", name), Kind.FILE, 1) for name in names}
    nodes = {n: Node(os.path.join(rev_path, *n.split("/")), Kind.LINK, target=t) for n, t in targets.items()}
    rev = Revision(commit, rev_path, nodes)
    repo = Repo(repo_path, "models--a--b", "model", "a/b", revisions={commit: rev}, blobs=blobs)
    original = entries_module._fast_links
    entries_module._fast_links = original if fast else (lambda repo, revision: False)  # type: ignore[assignment]
    try:
        return diagnose_revision(Cache(root, (repo,)), repo, rev)
    finally:
        entries_module._fast_links = original  # type: ignore[assignment]


@settings(max_examples=300, deadline=None)
@given(
    st.dictionaries(_NAMES, st.one_of(st.none(), _TARGETS), min_size=1, max_size=4),
    st.sampled_from(["/c", "/c/hub", "/", "rel/hub", "../up/hub"]),
    st.sampled_from(["c" * 40, "main", "a.b"]),
)
def test_links_judged_by_text_as_by_their_resolved_path(
    targets: dict[str, str | None], root: str, commit: str
) -> None:
    fast = _revision_diags(root, commit, targets, fast=True)
    assert fast == _revision_diags(root, commit, targets, fast=False)


def test_fast_links_only_for_normal_paths() -> None:
    def ok(repo_path: str, rev_path: str) -> bool:
        repo = Repo(repo_path, "f", "model", "a/b")
        return entries_module._fast_links(repo, Revision("c", rev_path, {}))

    assert ok("/c/models--a--b", "/c/models--a--b/snapshots/c")
    assert not ok("/c/models--a--b/", "/c/models--a--b//snapshots/c")
    assert not ok("/c/x/../models--a--b", "/c/x/../models--a--b/snapshots/c")
    assert not ok("/c/models--a--b", "/c/models--a--b/snapshots/c/")
    assert not ok("", "snapshots/c")
    assert not ok("/c/models--a--b", "/c/models--a--b/c")


# --- the collector's pause ----------------------------------------------------------------------


def test_collector_resumed_after_a_run(fresh_cache: CachedRepo) -> None:
    assert gc.isenabled()
    diagnose(fresh_cache.cache_dir)
    assert gc.isenabled()
    gc.disable()
    try:
        diagnose(fresh_cache.cache_dir)
        assert not gc.isenabled()  # a caller that had it off keeps it off
    finally:
        gc.enable()


def test_collector_pauses_nest_and_survive_errors() -> None:
    with collector_paused():
        assert not gc.isenabled()
        with collector_paused():
            assert not gc.isenabled()
        assert not gc.isenabled()
    assert gc.isenabled()
    with pytest.raises(RuntimeError), collector_paused():
        raise RuntimeError("boom")
    assert gc.isenabled()


def test_collector_pauses_of_threads_resume_it_once() -> None:
    started, release = threading.Barrier(4), threading.Event()

    def hold() -> None:
        with collector_paused():
            started.wait()
            release.wait(5)

    threads = [threading.Thread(target=hold) for _ in range(3)]
    for t in threads:
        t.start()
    started.wait()
    assert not gc.isenabled()
    release.set()
    for t in threads:
        t.join()
    assert gc.isenabled()
