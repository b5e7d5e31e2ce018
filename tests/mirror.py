"""Run ``hfcache serve`` as a user would: a real process on 127.0.0.1, stopped with SIGTERM."""

from __future__ import annotations

import http.client
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Mirror:
    url: str
    process: subprocess.Popen[str]
    started: dict[str, object]

    def log(self) -> str:
        """What the server wrote to stderr so far (its access log); call after stopping it."""
        assert self.process.stderr is not None
        return self.process.stderr.read()


@contextmanager
def running(*sources: str | Path, state: Path, extra: tuple[str, ...] = ()) -> Iterator[Mirror]:
    """``hfcache serve SOURCES --json`` on a free port; yields once it answers /healthz."""
    port = free_port()
    cmd = [
        sys.executable,
        "-m",
        "hfcache",
        "serve",
        *map(str, sources),
        "--port",
        str(port),
        "--json",
        *extra,
    ]
    env = {**os.environ, "HFCACHE_STATE_DIR": str(state)}
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    try:
        assert proc.stdout is not None
        line = ""
        while not line.rstrip().endswith("}"):
            chunk = proc.stdout.readline()
            if not chunk:
                raise RuntimeError(
                    f"hfcache serve did not start: {proc.stderr.read() if proc.stderr else ''}"
                )
            line += chunk
        started = json.loads(line)
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 20
        while True:
            try:
                with urllib.request.urlopen(f"{url}/healthz", timeout=2):
                    break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)
        yield Mirror(url, proc, started)
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def request(url: str, method: str = "GET", headers: dict[str, str] | None = None, data: bytes | None = None):  # type: ignore[no-untyped-def]
    """(status, headers, body) without raising on 4xx/5xx and without following redirects."""

    class NoRedirect(urllib.request.HTTPRedirectHandler):
        def redirect_request(self, *args, **kwargs):  # type: ignore[no-untyped-def]
            return None

    opener = urllib.request.build_opener(NoRedirect)
    req = urllib.request.Request(url, method=method, headers=headers or {}, data=data)
    try:
        with opener.open(req, timeout=30) as r:
            try:
                body = r.read()
            except http.client.IncompleteRead as cut:  # the server ended the body early, on purpose
                body = cut.partial
            return r.status, dict(r.headers), body
    except urllib.error.HTTPError as e:
        return e.code, dict(e.headers), e.read()
