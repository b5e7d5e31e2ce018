"""``hfcache serve``: a read-only LAN mirror that huggingface_hub clients reach through HF_ENDPOINT."""

from __future__ import annotations

import asyncio
import contextlib
import signal
from collections.abc import Callable
from dataclasses import dataclass

from aiohttp import web

from hfcache.errors import BadInputError
from hfcache.fs.digests import DigestStore
from hfcache.serve.page import client_settings
from hfcache.serve.server import HANDLER, Settings, make_app
from hfcache.serve.sources import RESCAN_INTERVAL, Mirror, open_source
from hfcache.serve.verifier import Verifier

LOOPBACK = ("127.0.0.1", "::1", "localhost")


@dataclass(frozen=True)
class Started:
    """What a running mirror tells its caller once it listens."""

    url: str
    host: str
    port: int
    sources: tuple[str, ...]
    repos: int

    @property
    def client_settings(self) -> list[str]:
        return client_settings(self.url)

    @property
    def loopback_only(self) -> bool:
        return self.host in LOOPBACK


def build(
    sources: list[str | None], store: DigestStore | None = None, settings: Settings | None = None
) -> web.Application:
    """The application over ``sources`` (caches or bundles; ``[None]``: huggingface_hub's cache)."""
    opened = [open_source(s) for s in sources or [None]]
    settings = settings or Settings()
    log = settings.log

    def on_bad(f: object, digest: str) -> None:
        if log is not None:
            log(f"blob-hash-mismatch: {getattr(f, 'name', f)} hashes to {digest}; it is not served")

    return make_app(Mirror(opened), Verifier(store or DigestStore.default(), on_bad), settings)


async def _refresher(app: web.Application) -> None:
    mirror = app[HANDLER].mirror
    loop = asyncio.get_running_loop()
    while True:
        await asyncio.sleep(RESCAN_INTERVAL)
        with contextlib.suppress(Exception):  # a half-written cache is read again next round
            await loop.run_in_executor(None, mirror.refresh)


def serve(
    sources: list[str | None],
    *,
    host: str = "127.0.0.1",
    port: int = 8080,
    public_url: str | None = None,
    tokens: frozenset[str] = frozenset(),
    store: DigestStore | None = None,
    log: Callable[[str], None] | None = None,
    on_start: Callable[[Started], None] | None = None,
) -> None:
    """Serve until SIGINT or SIGTERM, then stop cleanly. ``BadInputError`` for bad sources or a busy port."""
    url = public_url or f"http://{'[' + host + ']' if ':' in host else host}:{port}"
    app = build(sources, store, Settings(tokens=tokens, public_url=url, log=log))
    asyncio.run(_run(app, host, port, url, on_start))


async def _run(
    app: web.Application, host: str, port: int, url: str, on_start: Callable[[Started], None] | None
) -> None:
    runner = web.AppRunner(
        app, access_log=None, handle_signals=False, shutdown_timeout=5, keepalive_timeout=15
    )
    await runner.setup()
    site = web.TCPSite(runner, host, port, backlog=256)
    try:
        await site.start()
    except OSError as e:
        await runner.cleanup()
        raise BadInputError(f"cannot listen on {host}:{port}: {e.strerror or e}") from None
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(sig, stop.set)
    refresher = asyncio.ensure_future(_refresher(app))
    mirror = app[HANDLER].mirror
    if on_start is not None:
        on_start(Started(url, host, port, tuple(s.label for s in mirror.sources), len(mirror.repos())))
    try:
        await stop.wait()
    finally:
        refresher.cancel()
        await runner.cleanup()


__all__ = ["Started", "build", "serve"]
