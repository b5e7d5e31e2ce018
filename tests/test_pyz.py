"""hfcache.pyz as an admin meets it: one file, run by a Python with no site-packages at all
(``python3 -I -S``), HOME and every cache folder in a temporary directory. It unpacks a bundle
that ``hfcache pack`` made from a real cache, diagnoses the result and serves it with exact bytes;
``pack --with-hfcache`` carries the same pyz beside the bundle, and that copy does the same.

The pyz is built once per session from this environment's libraries (offline, as
``python tools/build_pyz.py`` does), so it carries this interpreter's compiled libraries only:
``pydantic-core`` where typer needs it (0.29 and later), none with an older typer (CI's floors).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from builders import CachedRepo, move_lfs_blobs_to_shared_store, requires_shared_store, with_tree_listing
from mirror import request, running

from hfcache.bundle.pack import pack
from hfcache.pyz import boot, policy, stage
from hfcache.pyz.build import BuildResult, build_pyz
from hfcache.pyz.info import read_pyz

STOCK_PYTHON = str(Path(sys.executable).resolve())  # the interpreter itself, not the venv's link
SHARD = "model-00002-of-00002.safetensors"


@pytest.fixture(scope="session")
def built(tmp_path_factory: pytest.TempPathFactory) -> BuildResult:
    out = tmp_path_factory.mktemp("pyz") / "hfcache.pyz"
    return build_pyz(out)


@pytest.fixture
def pyz(built: BuildResult) -> Path:
    return Path(built.path)


@pytest.fixture
def home(tmp_path: Path) -> Path:
    (tmp_path / "home").mkdir()
    return tmp_path / "home"


@pytest.fixture
def usb(tmp_path: Path) -> Path:
    """The folder carried to the server: the bundle and hfcache.pyz go here."""
    (tmp_path / "usb").mkdir()
    return tmp_path / "usb"


def bare_env(home: Path, **extra: str) -> dict[str, str]:
    """A server's environment: no PYTHON* variables, no token, everything under ``home``."""
    return {
        "PATH": "/usr/bin:/bin",
        "HOME": str(home),
        "XDG_CACHE_HOME": str(home / ".cache"),
        "HF_HOME": str(home / "hf"),
        "LANG": "C.UTF-8",
        **extra,
    }


def run_pyz(
    pyz: Path, *args: str | Path, home: Path, cwd: Path | None = None, **extra: str
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [STOCK_PYTHON, "-I", "-S", str(pyz), *map(str, args)],
        capture_output=True,
        text=True,
        env=bare_env(home, **extra),
        cwd=cwd,
        timeout=300,
    )


def hfcache_cli(*args: str | Path, **env: str) -> subprocess.CompletedProcess[str]:
    """The installed hfcache (``python -m hfcache``), as on the laptop."""
    return subprocess.run(
        [sys.executable, "-m", "hfcache", *map(str, args)],
        capture_output=True,
        text=True,
        env={**os.environ, **env},
        timeout=300,
    )


@pytest.fixture
def bundle(fresh_cache: CachedRepo, tmp_path: Path) -> Path:
    out = tmp_path / "carry" / "rbt.tar"
    out.parent.mkdir()
    pack([fresh_cache.repo_id], str(out), cache_dir=str(fresh_cache.cache_dir))
    return out


def serves_exact_bytes(pyz: Path, home: Path, state: Path, c: CachedRepo, *sources: Path) -> None:
    """``serve`` from the pyz answers /healthz and a /resolve/ download with the cached bytes."""
    command = (STOCK_PYTHON, "-I", "-S", str(pyz))
    with running(*sources, state=state, hfcache=command, env=bare_env(home)) as m:
        status, _, body = request(f"{m.url}/healthz")
        assert status == 200, body
        status, _, body = request(f"{m.url}/{c.repo_id}/resolve/{c.commit}/{SHARD}")
        assert status == 200 and body == c.files[SHARD]


def test_the_build_is_a_deterministic_zipapp_that_says_what_it_carries(built: BuildResult) -> None:
    data = Path(built.path).read_bytes()
    assert data.startswith(b"#!/usr/bin/env python3\n") and os.access(built.path, os.X_OK)
    with zipfile.ZipFile(built.path) as z:
        names = z.namelist()
        assert names == sorted(names) and len(names) == built.entries
        assert {e.date_time for e in z.infolist()} == {(1980, 1, 1, 0, 0, 0)}
        assert z.read("__main__.py") == Path(boot.__file__).read_bytes()
        site = [n for n in names if n.startswith("site/")]
        assert "site/hfcache/cli/pack.py" in site and "site/aiohttp/web.py" in site
        assert not [n for n in site if n.endswith(policy.EXTENSION_SUFFIXES) or "__pycache__" in n]
        native = [n for n in names if n.startswith("native/")]
    info = read_pyz(built.path)
    assert info == built.info and info.source == "env"
    if "pydantic-core" in info.distributions:  # typer 0.29+: carried, for this interpreter
        key = boot.platform_key()
        assert info.natives == (key,) and info.native_dists == (f"pydantic-core {pydantic_core_version()}",)
        assert any(n.startswith(f"native/{key}/pydantic_core/") and n.endswith(".so") for n in native)
    else:
        assert info.natives == () and native == []
    assert {d.split()[0] for d in info.pure_fallbacks} >= {"aiohttp", "yarl", "multidict", "frozenlist"}
    assert {d.split()[0] for d in info.left_out} <= {"hf-xet"} and "hf-xet" not in info.distributions
    assert info.distributions["huggingface-hub"] == __import__("huggingface_hub").__version__


def pydantic_core_version() -> str:
    import importlib.metadata

    return importlib.metadata.version("pydantic-core")


def test_two_builds_are_the_same_bytes(built: BuildResult, tmp_path: Path) -> None:
    again = build_pyz(tmp_path / "again.pyz")
    assert (again.sha256, again.size, again.info.build_id) == (built.sha256, built.size, built.info.build_id)


def test_version_runs_with_no_site_packages_and_names_its_compiled_code(
    built: BuildResult, pyz: Path, home: Path
) -> None:
    isolated = subprocess.run(
        [STOCK_PYTHON, "-I", "-S", "-c", "import typer"], capture_output=True, env=bare_env(home)
    )
    assert isolated.returncode != 0  # nothing of the environment's reaches the pyz
    run = run_pyz(pyz, "--version", home=home)
    assert run.returncode == 0, run.stderr
    first, second = run.stdout.splitlines()
    assert first.startswith("hfcache ") and "huggingface_hub" in first
    key = boot.platform_key() if built.info.natives else boot.ANY_KEY
    compiled = (
        f"compiled pydantic-core {pydantic_core_version()} for {key}" if built.info.natives else "no compiled"
    )
    assert compiled in second and "pure-Python (no C speed-ups): aiohttp" in second
    assert ("without hf-xet" in second) == bool(built.info.left_out)
    unpacked = list((home / ".cache" / "hfcache" / "pyz").iterdir())
    assert [p.name.split("-", 1)[1] for p in unpacked] == [key]
    assert not (home / "hf").exists()  # --version writes nothing but its own unpacked folder


def test_unpack_doctor_and_serve_from_the_pyz(
    pyz: Path, bundle: Path, fresh_cache: CachedRepo, home: Path, tmp_path: Path
) -> None:
    target = tmp_path / "server" / "hub"
    run = run_pyz(pyz, "unpack", bundle, "--cache-dir", target, home=home)
    assert run.returncode == 0, run.stderr
    for args in (("doctor", target), ("doctor", target, "--verify")):
        run = run_pyz(pyz, *args, home=home)
        assert run.returncode == 0, run.stdout + run.stderr
    serves_exact_bytes(pyz, home, tmp_path / "state", fresh_cache, target)


@requires_shared_store
def test_without_hf_xet_xet_hashes_are_said_unchecked_not_failed(
    pyz: Path, fresh_cache: CachedRepo, home: Path
) -> None:
    """A cache whose blobs came through Xet's shared store: the pyz carries no hf_xet, so
    ``doctor --verify`` says each Xet hash was not checked (an info) and still exits 0."""
    moved = move_lfs_blobs_to_shared_store(fresh_cache.cache_dir, with_tree_listing(fresh_cache).repo_folder)
    assert moved
    run = run_pyz(pyz, "doctor", fresh_cache.cache_dir, "--verify", "--json", home=home)
    assert run.returncode == 0, run.stdout + run.stderr
    unchecked = [f for f in json.loads(run.stdout)["findings"] if "Xet hash not checked" in f["message"]]
    assert len(unchecked) == len(moved) and {f["severity"] for f in unchecked} == {"info"}


def test_pack_with_hfcache_carries_a_pyz_that_unpacks_diagnoses_and_serves(
    pyz: Path, fresh_cache: CachedRepo, home: Path, tmp_path: Path, usb: Path
) -> None:
    run = hfcache_cli(
        "pack", fresh_cache.repo_id, "--cache-dir", fresh_cache.cache_dir, "-o", usb / "rbt.tar",
        "--with-hfcache", HFCACHE_PYZ=str(pyz),
    )  # fmt: skip
    assert run.returncode == 0, run.stderr
    carried = usb / "hfcache.pyz"
    assert carried.read_bytes() == pyz.read_bytes() and os.access(carried, os.X_OK)
    said = run.stdout.splitlines()
    assert f"wrote {carried} (" in run.stdout
    assert said[-3:] == [
        "  python3 hfcache.pyz unpack rbt.tar",
        "  python3 hfcache.pyz doctor",
        "  python3 hfcache.pyz serve",
    ]
    # The three commands, as the admin types them, in the folder holding both files.
    for command in ("unpack rbt.tar", "doctor"):
        run = run_pyz(carried, *command.split(), home=home, cwd=usb)
        assert run.returncode == 0, run.stdout + run.stderr
    assert (home / "hf" / "hub" / fresh_cache.repo_folder.name).is_dir()
    serves_exact_bytes(carried, home, tmp_path / "state", fresh_cache)


def test_the_pyz_carries_itself(
    built: BuildResult, pyz: Path, fresh_cache: CachedRepo, home: Path, usb: Path
) -> None:
    run = run_pyz(
        pyz, "pack", fresh_cache.repo_id, "--cache-dir", fresh_cache.cache_dir, "-o", usb / "rbt.tar",
        "--with-hfcache", "--json", home=home,
    )  # fmt: skip
    assert run.returncode == 0, run.stderr
    doc = json.loads(run.stdout)
    assert doc["paths"] == [str(usb / "rbt.tar")]
    assert doc["hfcache_pyz"]["path"] == str(usb / "hfcache.pyz")
    assert doc["hfcache_pyz"]["source"] == str(pyz.resolve())
    assert doc["hfcache_pyz"]["platforms"] == list(built.info.natives) or ["any"]
    assert doc["hfcache_pyz"]["server_commands"][0] == "python3 hfcache.pyz unpack rbt.tar"
    assert (usb / "hfcache.pyz").read_bytes() == pyz.read_bytes()


def test_an_oci_layout_gets_the_pyz_beside_it(
    pyz: Path, fresh_cache: CachedRepo, home: Path, tmp_path: Path, usb: Path
) -> None:
    run = hfcache_cli(
        "pack", fresh_cache.repo_id, "--cache-dir", fresh_cache.cache_dir, "--format", "oci",
        "-o", usb / "rbt.oci", "--with-hfcache", "--json", HFCACHE_PYZ=str(pyz),
    )  # fmt: skip
    assert run.returncode == 0, run.stderr
    unpack, doctor, _ = json.loads(run.stdout)["hfcache_pyz"]["server_commands"]
    assert unpack.startswith("python3 hfcache.pyz unpack oci:rbt.oci:")
    for command in (unpack, doctor):
        run = run_pyz(usb / "hfcache.pyz", *command.split()[2:], home=home, cwd=usb)
        assert run.returncode == 0, run.stdout + run.stderr


def test_with_hfcache_refuses_stdout(pyz: Path, fresh_cache: CachedRepo) -> None:
    run = hfcache_cli("pack", fresh_cache.repo_id, "--cache-dir", fresh_cache.cache_dir, "-o", "-",
                      "--with-hfcache", HFCACHE_PYZ=str(pyz))  # fmt: skip
    assert run.returncode == 2 and run.stdout == ""
    assert run.stderr.count("\n") == 1 and "--with-hfcache" in run.stderr


@pytest.mark.parametrize("source", ["none", "not-a-pyz", "missing"])
def test_without_a_pyz_to_carry_nothing_is_packed(
    fresh_cache: CachedRepo, tmp_path: Path, source: str
) -> None:
    other = tmp_path / "other.zip"
    with zipfile.ZipFile(other, "w") as z:
        z.writestr("__main__.py", "print('hi')\n")
    env = {
        "none": {},
        "not-a-pyz": {"HFCACHE_PYZ": str(other)},
        "missing": {"HFCACHE_PYZ": "/nonexistent/x.pyz"},
    }
    base = {k: v for k, v in os.environ.items() if k != "HFCACHE_PYZ"}
    cache = str(fresh_cache.cache_dir)
    args = ["pack", fresh_cache.repo_id, "--cache-dir", cache, "-o", str(tmp_path / "b.tar")]
    run = subprocess.run(
        [sys.executable, "-m", "hfcache", *args, "--with-hfcache"],
        capture_output=True,
        text=True,
        env={**base, **env[source]},
        timeout=300,
    )
    assert run.returncode == 2 and run.stderr.count("\n") == 1, run.stderr
    assert "HFCACHE_PYZ" in run.stderr if source != "not-a-pyz" else "not an hfcache.pyz" in run.stderr
    assert not (tmp_path / "b.tar").exists() and not (tmp_path / "hfcache.pyz").exists()


def test_another_pyz_beside_the_bundle_needs_force(
    pyz: Path, fresh_cache: CachedRepo, tmp_path: Path
) -> None:
    (tmp_path / "hfcache.pyz").write_bytes(b"an older one")
    args = (
        "pack",
        fresh_cache.repo_id,
        "--cache-dir",
        fresh_cache.cache_dir,
        "-o",
        tmp_path / "b.tar",
        "--with-hfcache",
    )
    run = hfcache_cli(*args, HFCACHE_PYZ=str(pyz))
    assert run.returncode == 2 and "--force" in run.stderr and not (tmp_path / "b.tar").exists()
    run = hfcache_cli(*args, "--force", HFCACHE_PYZ=str(pyz))
    assert run.returncode == 0, run.stderr
    assert (tmp_path / "hfcache.pyz").read_bytes() == pyz.read_bytes()


def _other_pythons() -> Iterator[tuple[int, int, str]]:
    for minor in (10, 12, 13):
        for candidate in (
            f"/usr/bin/python3.{minor}",
            *sorted(Path("/root/.pyenv/versions").glob(f"3.{minor}.*/bin/python3")),
        ):
            if Path(candidate).is_file():
                yield 3, minor, str(candidate)
                break


@pytest.mark.parametrize(
    "major,minor,python",
    list(_other_pythons()) or [pytest.param(0, 0, "", marks=pytest.mark.skip("no other Python here"))],
)
def test_another_python_runs_it_or_is_told_in_one_line_what_it_carries(
    built: BuildResult, home: Path, major: int, minor: int, python: str
) -> None:
    """An offline build carries this interpreter's compiled libraries: another Python is told so
    (a release build carries them for 3.10 to 3.14); a build that needs none runs on a later one."""
    run = subprocess.run(
        [python, "-I", "-S", built.path, "--version"], capture_output=True, text=True, env=bare_env(home)
    )
    if (major, minor) >= built.info.python_min and not built.info.natives:
        assert run.returncode == 0 and run.stdout.startswith("hfcache "), run.stderr
        return
    assert run.returncode == 2 and run.stdout == ""
    assert run.stderr.count("\n") == 1 and "--release" in run.stderr
    too_old = (major, minor) < built.info.python_min
    says = (
        f"needs Python {built.info.python_min[0]}.{built.info.python_min[1]} or later"
        if too_old
        else boot.platform_key()
    )
    assert says in run.stderr


def test_no_folder_to_unpack_into_is_one_line(pyz: Path, home: Path) -> None:
    blocked = home / "a-file"
    blocked.write_text("")
    run = run_pyz(pyz, "--version", home=home, XDG_CACHE_HOME=str(blocked))
    assert run.returncode == 2 and run.stderr.count("\n") == 1 and "HFCACHE_PYZ_CACHE" in run.stderr


def test_a_compiled_library_no_table_names_stops_the_build(tmp_path: Path) -> None:
    fast = policy.SiteDist(
        "fastthing", "1.0", ("fastthing/__init__.py", "fastthing/_c.cpython-311-x86_64-linux-gnu.so")
    )
    with pytest.raises(policy.BuildError, match=r"fastthing 1\.0"):
        policy.apply(tmp_path, [fast], tmp_path / "native")


def _dist_info(site: Path, name: str, version: str, *requires: str) -> None:
    info = site / f"{name}-{version}.dist-info"
    info.mkdir()
    lines = [
        "Metadata-Version: 2.1",
        f"Name: {name}",
        f"Version: {version}",
        *(f"Requires-Dist: {r}" for r in requires),
    ]
    (info / "METADATA").write_text("\n".join(lines) + "\n")


def test_requirements_only_an_older_python_needs_are_added(tmp_path: Path) -> None:
    """pip evaluates markers for the interpreter it runs on; the release build for all of them."""
    _dist_info(tmp_path, "anyio", "4.0", "exceptiongroup>=1.0.2; python_version < '3.11'", "idna>=2.8",
               "pywin32; sys_platform == 'win32'", "hf-xet")  # fmt: skip
    _dist_info(tmp_path, "idna", "3.0")
    assert stage.unmet_requirements(tmp_path) == ["exceptiongroup>=1.0.2"]
    _dist_info(tmp_path, "old", "1.0", "idna>=3.5")
    with pytest.raises(policy.BuildError, match=r"idna 3\.0"):
        stage.unmet_requirements(tmp_path)
