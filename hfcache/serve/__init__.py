"""``hfcache serve``: a read-only LAN mirror that huggingface_hub clients reach through HF_ENDPOINT."""

from __future__ import annotations

import asyncio
import contextlib
import re
import signal
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from aiohttp import web

from hfcache.errors import BadInputError
from hfcache.fs.digests import DigestStore
from hfcache.results import EXIT_OK
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

    @property
    def exit_code(self) -> int:
        return EXIT_OK

    def to_json(self) -> dict[str, Any]:
        """What ``serve --json`` prints once it listens (the CLI adds ``schema_version``)."""
        return {
            "url": self.url,
            "host": self.host,
            "port": self.port,
            "sources": list(self.sources),
            "repos": self.repos,
            "client_settings": self.client_settings,
        }


def check_port(port: int) -> int:
    """A port to listen on: 1-65535, or 0 for any free one. :class:`BadInputError` otherwise."""
    if not 0 <= port <= 65535:
        raise BadInputError(f"--port {port} is not a port: use 1-65535, or 0 for any free one")
    return port


def check_public_url(url: str) -> str:
    """``--public-url``: an http(s) URL with a host, no user or password, no query; trailing ``/`` dropped."""
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError for a port that is not a number
    except ValueError:
        parts = None
    why = None
    if parts is None or parts.scheme not in ("http", "https") or not parts.hostname:
        why = "it must be an http:// or https:// URL with a host, e.g. http://mirror.lan:8080"
    elif parts.username is not None or parts.password is not None:
        why = "it must not hold a user or password"
    elif parts.query or parts.fragment or any(c.isspace() for c in url):
        why = "it must not hold a query, a fragment or spaces"
    if why is not None:
        shown = re.sub(r"//[^/]*@", "//***@", url)  # a password given by mistake is never echoed
        raise BadInputError(f"--public-url {shown!r}: {why}")
    return url.rstrip("/")


def build(
    sources: list[str | None], store: DigestStore | None = None, settings: Settings | None = None
) -> web.Application:
    """The application over ``sources`` (caches or bundles; ``[None]``: huggingface_hub's cache).

    :class:`BadInputError` for a source that is neither, or a ``public_url`` that is not http(s).
    """
    settings = settings or Settings()
    if settings.public_url:
        settings.public_url = check_public_url(settings.public_url)
    store = store or DigestStore.default()
    opened = [open_source(s, store) for s in sources or [None]]
    log = settings.log

    def on_bad(f: object, digest: str) -> None:
        if log is not None:
            log(f"blob-hash-mismatch: {getattr(f, 'name', f)} hashes to {digest}; it is not served")

    return make_app(Mirror(opened), Verifier(store, on_bad), settings)


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
    """Serve until SIGINT or SIGTERM, then stop cleanly.

    ``port`` 0 takes any free port; ``on_start`` is told the one really listened on.
    :class:`BadInputError` for a bad port or public URL (checked first), a bad source, or a port
    that cannot be bound.
    """
    check_port(port)
    url = check_public_url(public_url) if public_url is not None else None
    app = build(sources, store, Settings(tokens=tokens, public_url=url or "", log=log))
    asyncio.run(_run(app, host, port, url, on_start))


def _url(host: str, port: int) -> str:
    return f"http://{'[' + host + ']' if ':' in host else host}:{port}"


async def _run(
    app: web.Application, host: str, port: int, url: str | None, on_start: Callable[[Started], None] | None
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
    handler = app[HANDLER]
    bound = [a[1] for a in runner.addresses if isinstance(a, tuple) and len(a) >= 2]
    port = bound[0] if bound else port  # port 0: the one the system chose
    url = url or _url(host, port)
    handler.settings.public_url = url  # before any request is answered: nothing awaited since start
    if on_start is not None:
        mirror = handler.mirror
        on_start(Started(url, host, port, tuple(s.label for s in mirror.sources), len(mirror.repos())))
    try:
        await stop.wait()
    finally:
        refresher.cancel()
        await runner.cleanup()


__all__ = ["Started", "build", "check_port", "check_public_url", "serve"]
