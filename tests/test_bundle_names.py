"""How a blob is named in messages: by the files of its own repo that hold it."""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path

import pytest

from hfcache.bundle import foldertables
from hfcache.bundle.foldertables import KEPT, FolderTables
from hfcache.bundle.install import existing_blob
from hfcache.bundle.manifest import FileEntry, Manifest, RepoEntry
from hfcache.bundle.manifestread import parse, parse_lazy
from hfcache.errors import BundleError


def _repo(folder: str, repo_id: str, files: list[tuple[str, str]]) -> RepoEntry:
    entries = [FileEntry(path, 1, "a" * 64, etag) for path, etag in files]
    return RepoEntry(repo_id, "model", folder, "main", "c" * 40, {}, entries)


def test_a_blob_is_named_by_the_files_its_repo_holds_in_it() -> None:
    m = Manifest(
        "0",
        "now",
        [
            _repo("models--a--b", "a/b", [("z.txt", "1" * 40), ("a.txt", "1" * 40), ("b.bin", "2" * 64)]),
            _repo("models--a--b", "a/b", [("y.txt", "1" * 40), ("c.bin", "3" * 64)]),
            _repo("models--c--d", "c/d", [("a.txt", "1" * 40)]),
        ],
    )
    assert m.files_of("models--a--b", "1" * 40) == "a.txt (and 2 more) of a/b"  # both revisions
    assert FolderTables(m)["models--a--b"].files_of("1" * 40) == "a.txt (and 2 more) of a/b"
    assert m.files_of("models--c--d", "1" * 40) == "a.txt of c/d"  # the same blob, another repo
    assert m.files_of("models--a--b", "3" * 64) == "c.bin of a/b"
    assert m.files_of("models--a--b", "4" * 64) == f"blob {'4' * 64} of a/b"
    assert m.files_of("models--e--f", "1" * 40) == f"blob {'1' * 40} of models--e--f"


def test_existing_blob_looks_for_an_absent_repo_folder_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen: list[str] = []
    real = os.path.isdir
    monkeypatch.setattr(os.path, "isdir", lambda p: (seen.append(str(p)), real(p))[1])
    find = existing_blob(str(tmp_path))
    assert [find("models--a--b", f"{i:040x}") for i in range(100)] == [None] * 100
    assert len(seen) == 1
    blobs = tmp_path / "models--c--d" / "blobs"
    blobs.mkdir(parents=True)
    (blobs / ("e" * 40)).write_bytes(b"x")
    assert find("models--c--d", "e" * 40) == str(blobs / ("e" * 40))


def test_a_manifest_reads_back_as_written_and_strictly() -> None:
    """Read a file and a repo at a time (JSON objects shaped as either become entries as they are
    read): the same manifest back, one string per blob id, and an object shaped like a file or a
    repo where a problem belongs is refused, not taken for either."""
    m = Manifest(
        "0",
        "now",
        [
            _repo("models--a--b", "a/b", [("a.txt", "1" * 40), ("b.bin", "2" * 64)]),
            _repo("models--c--d", "c/d", [("a.txt", "1" * 40)]),
        ],
    )
    back = parse(m.to_bytes())
    assert back == m and back.to_bytes() == m.to_bytes()
    assert back.repos[0].files[0].etag is back.repos[1].files[0].etag
    doc = json.loads(m.to_bytes())
    doc["repos"][0]["problems"] = [{"path": "a.txt", "size": 1, "sha256": "a" * 64, "etag": "1" * 40}]
    with pytest.raises(BundleError, match="bad problems"):
        parse(json.dumps(doc).encode())
    doc["repos"][0]["problems"] = [dict(doc["repos"][1])]  # shaped like a repo
    with pytest.raises(BundleError, match="bad problems"):
        parse(json.dumps(doc).encode())
    doc["repos"][0]["problems"] = []
    doc["repos"][1]["folder"] = "not a folder"  # a repo is checked as soon as it is read
    with pytest.raises(BundleError, match="bad repo folder"):
        parse(json.dumps(doc).encode())
    doc["repos"][1]["folder"] = "models--c--d"
    doc["repos"][0]["files"].append(dict(doc["repos"][0]["files"][0]))
    with pytest.raises(BundleError, match="lists a file twice"):
        parse(json.dumps(doc).encode())
    doc["repos"][0]["files"].pop()
    doc["repos"][0]["files"][0]["sha256"] = "not a digest"
    with pytest.raises(BundleError, match=r"bad sha256 for a\.txt"):
        parse(json.dumps(doc).encode())


def _folders(n: int, files: int) -> Manifest:
    return Manifest(
        "0",
        "now",
        [
            _repo(f"models--o--r{i}", f"o/r{i}", [(f"f{j}.txt", f"{i:02x}{j:038x}") for j in range(files)])
            for i in range(n)
        ],
    )


def test_folder_tables_name_blobs_as_the_manifest_does() -> None:
    m = _folders(3, 4)
    tables = FolderTables(m)
    for folder in m.folders():
        table = tables[folder]
        assert table.carried == m.carried_in(folder) and len(table.carried) == 4
        for etag in table.carried:
            assert table.files_of(etag) == m.files_of(folder, etag)
    assert not tables["models--x--y"].entries and tables["models--x--y"].carried == {}


def test_folders_read_in_turn_are_kept_and_interleaving_is_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    """Revisions with others between them (A B A C A D …) stay in reach; members of many folders
    interleaved member by member make tables again and again, and are refused past a bound."""
    made: list[str] = []
    real = foldertables.FolderTable.__init__

    def counted(self: foldertables.FolderTable, manifest: Manifest, folder: str) -> None:
        made.append(folder)
        real(self, manifest, folder)

    monkeypatch.setattr(foldertables.FolderTable, "__init__", counted)
    m = _folders(KEPT + 2, 200)
    folders = list(m.folders())
    tables = FolderTables(m)
    for other in folders[1:]:
        tables[folders[0]], tables[other]
    assert made == folders  # each made once: the first folder stayed in reach throughout
    tables = FolderTables(m)
    with pytest.raises(BundleError, match="interleaved"):
        for _ in range(200):
            for folder in folders:  # more folders than are kept: every one made again
                tables[folder]


def _both(text: str) -> tuple[Manifest, Manifest]:
    return parse(text), parse_lazy(text)


def test_a_manifest_read_lazily_is_the_manifest_read_whole() -> None:
    """However its JSON is laid out, a manifest read a repo at a time (its text kept, each entry
    made again when asked) is the one read whole, entry for entry."""
    m = Manifest(
        "0",
        "now",
        [
            _repo("models--a--b", "a/b", [("dïr/ä.txt", "1" * 40), ("b.bin", "2" * 64)]),
            _repo("models--c--d", "c/d", [("a.txt", "1" * 40)]),
        ],
    )
    doc = json.loads(m.to_bytes())
    layouts = [
        m.to_bytes().decode(),
        json.dumps(doc, separators=(",", ":")),
        json.dumps(doc, indent="\t", ensure_ascii=True),
        json.dumps({"repos": doc["repos"], **{k: v for k, v in doc.items() if k != "repos"}}),
        " \r\n" + json.dumps(doc, indent=3) + "\n\n",
    ]
    for text in layouts:
        whole, lazy = _both(text)
        assert lazy == whole == m and list(lazy.repos) == list(m.repos)
        assert len(lazy.repos) == 2 and lazy.repos[1] == m.repos[1] and lazy.repos[0:1] == m.repos[0:1]
        assert lazy.carried_in("models--a--b") == m.carried_in("models--a--b")
        assert lazy.repo_id("models--c--d") == "c/d" and lazy.total_bytes == m.total_bytes


@pytest.mark.parametrize(
    "change",
    [
        lambda t: t + " x",  # more after the document
        lambda t: t[:-2],  # cut short
        lambda t: t.replace('"repos": [', '"repos": 5, "repos": [', 1),  # a key twice
        lambda t: t.replace('"created"', '"format": "x", "created"', 1),
        lambda t: t.replace('"commit"', '"tree": false, "commit"', 1),  # twice in a repo
        lambda t: t.replace('"repos": [', '"repos": [7, ', 1),  # an entry that is no object
        lambda t: t.replace('"repos": [', '"repos": [], "other": [', 1),  # no repos
        lambda t: "[" + t + "]",
        lambda t: t.replace("}", "},", 1),
        lambda t: t.replace(": [", ": [,", 1),
        lambda t: t.replace('"now"', "[" * 100_000 + "]" * 100_000, 1),  # deeper than json reads
    ],
)
def test_a_manifest_read_lazily_refuses_what_the_whole_read_refuses(change: Callable[[str], str]) -> None:
    m = Manifest("0", "now", [_repo("models--a--b", "a/b", [("a.txt", "1" * 40)])])
    text = change(json.dumps(json.loads(m.to_bytes())))
    with pytest.raises(BundleError):
        parse(text)
    with pytest.raises(BundleError):
        parse_lazy(text)


def test_a_manifest_shaped_like_a_repo_is_refused_by_both() -> None:
    m = Manifest("0", "now", [_repo("models--a--b", "a/b", [("a.txt", "1" * 40)])])
    doc = json.loads(m.to_bytes())
    doc |= {"folder": "models--a--b", "commit": "c" * 40, "files": []}
    for read in (parse, parse_lazy):
        with pytest.raises(BundleError):
            read(json.dumps(doc))
