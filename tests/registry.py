"""Real OCI tools in tests: Debian's ``docker-registry`` (CNCF distribution 2.8) on 127.0.0.1 with
its own configuration file and a filesystem store, and ``skopeo`` (``.ci/run`` installs both).

Tests that need them are marked ``needs_registry`` / ``needs_skopeo`` and skip where they are
missing, saying how to get them.
"""

from __future__ import annotations

import shutil
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from tests.mirror import free_port

REGISTRY = shutil.which("docker-registry") or (
    "/usr/bin/docker-registry" if Path("/usr/bin/docker-registry").exists() else None
)
SKOPEO = shutil.which("skopeo")
needs_registry = pytest.mark.skipif(
    REGISTRY is None, reason="docker-registry is not installed (.ci/run installs Debian's docker-registry)"
)
needs_skopeo = pytest.mark.skipif(SKOPEO is None, reason="skopeo is not installed (.ci/run installs it)")


@contextmanager
def docker_registry(workdir: Path, *, proxy: str | None = None) -> Iterator[str]:
    """A registry on a free loopback port, storing under ``workdir``; yields ``127.0.0.1:PORT``.

    ``proxy`` makes it a pull-through cache of that registry URL (distribution's ``proxy`` mode:
    how a site registry replicates from an upstream one on demand)."""
    assert REGISTRY is not None
    port = free_port()
    data = workdir / "registry-data"
    data.mkdir(parents=True, exist_ok=True)
    lines = [
        "version: 0.1",
        "log:",
        "  level: warn",
        "storage:",
        "  filesystem:",
        f"    rootdirectory: {data}",
        "  delete:",
        "    enabled: true",
        "http:",
        f"  addr: 127.0.0.1:{port}",
    ]
    if proxy is not None:
        lines += ["proxy:", f"  remoteurl: {proxy}"]
    config = workdir / "registry.yml"
    config.write_text("\n".join(lines) + "\n")
    log = (workdir / "registry.log").open("w")
    proc = subprocess.Popen([REGISTRY, "serve", str(config)], stdout=log, stderr=subprocess.STDOUT)
    host = f"127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                with urllib.request.urlopen(f"http://{host}/v2/", timeout=2):
                    break
            except urllib.error.HTTPError:
                break  # it answers (401 would mean auth; the test config has none)
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    log.close()
                    said = (workdir / "registry.log").read_text()
                    raise RuntimeError(f"docker-registry did not start: {said}") from None
                time.sleep(0.1)
        yield host
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()


def skopeo(*args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    """``skopeo --insecure-policy ARGS``, checked; its output kept for the assertion message."""
    assert SKOPEO is not None
    proc = subprocess.run(
        [SKOPEO, "--insecure-policy", *args], capture_output=True, text=True, timeout=timeout, check=False
    )
    assert proc.returncode == 0, f"skopeo {' '.join(args)} failed: {proc.stderr}"
    return proc
