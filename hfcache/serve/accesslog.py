"""The access log: one line per request, and the counters ``/metrics`` reads.

Never a header, so a token is never logged; the path is logged as sent.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Protocol

from aiohttp import web

from hfcache.serve.transfer import bytes_sent


@dataclass
class Stats:
    """Counters for ``/metrics``."""

    requests: dict[int, int] = field(default_factory=dict)
    bytes_sent: int = 0
    refused: int = 0
    started: float = field(default_factory=time.monotonic)


class Owner(Protocol):
    """What the log writes to: the handler's counters and its log."""

    stats: Stats

    def log(self, text: str) -> None: ...


def _body_bytes(request: web.Request, resp: web.StreamResponse) -> int:
    """Body bytes an answer carries: what the transfer counted, else the body a plain answer will
    send (none for HEAD, 1xx, 204 and 304, whatever their Content-Length says)."""
    sent = bytes_sent(request)
    if sent is not None:
        return sent
    if request.method == "HEAD" or resp.status in (204, 304) or resp.status < 200:
        return 0
    body = resp.body if isinstance(resp, web.Response) else None
    return len(body) if isinstance(body, (bytes, bytearray)) else 0


def access_log(owner: Owner) -> Callable[..., Awaitable[web.StreamResponse]]:
    """One line per request: time, client, method, path, status, body bytes sent, duration.

    Never a header (a token is never logged). Also counts requests and bytes for ``/metrics``.
    """

    @web.middleware
    async def middleware(
        request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
    ) -> web.StreamResponse:
        started = time.monotonic()
        resp: web.StreamResponse | None = None
        gone = False
        try:
            resp = await handler(request)
            return resp
        except (ConnectionError, asyncio.CancelledError):
            gone = True
            raise
        finally:
            if resp is not None:
                status, sent = resp.status, _body_bytes(request, resp)
            else:  # 499 (nginx's code): the client went away before its answer was whole
                status, sent = (499 if gone else 500), bytes_sent(request) or 0
            owner.stats.requests[status] = owner.stats.requests.get(status, 0) + 1
            owner.stats.bytes_sent += sent
            stamp = time.strftime("%Y-%m-%dT%H:%M:%S")
            ms = (time.monotonic() - started) * 1000
            owner.log(
                f"{stamp} {request.remote} {request.method} {request.raw_path} {status} {sent} {ms:.1f}ms"
            )

    return middleware
