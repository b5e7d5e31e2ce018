"""The command line as a user meets it: a real process, stdout and stderr apart, exit codes."""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import damage
import pytest
from builders import CachedRepo
from checks import loads_exactly

ROOT = Path(__file__).resolve().parent.parent
FINDING_KEYS = {"code", "severity", "path", "message", "fixable"}


def hfcache(*args: str | Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "hfcache", *map(str, args)],
        capture_output=True,
        text=True,
        env={**os.environ, **(env or {})},
        timeout=120,
    )


def test_clean_cache_exits_0(fresh_cache: CachedRepo) -> None:
    run = hfcache("doctor", fresh_cache.cache_dir)
    assert run.returncode == 0, run.stderr
    assert "No problems found" in run.stdout


def test_json_document_and_exit_1(fresh_cache: CachedRepo) -> None:
    c = fresh_cache
    damage.backslash_link(c, "config.json")
    run = hfcache("doctor", c.cache_dir, "--json")
    assert run.returncode == 1
    doc = json.loads(run.stdout)
    (finding,) = doc["findings"]
    assert finding.keys() >= FINDING_KEYS
    assert finding["code"] == "link-backslash" and finding["fixable"] is True
    assert os.path.isabs(finding["path"])
    assert doc["summary"]["errors"] == 1
    assert [a["step"] for a in doc["plan"]] == ["link"]
    assert os.readlink(c.snapshot / "config.json").count("\\")  # without --fix nothing was written


def test_fix_json_reports_what_was_done(fresh_cache: CachedRepo) -> None:
    c = fresh_cache
    damage.git_link_text(c, "config.json")
    run = hfcache("doctor", c.cache_dir, "--fix", "--json")
    assert run.returncode == 0, run.stdout + run.stderr
    doc = json.loads(run.stdout)
    assert doc["findings"] == []
    (before,) = doc["findings_before"]
    assert before["code"] == "entry-link-text" and before["fixed"] is True
    (action,) = doc["actions"]
    assert action["status"] == "done" and len(action["quarantined"]) == 1
    loads_exactly(c)


def test_fix_human_output(fresh_cache: CachedRepo) -> None:
    damage.full_copy(fresh_cache, "tokenizer.json")
    run = hfcache("doctor", fresh_cache.cache_dir, "--fix", "--json")
    assert run.returncode == 0 and json.loads(run.stdout)["actions"][0]["step"] == "adopt-copy"
    damage.full_copy(fresh_cache, "tokenizer.json")
    run = hfcache("doctor", fresh_cache.cache_dir, "--fix")
    assert run.returncode == 0
    lines = run.stdout.splitlines()
    done = "replaced 1 full copy(ies) with links to the verified blobs (same bytes): tokenizer.json"
    assert lines[0] == fresh_cache.repo_id and done in lines[1]
    assert "Reclaimed" in run.stdout and "repaired 1, 0 left" in run.stdout
    damage.full_copy(fresh_cache, "tokenizer.json")
    table = hfcache("doctor", fresh_cache.cache_dir, "--fix", "-v")
    assert "replaced by a link to the verified" in table.stdout and fresh_cache.repo_id in table.stdout


def test_verify_human_output_and_quiet_stderr(fresh_cache: CachedRepo) -> None:
    run = hfcache("doctor", fresh_cache.cache_dir, "--verify")
    assert run.returncode == 0
    assert "hashed" in run.stdout
    assert run.stderr == ""  # no progress bar when stderr is not a terminal


@pytest.mark.parametrize("args", [("doctor", "/no/such/path"), ("doctor", "/etc/hostname")])
def test_bad_input_is_one_line_and_exit_2(args: tuple[str, ...]) -> None:
    run = hfcache(*args)
    assert run.returncode == 2
    assert run.stdout == ""
    assert run.stderr.count("\n") == 1 and run.stderr.startswith("hfcache: error:")
    assert "Traceback" not in run.stderr
    run = hfcache(*args, "--json")
    assert run.returncode == 2
    assert json.loads(run.stdout)["error"]["code"] == "bad-input"
    assert run.stderr.count("\n") == 1 and run.stderr.startswith("hfcache: error:")
    assert "Traceback" not in run.stderr


@pytest.mark.parametrize(
    ("where", "code"),
    [("no/such/dir/b.tar", 2), ("dir-not-file", 2)],
)
def test_pack_output_that_cannot_be_written_is_one_line(
    fresh_cache: CachedRepo, tmp_path: Path, where: str, code: int
) -> None:
    """An OSError (here: no such folder, a folder in the way) ends as one line, never a traceback."""
    (tmp_path / "dir-not-file").mkdir()
    c = fresh_cache
    run = hfcache("pack", c.repo_id, "--cache-dir", c.cache_dir, "-o", tmp_path / where)
    assert run.returncode == code
    assert run.stderr.count("\n") == 1 and run.stderr.startswith("hfcache: error:"), run.stderr
    assert str(tmp_path) in run.stderr


def test_no_path_uses_hf_home(fresh_cache: CachedRepo) -> None:
    """With no PATH, the cache is found as huggingface_hub finds it: here HF_HOME/hub."""
    home = fresh_cache.cache_dir.parent
    env = {k: v for k, v in os.environ.items() if k not in ("HF_HUB_CACHE", "HUGGINGFACE_HUB_CACHE")}
    run = subprocess.run(
        [sys.executable, "-m", "hfcache", "doctor", "--json"],
        capture_output=True,
        text=True,
        env={**env, "HF_HOME": str(home)},
        timeout=120,
    )
    assert run.returncode == 0, run.stderr
    assert json.loads(run.stdout)["cache_dir"] == str(home / "hub")


def test_quick_start_example_cache_is_broken_in_the_documented_ways() -> None:
    run = hfcache("doctor", ROOT / "examples" / "broken-cache", "--json")
    assert run.returncode == 1
    found = {f["code"] for f in json.loads(run.stdout)["findings"]}
    assert found == {
        "ref-malformed",
        "link-backslash",
        "entry-link-text",
        "entry-lfs-pointer",
        "link-missing-blob",
        "entry-full-copy",
        "entry-lnk-shortcut",
    }


def test_version_and_help() -> None:
    assert hfcache("--version").stdout.startswith("hfcache ")
    run = hfcache("doctor", "--help")
    assert run.returncode == 0 and "--verify" in run.stdout


def test_an_empty_or_fresh_cache_is_no_models_yet(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    fresh = {k: v for k, v in os.environ.items() if k not in ("HF_HUB_CACHE", "HUGGINGFACE_HUB_CACHE")}
    fresh["HF_HOME"] = str(tmp_path / "never-used")
    default = subprocess.run(
        [sys.executable, "-m", "hfcache", "doctor"], capture_output=True, text=True, env=fresh
    )
    for run in (hfcache("doctor", tmp_path / "empty"), default):
        assert run.returncode == 0, run.stderr
        assert run.stdout.splitlines()[-1] == "No models cached yet."
    assert not (tmp_path / "never-used").exists()
    assert hfcache("doctor", tmp_path / "not-there").returncode == 2  # a path typed wrong is still bad input


@pytest.mark.parametrize("command", ["doctor", "pack", "unpack", "quarantine", "serve", "inspect", "fit"])
def test_help_has_examples_exit_codes_and_plain_metavars(command: str) -> None:
    run = hfcache(command, "--help", env={"COLUMNS": "100"})
    assert run.returncode == 0
    text = run.stdout
    assert "Examples:" in text and "Exit codes:" in text and f"hfcache {command}" in text
    assert not re.search(
        r"<(bool|str|int|float|path|list\[\w+\])>|\{[A-Z_]+|\[\[", text
    )  # no <bool>, <list[str]>, {REPO_ID...}, [[X]]
    assert all(line == line.rstrip() for line in text.splitlines())
    if command == "pack":
        assert "[model|dataset|space]" in text


def _limited(limit_kib: int, *args: str | Path) -> subprocess.CompletedProcess[str]:
    """hfcache under ``ulimit -f``: a real write error (EFBIG) once a file grows past the limit."""
    command = " ".join(shlex.quote(str(a)) for a in (sys.executable, "-m", "hfcache", *args))
    return subprocess.run(
        ["bash", "-c", f"ulimit -f {limit_kib}; exec {command}"], capture_output=True, text=True, timeout=120
    )


def test_errors_name_files_as_the_user_knows_them(fresh_cache: CachedRepo, tmp_path: Path) -> None:
    """Writes go through hidden temporaries; a write that fails names the file the user asked for:
    the volume, the checksum file, the target of an unpack."""
    c = fresh_cache
    out = tmp_path / "usb"
    out.mkdir()
    volume = _limited(
        8, "pack", c.repo_id, "--cache-dir", c.cache_dir, "--split-size", "16K", "-o", out / "b.tar"
    )
    assert (
        volume.returncode == 1 and volume.stderr == f"hfcache: error: File too large: {out / 'b.tar.001'}\n"
    )
    sums = _limited(
        1, "pack", c.repo_id, "--cache-dir", c.cache_dir, "--split-size", "512", "-o", out / "c.tar"
    )
    assert sums.returncode == 1 and sums.stderr == f"hfcache: error: File too large: {out / 'c.tar.sha256'}\n"
    assert os.listdir(out) == []  # and nothing that looks like a bundle is left
    assert hfcache("pack", c.repo_id, "--cache-dir", c.cache_dir, "-o", tmp_path / "b.tar").returncode == 0
    for option in ("--cache-dir", "--local-dir"):
        target = tmp_path / f"server{option}"
        staged = _limited(8, "unpack", tmp_path / "b.tar", option, target)
        assert staged.returncode == 1 and staged.stderr == f"hfcache: error: File too large: {target}\n"


def test_the_top_help_lists_every_command_plainly() -> None:
    run = hfcache("--help", env={"COLUMNS": "100"})
    assert run.returncode == 0
    for command in ("doctor", "pack", "unpack", "quarantine", "serve", "inspect", "fit"):
        assert f"  {command} " in run.stdout
    assert "<bool>" not in run.stdout and "..." not in run.stdout.split("Commands:")[1]


def test_bare_hfcache_prints_its_help_once() -> None:
    run = hfcache()
    assert run.returncode == 0 and run.stderr == ""
    assert run.stdout.count("Usage: hfcache") == 1 and "see hfcache --help" not in run.stdout


@pytest.mark.parametrize(
    ("args", "command"),
    [(("doctor", "--bogus"), "hfcache doctor"), (("pack",), "hfcache pack"), (("--bogus",), "hfcache")],
)
def test_a_usage_error_points_at_its_own_commands_help(args: tuple[str, ...], command: str) -> None:
    run = hfcache(*args)
    assert run.returncode == 2 and run.stdout == ""
    assert run.stderr.count("\n") == 1 and run.stderr.rstrip().endswith(f"(see {command} --help)"), run.stderr


def test_a_mistyped_repo_id_gets_a_did_you_mean(fresh_cache: CachedRepo, tmp_path: Path) -> None:
    c = fresh_cache
    typo = c.repo_id.replace("tiny", "tiyn")
    for args in (
        ("inspect", typo, "--cache-dir", c.cache_dir),
        ("fit", typo, "--cache-dir", c.cache_dir, "--no-gpu"),
        ("pack", typo, "--cache-dir", c.cache_dir, "-o", tmp_path / "x.tar"),
        ("inspect", c.repo_id.upper(), "--cache-dir", c.cache_dir),
    ):
        run = hfcache(*args)
        assert run.returncode == 2 and f"did you mean {c.repo_id}?" in run.stderr, (args, run.stderr)


def test_inspect_of_a_folder_with_no_model_is_bad_input_as_for_doctor(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("not a model\n")
    for command in ("inspect", "doctor", "fit"):
        run = hfcache(command, tmp_path)
        assert run.returncode == 2 and "not a Hugging Face cache" in run.stderr, (command, run.stderr)
