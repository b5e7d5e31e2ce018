"""A cache hfcache may not fully read (another user's, ``chmod 700``): permission problems are
reported as such, and nothing advises deleting or downloading what was merely unseen."""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from builders import CachedRepo

from hfcache.bundle.pack import pack
from hfcache.doctor import diagnose
from hfcache.errors import PackRefusedError

NOBODY = 65534


def _as_another_user(fn: Callable[[], Any]) -> Any:
    """``fn()`` where permissions bind: as root, in a forked child that became ``nobody``."""
    if os.geteuid() != 0:
        return fn()
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: drop root, run, send the result back, and leave without cleanup
        code = 0
        try:
            os.close(read)
            os.setgroups([])
            os.setgid(NOBODY)
            os.setuid(NOBODY)
            os.write(write, json.dumps(fn()).encode())
        except BaseException as e:
            os.write(write, json.dumps({"exception": repr(e)}).encode())
            code = 1
        finally:
            os._exit(code)
    os.close(write)
    with os.fdopen(read, "rb") as f:
        data = f.read()
    os.waitpid(pid, 0)
    return json.loads(data)


@pytest.fixture
def locked_blobs(listed_cache: CachedRepo) -> CachedRepo:
    c = listed_cache
    for folder in [c.cache_dir, *c.cache_dir.parents]:
        if folder == Path("/tmp") or folder == Path("/"):
            break
        folder.chmod(folder.stat().st_mode | 0o055)  # the way down stays open to everyone
    for p in c.repo_folder.rglob("*"):
        if not p.is_symlink():
            p.chmod(p.stat().st_mode | 0o044 | (0o011 if p.is_dir() else 0))
    (c.repo_folder / "blobs").chmod(0o700)
    return c


def test_doctor_calls_it_a_permission_problem(locked_blobs: CachedRepo) -> None:
    if os.geteuid() == 0 and sys.platform != "linux":
        pytest.skip("dropping root is tested on Linux")

    def run() -> list[dict[str, Any]]:
        return [f.to_json() for f in diagnose(locked_blobs.cache_dir).findings]

    findings = _as_another_user(run)
    assert isinstance(findings, list), findings
    primary = [f for f in findings if f["folded_into"] is None]
    assert [f["code"] for f in primary] == ["unreadable"] and "Permission denied" in primary[0]["message"]
    for f in findings:
        assert "hf download" not in f["message"] and "prune" not in f["message"] and f["action"] is None
        if f["code"] != "unreadable":
            assert "not judged" in f["message"]


def test_pack_refuses_with_the_permission_problem_only(locked_blobs: CachedRepo, tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir(mode=0o777)
    out.chmod(0o777)

    def run() -> dict[str, Any]:
        try:
            pack([locked_blobs.repo_id], str(out / "b.tar"), cache_dir=str(locked_blobs.cache_dir))
        except PackRefusedError as e:
            return {"problems": [f.to_json() for f in e.problems]}
        return {"problems": None}

    result = _as_another_user(run)
    problems = result["problems"]
    assert problems and {p["code"] for p in problems} == {"unreadable"}, result
    assert not list(out.iterdir())
