"""The mirror's HTTP server: aiohttp on the default asyncio loop, bytes by ``sendfile``.

Requests are routed by :mod:`hfcache.serve.protocol` (pure), answered from a
:class:`~hfcache.serve.sources.Mirror`, and file bytes go out only once trusted: a file already
verified is sent with ``loop.sendfile`` straight from the page cache; one never hashed is sent
through a hash on its first full read with its last piece held back until the hash is known
(a wrong file ends short, so the client's own size check fails), and hashed first before a
range of it is sent. Read-only: GET and HEAD, and POST for paths-info alone.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import os
import socket
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from urllib.parse import parse_qs

from aiohttp import web

from hfcache.fs.digests import identity_of
from hfcache.serve import protocol
from hfcache.serve.page import index_page
from hfcache.serve.protocol import BadRequest, Route
from hfcache.serve.sources import Found, Mirror
from hfcache.serve.verifier import Verifier, read_chunks, read_piece
from hfcache.view import ViewFile

MAX_FORM_BYTES = 1024 * 1024
SLOW_CLIENT_GRACE = 60.0
"""Seconds a client may take to accept a piece of a response before the connection is dropped."""
MIN_CLIENT_RATE = 64 * 1024
"""Bytes per second below which a download is given up (a slow-reading client holds no file forever)."""
Log = Callable[[str], None]


@dataclass
class Stats:
    """Counters for ``/metrics``."""

    requests: dict[int, int] = field(default_factory=dict)
    bytes_sent: int = 0
    refused: int = 0


@dataclass
class Settings:
    """How the server behaves; every field has the safe default."""

    tokens: frozenset[str] = frozenset()
    public_url: str = ""
    log: Log | None = None


def _error(status: int, code: str | None, message: str, commit: str | None = None) -> web.Response:
    headers = protocol.error_headers(code, message, commit)
    return web.json_response({"error": message}, status=status, headers=headers)


class Handler:
    """The request handler, bound to one mirror."""

    def __init__(self, mirror: Mirror, verifier: Verifier, settings: Settings) -> None:
        self.mirror = mirror
        self.verifier = verifier
        self.settings = settings
        self.stats = Stats()
        self._streaming: set[str] = set()

    def log(self, text: str) -> None:
        if self.settings.log is not None:
            self.settings.log(text)

    def _authorized(self, request: web.Request) -> bool:
        if not self.settings.tokens:
            return True
        given = request.headers.get("Authorization", "")
        token = given[7:] if given.startswith("Bearer ") else ""
        return any(hmac.compare_digest(token.encode(), t.encode()) for t in self.settings.tokens)

    async def __call__(self, request: web.Request) -> web.StreamResponse:
        try:
            route = protocol.parse(request.raw_path)
        except BadRequest as e:
            return _error(e.status, e.code, str(e))
        if route.action == "healthz":
            return web.Response(text="ok\n", headers={"Cache-Control": "no-cache"})
        if not self._authorized(request):
            return _error(401, None, "Invalid credentials in Authorization header")
        allowed = ("POST",) if route.action == "paths-info" else ("GET", "HEAD")
        if request.method not in allowed:
            return _error(405, None, f"{request.method} is not allowed: this mirror is read-only")
        try:
            return await self._dispatch(request, route)
        except BadRequest as e:
            return _error(e.status, e.code, str(e))
        except (ConnectionError, asyncio.CancelledError):
            raise
        except asyncio.TimeoutError:
            self.log(f"gave up on a slow client for {request.raw_path}")
            if request.transport is not None:
                request.transport.close()
            raise ConnectionResetError("client too slow") from None
        except OSError as e:
            self.log(f"error on {request.raw_path}: {e.strerror or e}")
            return _error(503, None, f"the mirror could not read the file: {e.strerror or e}")

    async def _dispatch(self, request: web.Request, route: Route) -> web.StreamResponse:
        if route.action == "index":
            return web.Response(
                text=index_page(self.mirror, self.settings.public_url), content_type="text/html"
            )
        if route.action == "metrics":
            return self._metrics()
        if route.action == "whoami":
            return _error(401, None, "This mirror has no user accounts")
        if route.action == "agent-harnesses":
            return web.json_response({"standardEnvVars": [], "harnesses": {}})
        if route.action in ("xet-read-token", "xet-write-token"):
            return _error(404, None, "This mirror serves files over plain HTTP only (no Xet)")
        if route.action == "unknown":
            return _error(404, None, "Not found")
        found = self._find(route)
        if isinstance(found, web.Response):
            return found
        if route.action == "resolve":
            return await self._resolve(request, route, found)
        return await self._api(request, route, found)

    def _find(self, route: Route) -> Found | web.Response:
        try:
            found = self.mirror.find(route.repo_type, route.repo_id, route.revision)
        except KeyError:
            return _error(404, "RepoNotFound", "Repository not found")
        if found is None:
            return _error(404, "RevisionNotFound", f"Invalid rev id: {route.revision}")
        return found

    async def _api(self, request: web.Request, route: Route, found: Found) -> web.StreamResponse:
        view = found.view
        cache = protocol.IMMUTABLE if route.revision == view.commit else protocol.SHORT_LIVED
        headers = {"Cache-Control": cache}
        if route.action == "repo-info":
            return web.json_response(protocol.repo_info(view), headers=headers)
        if route.action == "tree":
            recursive = request.query.get("recursive", "").lower() in ("1", "true")
            entries = protocol.tree(view, route.path, recursive)
            if entries is None:
                return _error(
                    404, "EntryNotFound", f"{route.path} does not exist on {route.revision}", view.commit
                )
            return web.json_response(entries, headers=headers)
        if route.action == "paths-info":
            try:
                body = await request.read()  # refused past the app's client_max_size (MAX_FORM_BYTES)
            except web.HTTPRequestEntityTooLarge:
                return _error(413, None, "paths-info body too large")
            form = parse_qs(body.decode("utf-8", errors="replace"))
            paths = [protocol.check_path([p]) for p in form.get("paths", [])]
            return web.json_response(protocol.paths_info(view, paths), headers=headers)
        if route.action == "refs":
            refs = self.mirror.refs(route.repo_type, route.repo_id)
            return web.json_response(protocol.refs(refs, "include_prs" in request.query), headers=headers)
        return web.json_response(protocol.commits(view), headers=headers)

    def _metrics(self) -> web.Response:
        lines = [
            f'hfcache_requests_total{{status="{s}"}} {n}' for s, n in sorted(self.stats.requests.items())
        ]
        lines += [
            f"hfcache_bytes_sent_total {self.stats.bytes_sent}",
            f"hfcache_refused_total {self.stats.refused}",
        ]
        return web.Response(text="\n".join(lines) + "\n", headers={"Cache-Control": "no-cache"})

    def _refuse(self, f: ViewFile, why: str, commit: str) -> web.Response:
        self.stats.refused += 1
        self.log(f"refused {f.name}: {why}")
        return _error(503, None, f"{f.name} is listed but not served by this mirror: {why}", commit)

    async def _resolve(self, request: web.Request, route: Route, found: Found) -> web.StreamResponse:
        view = found.view
        f = view.files.get(route.path)
        if f is None or f.blob_id is None:
            return _error(
                404, "EntryNotFound", f"{route.path} does not exist on {route.revision}", view.commit
            )
        by_commit = route.revision == view.commit
        headers = protocol.file_headers(view, f, by_commit)
        # Clients before 1.x drop the token on the GET after a redirect: with tokens, no redirect.
        if not by_commit and not self.settings.tokens:
            location = protocol.resolve_url(route.repo_type, route.repo_id, view.commit, f.name)
            return web.Response(status=307, headers={**headers, "Location": location, "Content-Length": "0"})
        if not f.available:
            why = await asyncio.get_running_loop().run_in_executor(None, found.source.explain, view, f)
            return self._refuse(f, why, view.commit)
        verdict = self.verifier.verdict(f)
        if verdict is None and found.source.writing(view, f):
            return self._refuse(f, "it is being written right now (its lock is held); try again", view.commit)
        if verdict is False:
            return self._refuse(f, "its bytes do not hash to its blob id (blob-hash-mismatch)", view.commit)
        if request.if_none_match and any(e.value == f.blob_id for e in request.if_none_match):
            return web.Response(status=304, headers=headers)
        size = f.size or 0
        if request.method == "HEAD":
            return web.Response(status=200, headers={**headers, "Content-Length": str(size)})
        span = _range(request.headers.get("Range"), size)
        if isinstance(span, str):
            return web.Response(status=416, headers={**headers, "Content-Range": f"bytes */{size}"})
        # A range, or a file another request is already hashing while it sends: hash it once, on a
        # thread, and send from the page cache (16 first readers then cost one extra hash, not 16).
        if span is not None or verdict or f.blob_id in self._streaming:
            if not await self.verifier.verify(f):
                return self._refuse(
                    f, "its bytes do not hash to its blob id (blob-hash-mismatch)", view.commit
                )
            return await self._send(request, f, headers, span)
        return await self._send_verifying(request, f, headers)

    async def _send(
        self, request: web.Request, f: ViewFile, headers: dict[str, str], span: tuple[int, int] | None
    ) -> web.StreamResponse:
        size = f.size or 0
        start, end = span if span is not None else (0, size)
        resp = web.StreamResponse(status=206 if span else 200, headers=headers)
        resp.content_length = end - start
        if span is not None:
            resp.headers["Content-Range"] = f"bytes {start}-{end - 1}/{size}"
        key = self.verifier.trusted_key(f)  # None if the file changed since its verdict
        await resp.prepare(request)
        loop = asyncio.get_running_loop()
        transport = request.transport
        _cork(transport, True)
        pos = 0
        for e in f.extents:
            lo, hi = max(start, pos), min(end, pos + e.length)
            if lo < hi:
                if transport is None or transport.is_closing():
                    raise ConnectionResetError("client went away")
                fd = os.open(e.path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))  # never a link planted since
                with os.fdopen(fd, "rb") as fobj:
                    if e is f.extents[0] and (key is None or identity_of(os.fstat(fd)) != key[1]):
                        raise ConnectionResetError(f"{e.path} changed since it was verified")
                    limit = SLOW_CLIENT_GRACE + (hi - lo) / MIN_CLIENT_RATE
                    await asyncio.wait_for(
                        loop.sendfile(transport, fobj, e.offset + lo - pos, hi - lo), limit
                    )
            pos += e.length
        self.stats.bytes_sent += end - start
        request["sent"] = end - start
        await resp.write_eof()
        _cork(transport, False)
        return resp

    async def _send_verifying(
        self, request: web.Request, f: ViewFile, headers: dict[str, str]
    ) -> web.StreamResponse:
        """First full read: hash while sending, and hold the last piece back until the hash is known."""
        assert f.blob_id is not None
        self._streaming.add(f.blob_id)
        try:
            return await self._stream_and_hash(request, f, headers)
        finally:
            self._streaming.discard(f.blob_id)

    async def _stream_and_hash(
        self, request: web.Request, f: ViewFile, headers: dict[str, str]
    ) -> web.StreamResponse:
        key = self.verifier.key(f)
        hasher = self.verifier.hasher(f)
        resp = web.StreamResponse(status=200, headers=headers)
        resp.content_length = f.size or 0
        await resp.prepare(request)
        loop = asyncio.get_running_loop()
        held: bytes | None = None
        for offset, n, path, _ in read_chunks(f.extents):
            piece = await loop.run_in_executor(None, read_piece, path, offset, n, hasher)
            if held is not None:
                await asyncio.wait_for(resp.write(held), SLOW_CLIENT_GRACE)
            held = piece
        if not self.verifier.record(f, hasher.hexdigest(), key):
            self.stats.refused += 1
            self.log(f"refused {f.name}: its bytes do not hash to {f.blob_id}; the download was cut short")
            if request.transport is not None:
                request.transport.close()
            return resp
        if held is not None:
            await resp.write(held)
        self.stats.bytes_sent += f.size or 0
        request["sent"] = f.size or 0
        await resp.write_eof()
        return resp


def _cork(transport: asyncio.BaseTransport | None, on: bool) -> None:
    """TCP_CORK around a file: headers and bytes leave in full segments, as nginx's ``tcp_nopush``."""
    sock = transport.get_extra_info("socket") if transport is not None else None
    cork = getattr(socket, "TCP_CORK", None)
    if sock is not None and cork is not None:
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.IPPROTO_TCP, cork, int(on))


def _range(header: str | None, size: int) -> tuple[int, int] | str | None:
    """(start, end) of a single ``bytes=`` range, ``None`` without one, ``"bad"`` if unsatisfiable."""
    if not header:
        return None
    unit, _, spec = header.partition("=")
    if unit.strip() != "bytes" or "," in spec:
        return "bad"
    first, _, last = spec.strip().partition("-")
    try:
        if first == "":
            n = int(last)
            start, end = max(size - n, 0), size
        else:
            start = int(first)
            end = min(int(last) + 1, size) if last else size
    except ValueError:
        return "bad"
    if start >= size or start >= end or start < 0:
        return "bad"
    return start, end


def access_log(owner: Handler) -> Callable[..., Awaitable[web.StreamResponse]]:
    """One line per request: time, client, method, path, status, bytes, duration. Never a header."""

    @web.middleware
    async def middleware(
        request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
    ) -> web.StreamResponse:
        started = time.monotonic()
        status, sent = 500, 0
        try:
            resp = await handler(request)
            status, sent = resp.status, request.get("sent", resp.body_length)
            return resp
        finally:
            owner.stats.requests[status] = owner.stats.requests.get(status, 0) + 1
            stamp = time.strftime("%Y-%m-%dT%H:%M:%S")
            ms = (time.monotonic() - started) * 1000
            owner.log(
                f"{stamp} {request.remote} {request.method} {request.raw_path} {status} {sent} {ms:.1f}ms"
            )

    return middleware


def make_app(mirror: Mirror, verifier: Verifier, settings: Settings) -> web.Application:
    """The aiohttp application: every path goes to one handler, which routes by itself."""
    handler = Handler(mirror, verifier, settings)
    app = web.Application(middlewares=[access_log(handler)], client_max_size=MAX_FORM_BYTES)
    app.router.add_route("*", "/{tail:.*}", handler)
    app["handler"] = handler
    return app
