"""The mirror's HTTP server: aiohttp on the default asyncio loop, one handler per route.

A request is matched against the route table (:mod:`hfcache.serve.routes`), checked for a
token and its method, looked up as far as its route's scope says (the repo, or the revision,
resolved once through the :class:`~hfcache.serve.sources.Mirror`), and answered by the
handler the route names. Answers are built by :mod:`hfcache.serve.protocol` (pure); file bytes
go out through :mod:`hfcache.serve.transfer`, only once trusted, by :meth:`Handler.deliver`
(for ``/resolve/`` and ``/v2/`` blobs alike). ``/v2/`` is answered by :mod:`hfcache.serve.v2`,
with errors, refusals and token challenges in the OCI form. Read-only: GET and HEAD, and POST
for paths-info alone.
"""

from __future__ import annotations

import asyncio
import hmac
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from urllib.parse import parse_qs

from aiohttp import web

from hfcache.serve import oci, protocol, routes
from hfcache.serve.accesslog import Stats, access_log
from hfcache.serve.oci import OciError
from hfcache.serve.page import index_page, metrics_text
from hfcache.serve.protocol import BadRequest
from hfcache.serve.routes import Match, Scope
from hfcache.serve.sources import Found, Mirror
from hfcache.serve.transfer import MISMATCH, Transfer
from hfcache.serve.v2 import V2
from hfcache.serve.v2 import error as oci_error
from hfcache.serve.verifier import Verifier
from hfcache.view import RevisionView, ViewFile

MAX_FORM_BYTES = 1024 * 1024
Log = Callable[[str], None]


@dataclass
class Settings:
    """How the server behaves; every field has the safe default."""

    tokens: frozenset[str] = frozenset()
    public_url: str = ""
    log: Log | None = None


@dataclass(frozen=True)
class Target:
    """What a request names, looked up as far as its route's scope asks (``found`` for a revision)."""

    match: Match
    found: Found | None = None

    @property
    def view(self) -> RevisionView:
        assert self.found is not None, "only revision-scoped routes have a view"
        return self.found.view

    @property
    def cache_control(self) -> str:
        """Immutable when the URL names the commit itself; a branch or tag may move."""
        by_commit = self.found is not None and self.match.revision == self.found.view.commit
        return protocol.IMMUTABLE if by_commit else protocol.SHORT_LIVED


def _error(status: int, code: str | None, message: str, commit: str | None = None) -> web.Response:
    headers = protocol.error_headers(code, message, commit)
    return web.json_response({"error": message}, status=status, headers=headers)


class Handler:
    """The request handler, bound to one mirror; its methods are the handlers the routes name."""

    def __init__(self, mirror: Mirror, verifier: Verifier, settings: Settings) -> None:
        self.mirror = mirror
        self.verifier = verifier
        self.settings = settings
        self.stats = Stats()
        self.transfer = Transfer(verifier)
        self.oci = V2(mirror, verifier, settings, self.deliver)
        missing = {r.handler for r in routes.ROUTES if not callable(getattr(self, r.handler, None))}
        if missing:
            raise TypeError(f"routes name handlers that do not exist: {sorted(missing)}")

    def log(self, text: str) -> None:
        if self.settings.log is not None:
            self.settings.log(text)

    def _authorized(self, request: web.Request, basic: bool) -> bool:
        """A token of the mirror shown as a bearer (or, for ``/v2/``, as a Basic password)."""
        if not self.settings.tokens:
            return True
        token = oci.presented(request.headers.get("Authorization", ""), basic)
        return any(hmac.compare_digest(token.encode(), t.encode()) for t in self.settings.tokens)

    def _match(self, raw_path: str) -> Match | None:
        """The route; a ``/v2/`` path that is also a Hub URL of a repo the mirror holds is the Hub's."""
        m = routes.match(raw_path)
        if m is None or m.route.api != "oci":
            return m
        try:
            hub = routes.match(raw_path, routes.HUB_ROUTES)
        except BadRequest:
            return m
        held = hub is not None and hub.route.scope is not Scope.NONE and self.mirror.holders(hub.name)
        return hub if held else m

    async def handle(self, request: web.Request) -> web.StreamResponse:
        """Every request: matched, checked, looked up by its route's scope, answered by its handler."""
        v2 = request.raw_path == "/v2" or request.raw_path.startswith("/v2/")
        try:
            m = self._match(request.raw_path)
        except BadRequest as e:
            return oci_error(OciError("NAME_INVALID", str(e))) if v2 else _error(e.status, e.code, str(e))
        in_oci = m is not None and m.route.api == "oci"
        if (m is None or not m.route.open) and not self._authorized(request, in_oci):
            if in_oci:
                return self.oci.unauthorized(request, m)
            return _error(401, None, "Invalid credentials in Authorization header")
        if request.method not in (m.route.methods if m is not None else routes.READ):
            if in_oci:
                return oci_error(OciError("UNSUPPORTED", f"{request.method}: this registry is read-only"))
            return _error(405, None, f"{request.method} is not allowed: this mirror is read-only")
        if m is None:
            return _error(404, None, "Not found")
        try:
            target = self._look_up(m)
            if isinstance(target, web.Response):
                return target
            answer: Callable[[web.Request, Target], Awaitable[web.StreamResponse]]
            answer = getattr(self, m.route.handler)
            return await answer(request, target)
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

    def _look_up(self, m: Match) -> Target | web.Response:
        """The route's scope: the repo held by some source, or the revision resolved once."""
        if m.route.scope is Scope.NONE:
            return Target(m)
        if m.route.scope is Scope.REPO:
            if not self.mirror.holders(m.name):
                return _error(404, "RepoNotFound", "Repository not found")
            return Target(m)
        try:
            found = self.mirror.find(m.name, m.revision)
        except KeyError:
            return _error(404, "RepoNotFound", "Repository not found")
        if found is None:
            return _error(404, "RevisionNotFound", f"Invalid rev id: {m.revision}")
        return Target(m, found)

    # --- scope: none ----------------------------------------------------------------------------

    async def index(self, request: web.Request, t: Target) -> web.StreamResponse:
        loop = asyncio.get_running_loop()  # a stat and a digest look-up per file: off the loop
        page = await loop.run_in_executor(
            None, index_page, self.mirror, self.verifier, self.settings.public_url
        )
        return web.Response(text=page, content_type="text/html", headers={"Cache-Control": "no-cache"})

    async def healthz(self, request: web.Request, t: Target) -> web.StreamResponse:
        return web.Response(text="ok\n", headers={"Cache-Control": "no-cache"})

    async def metrics(self, request: web.Request, t: Target) -> web.StreamResponse:
        s = self.stats
        uptime = time.monotonic() - s.started
        text = metrics_text(s.requests, s.bytes_sent, s.refused, len(self.mirror.repos()), uptime)
        return web.Response(text=text, headers={"Cache-Control": "no-cache"})

    async def whoami(self, request: web.Request, t: Target) -> web.StreamResponse:
        return _error(401, None, "This mirror has no user accounts")

    async def agent_harnesses(self, request: web.Request, t: Target) -> web.StreamResponse:
        return web.json_response({"standardEnvVars": [], "harnesses": {}})

    async def no_xet(self, request: web.Request, t: Target) -> web.StreamResponse:
        return _error(404, None, "This mirror serves files over plain HTTP only (no Xet)")

    async def v2(self, request: web.Request, t: Target) -> web.StreamResponse:
        return await self.oci.answer(request, t.match)

    async def v2_token(self, request: web.Request, t: Target) -> web.StreamResponse:
        return self.oci.token(request)

    # --- scope: repo ----------------------------------------------------------------------------

    async def refs(self, request: web.Request, t: Target) -> web.StreamResponse:
        refs = self.mirror.refs(t.match.name)
        body = protocol.refs(refs, "include_prs" in request.query)
        return web.json_response(body, headers={"Cache-Control": protocol.SHORT_LIVED})

    # --- scope: revision ------------------------------------------------------------------------

    async def repo_info(self, request: web.Request, t: Target) -> web.StreamResponse:
        return web.json_response(protocol.repo_info(t.view), headers={"Cache-Control": t.cache_control})

    async def tree(self, request: web.Request, t: Target) -> web.StreamResponse:
        recursive = request.query.get("recursive", "").lower() in ("1", "true")
        entries = protocol.tree(t.view, t.match.path, recursive)
        if entries is None:
            return self._no_entry(t)
        return web.json_response(entries, headers={"Cache-Control": t.cache_control})

    async def paths_info(self, request: web.Request, t: Target) -> web.StreamResponse:
        try:
            body = await request.read()  # refused past the app's client_max_size (MAX_FORM_BYTES)
        except web.HTTPRequestEntityTooLarge:
            return _error(413, None, "paths-info body too large")
        form = parse_qs(body.decode("utf-8", errors="replace"))
        paths = [protocol.check_path([p]) for p in form.get("paths", [])]
        return web.json_response(
            protocol.paths_info(t.view, paths), headers={"Cache-Control": t.cache_control}
        )

    async def commits(self, request: web.Request, t: Target) -> web.StreamResponse:
        return web.json_response(protocol.commits(t.view), headers={"Cache-Control": t.cache_control})

    async def resolve(self, request: web.Request, t: Target) -> web.StreamResponse:
        view, m = t.view, t.match
        f = view.files.get(m.path)
        if f is None or f.blob_id is None:
            return self._no_entry(t)
        headers = protocol.file_headers(view, f, m.revision == view.commit)
        # Clients before 1.x drop the token on the GET after a redirect: with tokens, no redirect.
        if m.revision != view.commit and not self.settings.tokens:
            location = protocol.resolve_url(m.repo_type, m.repo_id, view.commit, f.name)
            return web.Response(status=307, headers={**headers, "Location": location, "Content-Length": "0"})

        def refused(why: str) -> web.StreamResponse:
            return _error(503, None, f"{f.name} is listed but not served by this mirror: {why}", view.commit)

        assert t.found is not None
        return await self.deliver(request, t.found, f, headers, refused)

    async def deliver(
        self,
        request: web.Request,
        found: Found,
        f: ViewFile,
        headers: dict[str, str],
        refused: Callable[[str], web.StreamResponse],
    ) -> web.StreamResponse:
        """Send ``f``'s bytes if the mirror may (they are here, not being written, not known to be
        wrong), through the verifier; else count, log and answer ``refused(why)``."""

        def refuse(f: ViewFile, why: str) -> web.StreamResponse:
            self.stats.refused += 1
            self.log(f"refused {f.name}: {why}")
            return refused(why)

        if not f.available:
            why = await asyncio.get_running_loop().run_in_executor(None, found.source.explain, found.view, f)
            return refuse(f, why)
        verdict = self.verifier.verdict(f)
        if verdict is None and found.source.writing(found.view, f):
            return refuse(f, "it is being written right now (its lock is held); try again")
        if verdict is False:
            return refuse(f, MISMATCH)
        return await self.transfer.send(request, f, headers, verdict, refuse)

    def _no_entry(self, t: Target) -> web.Response:
        message = f"{t.match.path} does not exist on {t.match.revision}"
        return _error(404, "EntryNotFound", message, t.view.commit)


HANDLER = web.AppKey("handler", Handler)


def make_app(mirror: Mirror, verifier: Verifier, settings: Settings) -> web.Application:
    """The aiohttp application: every path goes to one handler, which routes by the table."""
    handler = Handler(mirror, verifier, settings)
    app = web.Application(middlewares=[access_log(handler)], client_max_size=MAX_FORM_BYTES)
    app.router.add_route("*", "/{tail:.*}", handler.handle)
    app[HANDLER] = handler
    return app
