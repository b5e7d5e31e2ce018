"""Real OCI tools in tests: Debian's ``docker-registry`` (CNCF distribution 2.8) on 127.0.0.1 with
its own configuration file and a filesystem store, and ``skopeo`` (``.ci/run`` installs both).

Tests that need them are marked ``needs_registry`` / ``needs_skopeo`` and skip where they are
missing, saying how to get them.
"""

from __future__ import annotations

import shutil
import ssl
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
def docker_registry(
    workdir: Path, *, proxy: str | None = None, tls: tuple[Path, Path] | None = None
) -> Iterator[str]:
    """A registry on a free loopback port, storing under ``workdir``; yields ``127.0.0.1:PORT``.

    ``proxy`` makes it a pull-through cache of that registry URL (distribution's ``proxy`` mode:
    how a site registry replicates from an upstream one on demand). ``tls`` (certificate, key)
    makes it serve HTTPS only."""
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
    if tls is not None:
        lines += ["  tls:", f"    certificate: {tls[0]}", f"    key: {tls[1]}"]
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
                scheme = "https" if tls else "http"
                unverified = ssl._create_unverified_context() if tls else None  # only: is it up?
                with urllib.request.urlopen(f"{scheme}://{host}/v2/", timeout=2, context=unverified):
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


OPENSSL = shutil.which("openssl")
needs_openssl = pytest.mark.skipif(
    OPENSSL is None, reason="openssl is not installed (it makes test certificates)"
)


def make_certificates(workdir: Path) -> tuple[Path, Path, Path]:
    """A throwaway CA and a server certificate it signed for ``127.0.0.1`` and ``localhost``:
    (CA certificate, server certificate, server key), made with the ``openssl`` command."""
    assert OPENSSL is not None
    ca_key, ca, key, csr, cert = (
        workdir / n for n in ("ca.key", "ca.pem", "server.key", "server.csr", "server.pem")
    )
    ext = workdir / "server.ext"
    ext.write_text(
        "basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature,keyEncipherment\n"
        "extendedKeyUsage=serverAuth\nsubjectAltName=IP:127.0.0.1,DNS:localhost\n"
    )

    def run(*args: str) -> None:
        subprocess.run([OPENSSL, *args], check=True, capture_output=True, timeout=60)

    run("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(ca_key), "-out", str(ca),
        "-days", "2", "-subj", "/CN=hfcache test CA")  # fmt: skip
    run("req", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key), "-out", str(csr),
        "-subj", "/CN=127.0.0.1")  # fmt: skip
    run("x509", "-req", "-in", str(csr), "-CA", str(ca), "-CAkey", str(ca_key), "-CAcreateserial",
        "-out", str(cert), "-days", "2", "-extfile", str(ext))  # fmt: skip
    return ca, cert, key
