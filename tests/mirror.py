"""The mirror in tests: ``hfcache serve`` as a user runs it (a real process on 127.0.0.1, stopped
with SIGTERM), and the same application in-process behind aiohttp's test server, for protocol
tests that send exact raw paths and read the access log."""

from __future__ import annotations

import asyncio
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
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


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
def running(
    *sources: str | Path,
    state: Path,
    extra: tuple[str, ...] = (),
    port: int | None = None,
    hfcache: tuple[str, ...] = (sys.executable, "-m", "hfcache"),
    env: dict[str, str] | None = None,
) -> Iterator[Mirror]:
    """``hfcache serve SOURCES --json`` on a free port (or ``port``: 0 lets the mirror pick one);
    yields once it answers /healthz at the port it says it listens on. ``hfcache`` is the command
    that runs hfcache (``python3 -I -S hfcache.pyz``), ``env`` its whole environment."""
    port = free_port() if port is None else port
    cmd = [
        *hfcache,
        "serve",
        *map(str, sources),
        "--port",
        str(port),
        "--json",
        *extra,
    ]
    env = {**(os.environ if env is None else env), "HFCACHE_STATE_DIR": str(state)}
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
        url = f"http://127.0.0.1:{started['port']}"
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


# --- in-process -----------------------------------------------------------------------------------


@dataclass
class Reply:
    """One answer: status, headers (first value of each), body, and whether the body was cut short."""

    status: int
    headers: dict[str, str]
    body: bytes
    cut: bool = False

    def json(self) -> Any:
        return json.loads(self.body)

    def header(self, name: str) -> str | None:
        return next((v for k, v in self.headers.items() if k.lower() == name.lower()), None)


@dataclass
class InProcess:
    """``sources`` served by :func:`hfcache.serve.build` behind aiohttp's ``TestServer``.

    Each :meth:`ask` starts the application on a fresh event loop (``asyncio.run``), sends the
    requests in order with the path exactly as written (nothing decoded or normalised on the
    way), and stops it; verdicts persist in ``state`` between calls. ``log`` collects the access
    log and notes, as ``serve`` writes them on stderr.
    """

    sources: list[str | Path]
    state: Path
    tokens: frozenset[str] = frozenset()
    log: list[str] = field(default_factory=list)

    def ask(self, *requests: tuple[Any, ...]) -> list[Reply]:
        """``(method, raw path[, headers[, body[, stop]]])`` each; the replies in order. With ``stop``,
        the client hangs up once it read that many bytes of the body (``cut`` is then true)."""
        return asyncio.run(self._ask(list(requests)))

    def get(self, path: str, method: str = "GET", **headers: str) -> Reply:
        return self.ask((method, path, headers))[0]

    async def _ask(self, requests: list[tuple[Any, ...]]) -> list[Reply]:
        from aiohttp import ClientPayloadError
        from aiohttp.test_utils import TestClient, TestServer
        from yarl import URL

        from hfcache.fs.digests import DigestStore
        from hfcache.serve import build
        from hfcache.serve.server import Settings

        store = DigestStore(str(self.state / "digests.sqlite"))
        settings = Settings(tokens=self.tokens, public_url="http://mirror.test:8080", log=self.log.append)
        app = build([str(s) for s in self.sources], store, settings)
        replies = []
        async with TestServer(app) as server, TestClient(server) as client:
            root = str(server.make_url("/")).rstrip("/")
            for method, path, *rest in requests:
                headers = rest[0] if rest else {}
                data = rest[1] if len(rest) > 1 else None
                stop = rest[2] if len(rest) > 2 else None
                url = URL(root + path, encoded=True)  # sent as written: no decoding, no dot removal
                async with client.session.request(
                    method, url, headers=headers, data=data, allow_redirects=False
                ) as r:
                    chunks, cut = [], False
                    try:
                        async for chunk in r.content.iter_any():
                            chunks.append(chunk)
                            if stop is not None and sum(map(len, chunks)) >= stop:
                                r.close()  # hang up, the connection with it
                                cut = True
                                break
                    except ClientPayloadError:  # the mirror ended the body early, on purpose
                        cut = True
                    replies.append(Reply(r.status, dict(r.headers.items()), b"".join(chunks), cut))
        return replies
