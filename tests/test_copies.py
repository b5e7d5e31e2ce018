"""One truth about a copied cache: what the client concludes, doctor, inspect, fit and pack agree.

A cache downloaded by the installed huggingface_hub is copied the ways people copy one
(``copies.py``: real ``rsync -r``, a Windows zip unpacked by real ``unzip``, real ``cp -rL``, and
huggingface_hub's own no-symlink download), and every verdict is taken through the real command
line.  The judge is the client itself, offline in its own process: does
``snapshot_download(local_files_only=True)`` succeed and do the config, the weights and the
tokenizer load from the copy?

* doctor exits 0 only on a copy the client loads; on one it cannot, exit 1 with an error;
* no finding advises deleting or pruning the only copy of a file the revision uses;
* ``inspect`` is never clean, ``fit`` never plans and ``pack`` always refuses, when doctor found
  errors or the client fails (and they inspect, plan and pack a copy that loads);
* ``doctor <snapshot folder> --fix`` repairs that repo, so the client loads it afterwards.

Each copy is taken of the sharded model twice: with the revision's tree listing (as 2.x clients
write it; ``listed_cache`` writes it on older ones) and without one (as every client before the
listings wrote it; the listing is dropped on newer ones).
"""

from __future__ import annotations

import json
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import damage
import pytest
from builders import CachedRepo, with_tree_listing
from checks import client_loads, delete_advice, loads_exactly
from copies import COPIES, moved, windows_zip
from test_cli import hfcache

SHARDS = ["model-00001-of-00002.safetensors", "model-00002-of-00002.safetensors"]
# What a repair can tell apart by content alone, without a listing: the index names the shards,
# a safetensors header its tensors, config and tokenizer files their own shape.
IDENTIFIABLE = ["config.json", "model.safetensors.index.json", *SHARDS, "tokenizer.json"]


@dataclass(frozen=True)
class Copied:
    """A cache copied by ``method``; ``repo`` describes the sharded model in the copy."""

    method: str
    listing: bool
    repo: CachedRepo

    @property
    def cache(self) -> Path:
        return self.repo.cache_dir

    def __str__(self) -> str:
        return f"{self.method} ({'with' if self.listing else 'without'} a tree listing)"


@pytest.fixture(params=["listing", "no-listing"])
def source(request: pytest.FixtureRequest, fresh_cache: CachedRepo) -> CachedRepo:
    """The sharded model as downloaded, with its tree listing (``listed_cache``) or without one."""
    if request.param == "listing":
        return request.getfixturevalue("listed_cache")  # type: ignore[no-any-return]
    damage.drop_tree_listings(fresh_cache)
    return fresh_cache


@pytest.fixture(params=list(COPIES))
def copied(request: pytest.FixtureRequest, source: CachedRepo, tmp_path: Path) -> Copied:
    method = str(request.param)
    listing = (source.repo_folder / "trees").is_dir()
    repo = moved(source, COPIES[method](source, tmp_path / f"copy-{method}"))
    # The no-symlink download is a new download: give it the listing state of its source.
    if listing:
        with_tree_listing(repo)
    else:
        damage.drop_tree_listings(repo)
    return Copied(method, listing, repo)


def doctor_json(*args: str | Path) -> tuple[int, dict[str, Any]]:
    run = hfcache("doctor", *args, "--json")
    assert run.returncode in (0, 1), run.stdout + run.stderr
    return run.returncode, json.loads(run.stdout)


def errors(doc: dict[str, Any]) -> list[dict[str, Any]]:
    return [f for f in doc["findings"] if f["severity"] == "error"]


def summary(doc: dict[str, Any]) -> str:
    return "\n".join(f"{f['severity']} {f['code']}: {f['message']}" for f in doc["findings"]) or "(none)"


def test_the_copy_is_what_the_tool_leaves(copied: Copied) -> None:
    """The copies themselves, checked against what each tool is known to do to links."""
    c, snap = copied.repo, copied.repo.snapshot
    entries = {n: snap / n for n in c.files}
    assert (c.repo_folder / "refs" / "main").read_text() == c.commit
    assert not any(p.is_symlink() for p in c.cache_dir.rglob("*")), "every copy here leaves no link"
    if copied.method == "rsync-r":
        assert snap.is_dir() and not any(p.is_file() for p in snap.rglob("*"))
        assert (snap / "sub" / "dir").is_dir()  # the folders arrive, the links do not
        assert all(c.blob(n).read_bytes() == data for n, data in c.files.items())
    elif copied.method == "windows-zip":
        for name, path in entries.items():
            depth = name.count("/")
            assert path.read_text() == "..\\" * (2 + depth) + "blobs\\" + c.blob(name).name
        assert all(c.blob(n).read_bytes() == data for n, data in c.files.items())
    elif copied.method == "cp-rL":
        assert all(entries[n].read_bytes() == data for n, data in c.files.items())
        assert all(c.blob(n).read_bytes() == data for n, data in c.files.items())
    else:
        assert all(entries[n].read_bytes() == data for n, data in c.files.items())
        assert list((c.repo_folder / "blobs").iterdir()) == []  # the client moved every blob away
    loads, why = client_loads(c.cache_dir, c.repo_id)
    assert loads is (copied.method in ("cp-rL", "windows-no-symlinks")), why


def test_doctor_exits_0_only_when_the_client_loads(copied: Copied) -> None:
    loads, why = client_loads(copied.cache, copied.repo.repo_id)
    rc, doc = doctor_json(copied.cache)
    if loads:
        assert rc == 0 and not errors(doc), f"{copied}: the client loads it, doctor said:\n{summary(doc)}"
    else:
        assert rc == 1 and errors(doc), (
            f"{copied}: the client fails ({why}), doctor exit {rc} with:\n{summary(doc)}"
        )
    if copied.method == "cp-rL":  # valid, but every file stored twice: notes, with space to reclaim
        assert doc["findings"] and doc["summary"]["reclaimable"] > 0, (
            f"{copied}: reclaimable {doc['summary']['reclaimable']} with:\n{summary(doc)}"
        )


def test_no_advice_deletes_the_only_copy(copied: Copied) -> None:
    _, doc = doctor_json(copied.cache)
    assert delete_advice(copied.repo, doc) == []


def broken(copied: Copied) -> str:
    """Why the revision is broken, by doctor's errors or the client's failure; "" when it is not.
    (Doctor and the client agreeing is the test above; here each command must agree with both.)"""
    rc, doc = doctor_json(copied.cache)
    if errors(doc):
        return f"doctor found:\n{summary(doc)}"
    loads, why = client_loads(copied.cache, copied.repo.repo_id)
    return "" if loads else f"the client fails ({why}); doctor exit {rc} with:\n{summary(doc)}"


def test_inspect_is_never_clean_when_the_revision_is_broken(copied: Copied) -> None:
    c = copied.repo
    why = broken(copied)
    run = hfcache("inspect", c.repo_id, "--cache-dir", c.cache_dir, "--json")
    assert run.returncode in (0, 1), run.stdout + run.stderr
    inspected = json.loads(run.stdout)
    if why:
        assert not (run.returncode == 0 and inspected["findings"] == []), (
            f"{copied}: {why}\nbut inspect exits 0 with no finding ({inspected['totals']['files']} files)"
        )
        human = hfcache("inspect", c.repo_id, "--cache-dir", c.cache_dir)
        assert "No problems found" not in human.stdout, human.stdout
    else:
        assert run.returncode == 0, f"{copied}: the copy loads, inspect said {inspected['findings']}"


def test_fit_has_no_plan_when_the_revision_is_broken(copied: Copied) -> None:
    c = copied.repo
    why = broken(copied)
    run = hfcache("fit", c.repo_id, "--cache-dir", c.cache_dir, "--no-gpu", "--ram", "64GiB", "--json")
    plan = json.loads(run.stdout)
    if why:
        assert run.returncode == 1 and plan.get("no_plan"), (
            f"{copied}: {why}\nbut fit exits {run.returncode}: {run.stdout}{run.stderr}"
        )
        assert plan["verdict"] == "no-plan" and plan["fits"] is not True
    else:
        assert run.returncode == 0 and plan.get("no_plan") is None and plan["fits"], (
            f"{copied}: the copy loads, fit exits {run.returncode}: {run.stdout}{run.stderr}"
        )


def test_pack_carries_every_file_or_refuses(copied: Copied, tmp_path: Path) -> None:
    """A bundle carries each file's verified bytes, whatever links to them: from a copy whose links
    broke over intact blobs pack writes a complete bundle and says the cache itself needs --fix;
    it refuses (exit 1, the revision's real problem) only when the files cannot all be carried."""
    c = copied.repo
    why = broken(copied)
    bundle = tmp_path / "x.tar"
    run = hfcache("pack", c.repo_id, "--cache-dir", c.cache_dir, "-o", bundle)
    assert "no file matches the selection" not in run.stdout + run.stderr
    if run.returncode != 0:
        assert run.returncode == 1 and why and not bundle.exists(), f"{copied}: {run.stdout}{run.stderr}"
        assert copied.method == "rsync-r" and not copied.listing, f"{copied}: refused: {run.stderr}"
        return
    target = tmp_path / "unpacked"
    unpacked = hfcache("unpack", bundle, "--cache-dir", target)
    assert unpacked.returncode == 0, unpacked.stdout + unpacked.stderr
    loads_exactly(moved(c, target))
    assert not why or "the cache's own copy has" in run.stdout, f"{copied}: {why}, pack said: {run.stdout}"


def fixed(run: subprocess.CompletedProcess[str]) -> str:
    """What ``doctor --fix --json`` found and did, one line each."""
    doc = json.loads(run.stdout)
    before = [f"{f['severity']} {f['code']}: {f['message']}" for f in doc.get("findings_before", [])]
    done = [f"{a['step']} {a['status']}: {a.get('description', '')}" for a in doc.get("actions", [])]
    return "\n".join([f"doctor --fix exit {run.returncode}", *before, *done, "left:", summary(doc)])


def test_doctor_on_the_snapshot_folder_repairs_the_repo(copied: Copied) -> None:
    c = copied.repo
    fix = hfcache("doctor", c.snapshot, "--fix", "--json")
    assert fix.returncode in (0, 1), fix.stdout + fix.stderr
    loads, why = client_loads(c.cache_dir, c.repo_id)
    assert loads, f"{copied}: after doctor <snapshot> --fix the client fails: {why}\n{fixed(fix)}"
    restorable = sorted(c.files) if copied.listing or copied.method != "rsync-r" else IDENTIFIABLE
    loads_exactly(c, restorable)
    rc, doc = doctor_json(c.cache_dir)
    assert not errors(doc), f"{copied}: the client loads, doctor after --fix:\n{summary(doc)}"
    if restorable == IDENTIFIABLE:  # the rest could not be named: the revision may still lack them
        (left,) = [f for f in doc["findings"] if f["severity"] == "warning"]
        assert rc == 1 and left["code"] == "revision-stranded" and "hf download" in left["message"]
    else:
        assert rc == 0, f"{copied}: doctor after --fix:\n{summary(doc)}"
    assert delete_advice(c, doc) == []


@pytest.mark.parametrize("listing", [True, False], ids=["listing", "no-listing"])
def test_link_text_with_forward_slashes_is_found_and_relinked(
    fresh_cache: CachedRepo, tmp_path: Path, listing: bool
) -> None:
    """The zip's link texts written with ``/`` (an archiver or sync tool that keeps the POSIX
    target): the same story as with backslashes."""
    source = with_tree_listing(fresh_cache) if listing else fresh_cache
    if not listing:
        damage.drop_tree_listings(source)
    c = moved(source, windows_zip(source, tmp_path / "copy", separator="/"))
    assert (c.snapshot / "config.json").read_text() == f"../../blobs/{c.blob('config.json').name}"
    assert not client_loads(c.cache_dir, c.repo_id)[0]
    rc, doc = doctor_json(c.cache_dir)
    assert rc == 1 and errors(doc), summary(doc)
    assert delete_advice(c, doc) == []
    fix = hfcache("doctor", c.snapshot, "--fix", "--json")
    loads, why = client_loads(c.cache_dir, c.repo_id)
    assert loads, f"after doctor <snapshot> --fix the client fails: {why}\n{fixed(fix)}"
    loads_exactly(c)
    assert doctor_json(c.cache_dir)[0] == 0
