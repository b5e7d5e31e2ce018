"""Gather hfcache and its runtime libraries into a staging folder, with pip.

hfcache itself comes from the source checkout (:func:`stage_hfcache`: ``pip install --no-index
--no-build-isolation``, offline). Its libraries come from one of two sources, into one result (a
``site/`` folder laid out as ``pip install --target`` lays it out):

* :func:`stage_env` takes the libraries installed in the running environment, the very
  versions its tests ran with, and needs no network: each library's files are copied as its
  installed ``RECORD`` lists them. Its pyz runs on this interpreter's version and platform (it
  carries only this interpreter's compiled libraries).
* :func:`stage_release` resolves hfcache's requirements from the package index with
  ``pip install --target --platform --python-version`` for the oldest Python supported, so the
  versions it picks run on all of them, then adds what pip leaves out: pip evaluates environment
  markers for the running interpreter, not the target, so dependencies only an older Python
  needs (``exceptiongroup; python_version < "3.11"``) are added here by evaluating every
  marker for each supported Python and machine. :func:`fetch_native` fetches a compiled library
  built for another platform.
"""

from __future__ import annotations

import importlib.metadata as md
import re
import shutil
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

from hfcache.pyz.policy import LEFT_OUT, BuildError, SiteDist

RELEASE_PYTHONS: tuple[tuple[int, int], ...] = ((3, 10), (3, 11), (3, 12), (3, 13), (3, 14))
"""CPython versions a release pyz carries compiled libraries for (pyproject: requires-python >=3.10)."""
RELEASE_MACHINES: tuple[str, ...] = ("x86_64", "aarch64")
MANYLINUX = "manylinux2014"
"""Wheels for glibc 2.17 and later: RHEL/Rocky 7+, Debian 9+, Ubuntu 14.04+."""
_SOURCE_FILES = ("pyproject.toml", "README.md")


def canonical(name: str) -> str:
    """A distribution's name as PEP 503 compares them (``PyYAML`` and ``pyyaml`` are one)."""
    return re.sub(r"[-_.]+", "-", name).lower()


def release_key(python: tuple[int, int], machine: str) -> str:
    """The platform key (:func:`hfcache.pyz.boot.platform_key`) of a release target."""
    return f"cp{python[0]}{python[1]}-manylinux_{machine}"


def _pip(*args: str) -> None:
    """Run this interpreter's pip; its last lines become a :class:`BuildError` when it fails."""
    cmd = [sys.executable, "-m", "pip", "--disable-pip-version-check", "-q", *args]
    run = subprocess.run(cmd, capture_output=True, text=True)
    if run.returncode != 0:
        tail = "\n".join((run.stderr or run.stdout).strip().splitlines()[-8:])
        raise BuildError(f"pip {args[0]} failed (exit {run.returncode}):\n{tail}")


def _target_flags(python: tuple[int, int], machine: str) -> list[str]:
    py = f"{python[0]}{python[1]}"
    return [
        "--only-binary=:all:", "--platform", f"{MANYLINUX}_{machine}", "--python-version",
        f"{python[0]}.{python[1]}", "--implementation", "cp", "--abi", f"cp{py}",
    ]  # fmt: skip


def copy_source(repo: Path, dest: Path) -> Path:
    """The files that build hfcache's wheel, copied so the checkout gets no build/ or egg-info."""
    if not (repo / "pyproject.toml").is_file() or not (repo / "hfcache" / "__init__.py").is_file():
        raise BuildError(f"{repo} is not an hfcache source checkout (no pyproject.toml and hfcache/)")
    dest.mkdir(parents=True)
    for name in _SOURCE_FILES:
        shutil.copy2(repo / name, dest / name)
    shutil.copytree(repo / "hfcache", dest / "hfcache", ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    return dest


def site_dists(site: Path) -> list[SiteDist]:
    """Every library in a staging folder, from its ``*.dist-info`` (files: its ``RECORD``)."""
    out = []
    for info in sorted(site.glob("*.dist-info")):
        dist = md.PathDistribution(info)
        files = tuple(
            str(f) for f in dist.files or () if not str(f).startswith("..") and "__pycache__" not in f.parts
        )
        out.append(SiteDist(canonical(dist.metadata["Name"]), dist.version, files))
    return out


def stage_hfcache(site: Path, source: Path) -> list[str]:
    """hfcache itself, from the checkout copy ``source``; returns its runtime requirements.

    pip builds it (``--no-build-isolation --no-index``: offline, with this environment's
    setuptools). Where this environment cannot build a wheel offline (setuptools before 70.1
    without the ``wheel`` package, as a fresh Python 3.11 venv has), the checkout's modules are
    copied beside the metadata of the hfcache installed here, when that is the same version."""
    try:
        _pip("install", "--no-index", "--no-deps", "--no-build-isolation", "--no-compile", "--target",
             str(site), str(source))  # fmt: skip
    except BuildError as e:
        _copy_checkout(site, source, e)
    info = next(site.glob("hfcache-*.dist-info"))
    return [r for r in md.PathDistribution(info).requires or [] if "extra ==" not in r]


def _copy_checkout(site: Path, source: Path, why: BuildError) -> None:
    wanted = re.search(r'^version\s*=\s*"([^"]+)"', (source / "pyproject.toml").read_text(), re.M)
    try:
        installed = md.distribution("hfcache")
    except md.PackageNotFoundError:
        installed = None
    if installed is None or wanted is None or installed.version != wanted[1]:
        have = installed.version if installed else "not installed"
        raise BuildError(
            f"cannot build hfcache offline here ({str(why).splitlines()[-1].strip()}), and the hfcache "
            f"installed here ({have}) is not this checkout's: install setuptools>=70.1, or reinstall hfcache"
        )
    shutil.copytree(source / "hfcache", site / "hfcache")
    info = site / f"hfcache-{installed.version}.dist-info"
    info.mkdir()
    # A wheel's METADATA, or the PKG-INFO of the egg-info `pip install .` leaves in a checkout.
    metadata = installed.read_text("METADATA") or installed.read_text("PKG-INFO") or ""
    if "Requires-Dist:" not in metadata:
        lines = [metadata.rstrip("\n"), *(f"Requires-Dist: {r}" for r in installed.requires or [])]
        metadata = "\n".join(lines) + "\n"
    (info / "METADATA").write_text(metadata)


def stage_env(site: Path, requirements: list[str]) -> list[str]:
    """The installed libraries ``requirements`` need on this interpreter, copied as their
    ``RECORD`` lists them; returns the :data:`LEFT_OUT` ones it needs but does not carry."""
    from packaging.requirements import Requirement

    todo = list(requirements)
    seen: set[str] = {"hfcache"}
    left_out: list[str] = []
    while todo:
        req = Requirement(todo.pop())
        name = canonical(req.name)
        if name in seen or (req.marker and not req.marker.evaluate({"extra": ""})):
            continue
        seen.add(name)
        if name in LEFT_OUT:
            try:
                left_out.append(f"{name} {md.version(name)}")
            except md.PackageNotFoundError:
                left_out.append(f"{name} (not installed)")
            continue
        try:
            dist = md.distribution(name)
        except md.PackageNotFoundError:
            raise BuildError(f"{req} is not installed here: install it, or build with --release") from None
        if not req.specifier.contains(dist.version, prereleases=True):
            raise BuildError(f"{req} is needed but {name} {dist.version} is installed")
        for f in dist.files or ():
            if str(f).startswith("..") or "__pycache__" in f.parts or f.name == "direct_url.json":
                continue
            target = site / str(f)
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(dist.locate_file(f), target)  # type: ignore[arg-type]
        todo.extend(dist.requires or [])
    return sorted(left_out)


def stage_release(
    site: Path, requirements: list[str], *, python: tuple[int, int], machine: str, pip_args: Sequence[str]
) -> None:
    """``requirements`` from the package index, resolved for ``python`` on ``machine`` (the oldest
    supported), plus the requirements pip's marker evaluation left out."""
    flags = _target_flags(python, machine)
    _pip("install", "--target", str(site), "--no-compile", *flags, *pip_args, *requirements)
    for _ in range(8):
        missing = unmet_requirements(site)
        if not missing:
            return
        _pip("install", "--target", str(site), "--no-compile", "--no-deps", *flags, *pip_args, *missing)
    raise BuildError(f"requirements still missing after 8 rounds: {', '.join(missing)}")


def unmet_requirements(site: Path) -> list[str]:
    """Requirements of the staged libraries, on any release Python and machine, that no staged
    library meets (ignoring :data:`LEFT_OUT`); a staged version outside a range is an error."""
    from packaging.requirements import Requirement

    staged = {d.name: d.version for d in site_dists(site)}
    envs = [_marker_env(py, machine) for py in RELEASE_PYTHONS for machine in RELEASE_MACHINES]
    missing: dict[str, str] = {}
    for info in sorted(site.glob("*.dist-info")):
        for text in md.PathDistribution(info).requires or []:
            req = Requirement(text)
            name = canonical(req.name)
            if name in LEFT_OUT or (req.marker and not any(req.marker.evaluate(e) for e in envs)):
                continue
            if name not in staged:
                missing[name] = f"{name}{req.specifier}"
            elif not req.specifier.contains(staged[name], prereleases=True):
                raise BuildError(f"{req} is needed but {name} {staged[name]} was staged")
    return sorted(missing.values())


def _marker_env(python: tuple[int, int], machine: str) -> dict[str, str]:
    """What an environment marker sees on CPython ``python`` on Linux ``machine``."""
    version = f"{python[0]}.{python[1]}"
    return {
        "python_version": version, "python_full_version": f"{version}.0", "platform_machine": machine,
        "sys_platform": "linux", "platform_system": "Linux", "os_name": "posix",
        "implementation_name": "cpython", "platform_python_implementation": "CPython", "extra": "",
    }  # fmt: skip


def fetch_native(
    dist: SiteDist, python: tuple[int, int], machine: str, dest: Path, pip_args: Sequence[str]
) -> None:
    """``dist``'s wheel for ``python`` on ``machine``, installed into ``dest`` (``native/<key>``)."""
    flags = _target_flags(python, machine)
    _pip("install", "--target", str(dest), "--no-compile", "--no-deps", *flags, *pip_args,
         f"{dist.name}=={dist.version}")  # fmt: skip
