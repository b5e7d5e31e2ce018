"""A file's bytes on the wire: ranges, conditional requests, ``sendfile``, and hashing on first read.

The handler decides *whether* a file may be served; this module sends it. A file already
verified goes out with ``loop.sendfile`` straight from the page cache (TCP_CORK around it, as
nginx's ``tcp_nopush``). A file never hashed is sent through a hash on its first full read with
its last piece held back until the hash is known: a wrong file ends short, so the client's own
size check fails. A range of a file is sent only once the whole file hashed. Single ranges only
(206, or 416 with ``bytes */size``); ``If-None-Match`` with the blob id is a 304.

Every body byte that leaves is counted on the request (:func:`bytes_sent`), also when the client
goes away half-way, so the access log and ``/metrics`` say what was really sent.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
from collections.abc import Callable
from typing import Any

from aiohttp import web

from hfcache.fs.digests import Identity, identity_of
from hfcache.serve.verifier import Verifier, read_chunks, read_piece
from hfcache.view import Extent, ViewFile

SLOW_CLIENT_GRACE = 60.0
"""Seconds a client may take to accept a piece of a response before the connection is dropped."""
MIN_CLIENT_RATE = 64 * 1024
"""Bytes per second below which a download is given up (a slow-reading client holds no file forever)."""
MISMATCH = "its bytes do not hash to its blob id (blob-hash-mismatch)"
_SENT: Any = web.RequestKey("hfcache_sent", int) if hasattr(web, "RequestKey") else "hfcache_sent"
"""Where a request's count of body bytes sent is kept (a typed key from aiohttp 3.12 on)."""

Refuse = Callable[[ViewFile, str], web.StreamResponse]
"""Counts, logs and answers (a 503) a file the mirror will not serve, and why."""


def bytes_sent(request: web.Request) -> int | None:
    """Body bytes this module sent for ``request``; ``None`` if it sent no body of its own."""
    sent = request.get(_SENT)
    return sent if isinstance(sent, int) else None


def _count(request: web.Request, n: int) -> None:
    request[_SENT] = (bytes_sent(request) or 0) + n


def parse_range(header: str | None, size: int) -> tuple[int, int] | str | None:
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


def not_modified(request: web.Request, blob_id: str) -> bool:
    """Does the client already hold these bytes (``If-None-Match`` names the blob id)?"""
    return bool(request.if_none_match) and any(e.value == blob_id for e in request.if_none_match or ())


def cork(transport: asyncio.BaseTransport | None, on: bool) -> None:
    """TCP_CORK around a file: headers and bytes leave in full segments, as nginx's ``tcp_nopush``."""
    sock = transport.get_extra_info("socket") if transport is not None else None
    flag = getattr(socket, "TCP_CORK", None)
    if sock is not None and flag is not None:
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.IPPROTO_TCP, flag, int(on))


async def _send_extent(request: web.Request, e: Extent, offset: int, n: int, same: Identity | None) -> None:
    """``n`` bytes at ``offset`` of ``e.path`` by ``sendfile``; with ``same``, only if the file still
    has that identity (the one verified). Counts what went out, also when the client goes away."""
    transport = request.transport
    if transport is None or transport.is_closing():
        raise ConnectionResetError("client went away")
    fd = os.open(e.path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))  # never a link planted since
    with os.fdopen(fd, "rb") as fobj:
        if same is not None and identity_of(os.fstat(fd)) != same:
            raise ConnectionResetError(f"{e.path} changed since it was verified")
        limit = SLOW_CLIENT_GRACE + n / MIN_CLIENT_RATE
        try:
            await asyncio.wait_for(asyncio.get_running_loop().sendfile(transport, fobj, offset, n), limit)
        finally:  # the file position says how far it got, even after an error
            _count(request, max(fobj.tell() - offset, 0))


class Transfer:
    """Sends files' bytes, trusting only what the :class:`Verifier` vouches for."""

    def __init__(self, verifier: Verifier) -> None:
        self.verifier = verifier
        self._streaming: set[str] = set()

    async def send(
        self, request: web.Request, f: ViewFile, headers: dict[str, str], verdict: bool | None, refuse: Refuse
    ) -> web.StreamResponse:
        """Answer a resolve request for ``f`` (a file with bytes, not known bad) with ``headers``."""
        assert f.blob_id is not None
        if not_modified(request, f.blob_id):
            return web.Response(status=304, headers=headers)
        size = f.size or 0
        if request.method == "HEAD":
            return web.Response(status=200, headers={**headers, "Content-Length": str(size)})
        span = parse_range(request.headers.get("Range"), size)
        if isinstance(span, str):
            return web.Response(status=416, headers={**headers, "Content-Range": f"bytes */{size}"})
        # A range, or a file another request is already hashing while it sends: hash it once, on a
        # thread, and send from the page cache (16 first readers then cost one extra hash, not 16).
        if span is not None or verdict or f.blob_id in self._streaming:
            if not await self.verifier.verify(f):
                return refuse(f, MISMATCH)
            return await self._sendfile(request, f, headers, span)
        self._streaming.add(f.blob_id)
        try:
            return await self._stream_and_hash(request, f, headers, refuse)
        finally:
            self._streaming.discard(f.blob_id)

    async def _sendfile(
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
        _count(request, 0)
        if key is None:
            raise ConnectionResetError(f"{f.name} changed since it was verified")
        transport = request.transport
        cork(transport, True)
        try:
            pos = 0
            for e in f.extents:
                lo, hi = max(start, pos), min(end, pos + e.length)
                if lo < hi:
                    same = key[1] if e is f.extents[0] else None
                    await _send_extent(request, e, e.offset + lo - pos, hi - lo, same)
                pos += e.length
            await resp.write_eof()
        finally:
            cork(transport, False)
        return resp

    async def _stream_and_hash(
        self, request: web.Request, f: ViewFile, headers: dict[str, str], refuse: Refuse
    ) -> web.StreamResponse:
        """First full read: hash while sending, and hold the last piece back until the hash is known."""
        key = self.verifier.key(f)
        hasher = self.verifier.hasher(f)
        resp = web.StreamResponse(status=200, headers=headers)
        resp.content_length = f.size or 0
        await resp.prepare(request)
        _count(request, 0)
        loop = asyncio.get_running_loop()
        held: bytes | None = None
        for offset, n, path, _ in read_chunks(f.extents):
            piece = await loop.run_in_executor(None, read_piece, path, offset, n, hasher)
            if held is not None:
                await asyncio.wait_for(resp.write(held), SLOW_CLIENT_GRACE)
                _count(request, len(held))
            held = piece
        if not self.verifier.record(f, hasher.hexdigest(), key):
            refuse(f, f"{MISMATCH}; the download was cut short")
            if request.transport is not None:
                request.transport.close()
            return resp
        if held is not None:
            await resp.write(held)
            _count(request, len(held))
        await resp.write_eof()
        return resp
