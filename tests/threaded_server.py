"""A hand-written HTTP server for tests of clients that block: an aiohttp application on
127.0.0.1, run on an event loop in a thread of its own, answering every request with one
function and recording each request as it came (method, path with query, headers).

For behaviour no real server produces on demand (a wrong digest, a connection cut mid-body,
an endless redirect); anything a real server does is tested against the real server.
"""

from __future__ import annotations

import asyncio
import ssl
import threading
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from types import TracebackType

from aiohttp import web


@dataclass
class Seen:
    method: str
    path: str
    headers: dict[str, str]

    def header(self, name: str) -> str | None:
        return next((v for k, v in self.headers.items() if k.lower() == name.lower()), None)


Handler = Callable[[web.Request, "Server"], Awaitable[web.StreamResponse]]


@dataclass
class Server:
    """``with Server(handler) as s:`` serves at ``s.url`` until the block ends; ``s.held()`` is
    an awaitable a handler may wait on to hang until then (an answer that never finishes)."""

    handler: Handler
    ssl_context: ssl.SSLContext | None = None
    seen: list[Seen] = field(default_factory=list)
    port: int = 0
    state: dict[str, int] = field(default_factory=dict)

    @property
    def url(self) -> str:
        return f"{'https' if self.ssl_context else 'http'}://127.0.0.1:{self.port}"

    @property
    def netloc(self) -> str:
        return f"127.0.0.1:{self.port}"

    def count(self, key: str) -> int:
        """Increment and return a named counter (the handler's memory between requests)."""
        self.state[key] = self.state.get(key, 0) + 1
        return self.state[key]

    async def held(self) -> None:
        await self._release.wait()

    async def _dispatch(self, request: web.Request) -> web.StreamResponse:
        self.seen.append(Seen(request.method, request.path_qs, dict(request.headers)))
        return await self.handler(request, self)

    def _run(self, ready: threading.Event) -> None:
        loop = self._loop
        asyncio.set_event_loop(loop)
        self._release = asyncio.Event()
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._dispatch)
        runner = web.AppRunner(app, access_log=None, shutdown_timeout=1.0)
        loop.run_until_complete(runner.setup())
        site = web.TCPSite(runner, "127.0.0.1", 0, ssl_context=self.ssl_context)
        loop.run_until_complete(site.start())
        self.port = int(runner.addresses[0][1])
        ready.set()
        loop.run_forever()
        loop.run_until_complete(runner.cleanup())
        loop.close()

    def __enter__(self) -> Server:
        self._loop = asyncio.new_event_loop()
        ready = threading.Event()
        self._thread = threading.Thread(target=self._run, args=(ready,), daemon=True)
        self._thread.start()
        if not ready.wait(20):
            raise RuntimeError("the test server did not start")
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._loop.call_soon_threadsafe(self._release.set)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(20)


async def cut_after(
    request: web.Request, data: bytes, at: int, *, length: int | None = None
) -> web.StreamResponse:
    """Start answering ``data`` (``Content-Length`` ``length``, default its length), send the
    first ``at`` bytes, then close the connection: a download that breaks off."""
    resp = web.StreamResponse(headers={"Content-Type": "application/octet-stream"})
    resp.content_length = len(data) if length is None else length
    await resp.prepare(request)
    await resp.write(data[:at])
    assert request.transport is not None
    request.transport.close()
    return resp
