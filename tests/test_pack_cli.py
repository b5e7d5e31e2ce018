"""pack and unpack as an admin meets them: ids like ``hf``, refusals that say why, volumes that fit
FAT32 and can be checked, dry runs and listings, all through the real command line."""

from __future__ import annotations

import json
import os
import pty
import subprocess
import sys
from pathlib import Path

import damage
import pytest
from builders import CachedRepo, cache_repo, cache_two_revisions
from checks import loads_exactly
from standin_hub import StandinHub
from test_cli import hfcache

from hfcache.fs import mounts
from hfcache.repoid import parse_repo_ref
from hfcache.units import human_size

SHARD = "model-00002-of-00002.safetensors"


@pytest.mark.parametrize(
    "bad", ["org/na me", "a--b/c", "x/y/z", "org/name.git", "-org/name", "org/", "org/name@"]
)
def test_a_bad_repo_id_is_one_line_and_exit_2(fresh_cache: CachedRepo, bad: str) -> None:
    run = hfcache("pack", bad, "--cache-dir", fresh_cache.cache_dir, "-o", "-")
    assert run.returncode == 2 and run.stdout == ""
    assert run.stderr.count("\n") == 1 and run.stderr.startswith("hfcache: error: ")


def test_repo_refs_like_hf() -> None:
    assert parse_repo_ref("datasets/acme/ds").repo_type == "dataset"
    assert parse_repo_ref("spaces/acme/app@v1") == parse_repo_ref("acme/app@v1", "space")
    assert parse_repo_ref("acme/m@refs/pr/3").revision == "refs/pr/3"
    assert str(parse_repo_ref("datasets/acme/ds@main")) == "datasets/acme/ds@main"


def test_datasets_prefix_at_revision_and_default_output(hub: StandinHub, tmp_path: Path) -> None:
    c1, _ = cache_two_revisions(hub, tmp_path / "hub")
    ds = hub.unique_repo_id("acme/ds")
    hub.add_commit(ds, {"data.csv": b"a\n1\n"}, repo_type="dataset")
    cache_repo(hub, tmp_path / "hub", ds, repo_type="dataset")
    work = tmp_path / "work"
    work.mkdir()
    args = [
        "pack",
        f"{c1.repo_id}@{c1.commit[:10]}",
        f"datasets/{ds}",
        "--cache-dir",
        tmp_path / "hub",
        "--json",
    ]
    run = subprocess.run(
        [sys.executable, "-m", "hfcache", *map(str, args)], cwd=work, capture_output=True, text=True
    )
    assert run.returncode == 0, run.stderr
    doc = json.loads(run.stdout)
    name = c1.repo_id.rsplit("/", 1)[1]
    assert doc["paths"] == [f"{name}-and-1-more.tar"] and (work / doc["paths"][0]).is_file()
    assert [(r["repo_type"], r["commit"]) for r in doc["repos"]] == [
        ("model", c1.commit),
        ("dataset", doc["repos"][1]["commit"]),
    ]


def test_a_selection_matching_nothing_is_refused(fresh_cache: CachedRepo, tmp_path: Path) -> None:
    run = hfcache(
        "pack",
        fresh_cache.repo_id,
        "--include",
        "nomatch*",
        "--cache-dir",
        fresh_cache.cache_dir,
        "-o",
        tmp_path / "b.tar",
    )
    assert run.returncode == 2 and "matches --include 'nomatch*'" in run.stderr
    assert not list(tmp_path.glob("*.tar*"))


def test_shards_left_out_by_patterns_are_named_as_such(listed_cache: CachedRepo, tmp_path: Path) -> None:
    c = listed_cache
    run = hfcache(
        "pack", c.repo_id, "--exclude", SHARD, "--cache-dir", c.cache_dir, "-o", tmp_path / "b.tar", "--json"
    )
    assert run.returncode == 1
    (problem,) = json.loads(run.stdout)["error"]["problems"]
    assert "leaves it out" in problem["message"] and "--exclude '*.index.json'" in problem["message"]
    assert "hf download" not in problem["message"]
    ok = hfcache(
        "pack",
        c.repo_id,
        "--exclude",
        "model-*",
        "--exclude",
        "*.index.json",
        "--cache-dir",
        c.cache_dir,
        "-o",
        tmp_path / "b.tar",
    )
    assert ok.returncode == 0, ok.stderr


def test_allow_incomplete_leaves_broken_files_out_and_unpack_says_so(
    listed_cache: CachedRepo, tmp_path: Path
) -> None:
    c = listed_cache
    damage.truncate_blob(c, SHARD, 100)
    refused = hfcache("pack", c.repo_id, "--cache-dir", c.cache_dir, "-o", tmp_path / "b.tar")
    assert refused.returncode == 1 and SHARD in refused.stdout + refused.stderr
    packed = hfcache(
        "pack",
        c.repo_id,
        "--cache-dir",
        c.cache_dir,
        "-o",
        tmp_path / "b.tar",
        "--allow-incomplete",
        "--json",
    )
    assert packed.returncode == 0, packed.stderr
    (repo,) = json.loads(packed.stdout)["repos"]
    assert repo["files"] == len(c.files) - 1 and repo["problems"]
    listing = hfcache("unpack", "--list", tmp_path / "b.tar", "-v")
    assert (
        listing.returncode == 0
        and "recorded problem" in listing.stdout
        and SHARD not in listing.stdout.split("recorded")[0]
    )
    check = hfcache("unpack", "--check", tmp_path / "b.tar")
    assert check.returncode == 0 and "left out when packed" in check.stdout


def test_every_corrupt_blob_is_named_at_once(listed_cache: CachedRepo, tmp_path: Path) -> None:
    c = listed_cache
    for name in ("model-00001-of-00002.safetensors", SHARD):
        damage.flip_byte(c.blob(name))  # the last byte: tensor data, the header still reads
    run = hfcache("pack", c.repo_id, "--cache-dir", c.cache_dir, "-o", tmp_path / "b.tar", "--json")
    assert run.returncode == 1
    named = {p["message"].split(" of ")[0] for p in json.loads(run.stdout)["error"]["problems"]}
    assert named == {"model-00001-of-00002.safetensors", SHARD}
    assert not list(tmp_path.glob("*b.tar*"))


def test_no_binary_to_a_terminal_and_a_closed_pipe_is_quiet(fresh_cache: CachedRepo) -> None:
    leader, follower = pty.openpty()
    env = {**os.environ}
    args = ["pack", fresh_cache.repo_id, "--cache-dir", str(fresh_cache.cache_dir), "-o", "-"]
    run = subprocess.run(
        [sys.executable, "-m", "hfcache", *args], stdout=follower, stderr=subprocess.PIPE, text=True, env=env
    )
    os.close(follower)
    os.close(leader)
    assert run.returncode == 2 and "terminal" in run.stderr
    cmd = f"{sys.executable} -m hfcache {' '.join(args)} | head -c 10 >/dev/null"
    piped = subprocess.run(["bash", "-o", "pipefail", "-c", cmd], capture_output=True, text=True, timeout=60)
    assert "Traceback" not in piped.stderr and "Broken pipe" not in piped.stderr


def test_fat32_volumes_and_their_checksum_file(
    fresh_cache: CachedRepo, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = tmp_path / "usb"
    out.mkdir()
    run = hfcache(
        "pack",
        fresh_cache.repo_id,
        "--cache-dir",
        fresh_cache.cache_dir,
        "-o",
        out / "m.tar",
        "--split-size",
        "10K",
    )
    assert run.returncode == 0, run.stderr
    volumes = sorted(out.glob("m.tar.0*"))
    assert len(volumes) >= 3 and (out / "m.tar.sha256").is_file()
    assert subprocess.run(["sha256sum", "-c", "m.tar.sha256"], cwd=out, capture_output=True).returncode == 0
    assert hfcache("unpack", "--check", out / "m.tar").returncode == 0  # the name without .001 works
    second = hfcache("unpack", "--check", volumes[1])
    assert second.returncode == 2 and f"pass the first one, {volumes[0]}" in second.stderr
    damage.flip_byte(volumes[1], 5)
    flipped = hfcache("unpack", "--check", volumes[0])
    assert flipped.returncode == 2 and f"{volumes[1]} does not match" in flipped.stderr
    volumes[1].unlink()
    gone = hfcache("unpack", volumes[0], "--cache-dir", tmp_path / "server")
    assert gone.returncode == 2 and f"volume {volumes[1]} is missing" in gone.stderr
    # A FAT32 target: what it cannot hold is refused before anything is written.
    monkeypatch.setattr(mounts, "filesystem_type", lambda path: "vfat")
    from hfcache.bundle.pack import _fat32_check

    with pytest.raises(Exception, match="FAT32"):
        _fat32_check(str(out / "big.tar"), 4 << 30, 5 << 30)
    _fat32_check(str(out / "big.tar"), (4 << 30) - 1, 5 << 30)


def test_unpack_check_with_a_target_is_a_dry_run(listed_cache: CachedRepo, tmp_path: Path) -> None:
    c = listed_cache
    assert hfcache("pack", c.repo_id, "--cache-dir", c.cache_dir, "-o", tmp_path / "b.tar").returncode == 0
    damage.full_copy(c, "config.json")  # the target's own copy: would be replaced (kept in quarantine)
    before = sorted(p for p in c.cache_dir.rglob("*"))
    run = hfcache("unpack", "--check", tmp_path / "b.tar", "--cache-dir", c.cache_dir, "--json")
    assert run.returncode == 0, run.stderr
    plan = json.loads(run.stdout)["plan"]
    assert plan["write"] == [] and plan["fits"] and plan["bytes_margin"] > 0
    assert [os.path.basename(p) for p in plan["replace"]] == ["config.json"]
    assert plan["skip"]  # every blob is there, verified: nothing to write
    assert sorted(p for p in c.cache_dir.rglob("*")) == before  # nothing written
    fresh = hfcache("unpack", "--check", tmp_path / "b.tar", "--cache-dir", tmp_path / "new")
    assert "would:" in fresh.stdout and "move ref main" in fresh.stdout and not (tmp_path / "new").exists()


@pytest.mark.parametrize("to", ["file", "stdout"])
def test_two_revisions_of_one_repo_in_one_bundle(hub: StandinHub, tmp_path: Path, to: str) -> None:
    c1, c2 = cache_two_revisions(hub, tmp_path / "hub")
    other_id = hub.unique_repo_id()
    hub.add_commit(other_id, {"a.txt": b"another repo between\n"})
    cache_repo(hub, tmp_path / "hub", other_id)
    bundle = tmp_path / "two.tar"
    # The repo's blobs written are remembered across the other repo between its revisions.
    ids = [f"{c1.repo_id}@{c1.commit}", other_id, f"{c1.repo_id}@{c2.commit}"]
    args = ["pack", *ids, "--cache-dir", str(tmp_path / "hub"), "-o", str(bundle) if to == "file" else "-"]
    out = bundle.open("wb") if to == "stdout" else None  # stdout: the streamed way; a file: the direct way
    command = [sys.executable, "-m", "hfcache", *args]
    run = subprocess.run(command, stdout=out, stderr=subprocess.PIPE, text=True)
    if out is not None:
        out.close()
    assert run.returncode == 0, run.stderr
    names = subprocess.run(["tar", "-tf", bundle], capture_output=True, text=True, check=True).stdout.split()
    folder = "models--" + c1.repo_id.replace("/", "--")
    blobs = [n for n in names if n.startswith(f"{folder}/blobs/")]
    assert (
        len(blobs) == len(set(blobs)) == len(set(c1.files.values()) | set(c2.files.values()))
    )  # shared once
    server = tmp_path / "server"
    done = hfcache("unpack", bundle, "--cache-dir", server, "--json")
    assert done.returncode == 0, done.stderr
    from builders import CachedRepo as Repo
    from checks import loads_exactly

    for c in (c1, c2):
        loads_exactly(Repo(c.hub, server, c.repo_id, c.repo_type, c.commit, c.files), revision=c.commit)
    plain = hfcache("unpack", bundle, "--local-dir", tmp_path / "plain")
    assert plain.returncode == 0, plain.stderr
    for c in (c1, c2):
        folder = tmp_path / "plain" / f"{c.repo_id}@{c.commit[:12]}"
        assert (folder / "README.md").read_bytes() == c.files["README.md"]


def test_list_of_a_bundle_cut_short_shows_the_manifest_and_says_so(
    fresh_cache: CachedRepo, tmp_path: Path
) -> None:
    c = fresh_cache
    bundle = tmp_path / "b.tar"
    assert hfcache("pack", c.repo_id, "--cache-dir", c.cache_dir, "-o", bundle).returncode == 0
    cut = tmp_path / "cut.tar"
    cut.write_bytes(bundle.read_bytes()[: bundle.stat().st_size * 2 // 3])
    listing = hfcache("unpack", "--list", cut, "-v")
    assert listing.returncode == 1, listing.stderr
    assert f"{c.repo_id} @ {c.commit}" in listing.stdout and SHARD in listing.stdout
    assert "CUT SHORT: the bundle is cut short inside " in listing.stdout
    assert "(not in the bundle: cut short)" in listing.stdout
    doc = json.loads(hfcache("unpack", "--list", cut, "--json").stdout)
    assert doc["repos"][0]["commit"] == c.commit and doc["truncated"].startswith("the bundle is cut short")
    assert {f["path"] for f in doc["missing_files"]} == set(c.files)  # the links come last
    whole = json.loads(hfcache("unpack", "--list", bundle, "--json").stdout)
    assert whole["truncated"] is None and whole["missing_files"] == []


def test_missing_last_volumes_and_a_damaged_one_are_named(fresh_cache: CachedRepo, tmp_path: Path) -> None:
    c = fresh_cache
    out = tmp_path / "usb"
    out.mkdir()
    packed = hfcache(
        "pack", c.repo_id, "--cache-dir", c.cache_dir, "-o", out / "m.tar", "--split-size", "16K"
    )
    assert packed.returncode == 0, packed.stderr
    volumes = sorted(out.glob("m.tar.0*"))
    damage.flip_byte(volumes[1], 5)
    for args in ((), ("--check",)):  # plain unpack names the damaged volume as --check does
        run = hfcache("unpack", *args, volumes[0], "--cache-dir", tmp_path / "server")
        assert run.returncode == 2
        assert run.stderr == f"hfcache: error: {volumes[1]} does not match {out / 'm.tar.sha256'}: " + (
            "the copy is damaged, copy it again\n"
        )
    damage.flip_byte(volumes[1], 5)
    (out / "m.tar.sha256").unlink()
    volumes[-1].unlink()  # the last volume never made it, and nothing lists the volumes
    for args in ((), ("--check",), ("--list",)):
        run = hfcache("unpack", *args, volumes[0], "--cache-dir", tmp_path / "server")
        assert run.returncode == (1 if args == ("--list",) else 2)
        assert f"the last volume(s) after {volumes[-2]} are missing" in run.stdout + run.stderr
    for v in volumes[2:-1]:  # far too little left: said from the sizes before any blob is read
        v.unlink()
    run = hfcache("unpack", volumes[0], "--cache-dir", tmp_path / "server")
    assert run.returncode == 2 and f"the last volume(s) after {volumes[1]} are missing" in run.stderr
    assert "what its manifest lists needs at least" in run.stderr
    assert not (tmp_path / "server").exists()


def test_a_refusal_names_each_file_once_and_the_way_out(listed_cache: CachedRepo, tmp_path: Path) -> None:
    """A truncated shard is seen by two checks (blob size, safetensors header): one line about it."""
    c = listed_cache
    damage.truncate_blob(c, SHARD, 100)
    run = hfcache("pack", c.repo_id, "--cache-dir", c.cache_dir, "-o", tmp_path / "b.tar")
    assert run.returncode == 1
    *problems, error = run.stderr.splitlines()
    assert len(problems) == 1 and problems[0].count(SHARD) >= 1 and "(also: " in problems[0]
    assert error.startswith("hfcache: error: 1 file(s) cannot be packed") and "--allow-incomplete" in error
    doc = json.loads(
        hfcache("pack", c.repo_id, "--cache-dir", c.cache_dir, "-o", tmp_path / "x.tar", "--json").stdout
    )
    found = doc["error"]["problems"]
    assert len(found) == 2 and sum(p["folded_into"] is None for p in found) == 1  # every finding kept
    allowed = hfcache(
        "pack", c.repo_id, "--cache-dir", c.cache_dir, "-o", tmp_path / "b.tar", "--allow-incomplete"
    )
    assert allowed.returncode == 0 and allowed.stdout.count("left out (--allow-incomplete)") == 1


def test_where_the_bundle_went_is_said_plainly(fresh_cache: CachedRepo, tmp_path: Path) -> None:
    c = fresh_cache
    args = ["pack", c.repo_id, "--cache-dir", str(c.cache_dir), "-o", "-"]
    piped = subprocess.run([sys.executable, "-m", "hfcache", *args], capture_output=True, timeout=120)
    assert piped.returncode == 0 and piped.stdout.startswith(c.repo_folder.name.encode())  # the tar
    assert f"wrote {human_size(len(piped.stdout))} to standard output\n" in piped.stderr.decode()
    split = hfcache(
        "pack", c.repo_id, "--cache-dir", c.cache_dir, "-o", tmp_path / "m.tar", "--split-size", "8K"
    )
    assert split.returncode == 0, split.stderr
    volumes = sorted(str(p) for p in tmp_path.glob("m.tar.0*"))
    assert len(volumes) > 3
    assert f"to {volumes[0]} … {volumes[-1]} ({len(volumes)} volumes)\n" in split.stdout
    assert volumes[1] not in split.stdout


def test_a_plain_tar_of_a_cache_gets_the_commands_that_install_it(
    fresh_cache: CachedRepo, tmp_path: Path
) -> None:
    c = fresh_cache
    plain = tmp_path / "cache.tar"
    subprocess.run(["tar", "-cf", plain, "-C", c.cache_dir, c.repo_folder.name], check=True)
    server = tmp_path / "server"
    for args, hub in (
        (("--cache-dir", server), str(server)),
        (("--check",), "<hub cache>"),
        (("--list",), "<hub cache>"),
    ):
        run = hfcache("unpack", plain, *args)
        assert run.returncode == 2 and run.stdout == "" and run.stderr.count("\n") == 1, run.stderr
        assert "plain tar of a Hugging Face cache, not an hfcache bundle" in run.stderr
        assert run.stderr.endswith(f"tar -xf {plain} -C {hub}, then hfcache doctor {hub}\n")
    assert not server.exists()
    server.mkdir()
    subprocess.run(["tar", "-xf", plain, "-C", server], check=True)  # the hint, as printed
    assert hfcache("doctor", server).returncode == 0
    loads_exactly(CachedRepo(c.hub, server, c.repo_id, c.repo_type, c.commit, c.files))
