"""``/v2/``: the OCI Distribution API's read side, and ollama's and llama.cpp's dialects of it.

Thin aiohttp glue. Paths are parsed and checked by :mod:`hfcache.serve.oci`, names looked up in
:mod:`hfcache.serve.ocinames`' table, revisions become artifacts in
:mod:`hfcache.serve.artifacts`, GGUF repos answer ollama and llama.cpp through
:mod:`hfcache.serve.ollama`. A blob that is a file goes out through the server's one delivery
path (the verifier, then ``sendfile``), exactly as ``/resolve/`` sends it: never a wrong byte.
"""

from __future__ import annotations

import asyncio
import hmac
import json
import time
from collections.abc import Awaitable, Callable
from typing import Protocol
from urllib.parse import urlsplit

from aiohttp import web

from hfcache.oci import mediatypes as mt
from hfcache.oci.artifact import digest_of
from hfcache.oci.names import DIGEST, ref_tag
from hfcache.repoid import RepoName, is_commit
from hfcache.serve import oci
from hfcache.serve.artifacts import Artifacts, BytesBlob, FileBlob, Unservable
from hfcache.serve.oci import API_VERSION, OciError
from hfcache.serve.ocinames import NameTable
from hfcache.serve.ollama import Answer, Ollama, default_revision
from hfcache.serve.routes import Match
from hfcache.serve.sources import Found, Mirror
from hfcache.serve.transfer import not_modified, parse_range
from hfcache.serve.verifier import Verifier
from hfcache.view import ViewFile

Deliver = Callable[
    [web.Request, Found, ViewFile, dict[str, str], Callable[[str], web.StreamResponse]],
    Awaitable[web.StreamResponse],
]
"""The server's way of sending a file: (request, revision, file, headers, answer for a refusal)."""
TOKEN_LIFETIME = 3600
JSON = "application/json"


class Settings(Protocol):
    """What ``/v2/`` reads of the server's settings (:class:`hfcache.serve.server.Settings`)."""

    tokens: frozenset[str]
    public_url: str


def error(e: OciError, headers: dict[str, str] | None = None) -> web.Response:
    """The spec's error answer."""
    extra = {**API_VERSION, "Content-Type": JSON, "Cache-Control": "no-cache", **(headers or {})}
    return web.Response(status=e.status, body=e.body(), headers=extra)


def _safe_host(host: str) -> bool:
    return 0 < len(host) <= 255 and host.isascii() and all(c.isalnum() or c in ".-:[]_" for c in host)


class V2:
    """Answers ``/v2/`` for one mirror; ``tokens`` and ``public_url`` are read from ``settings``."""

    def __init__(self, mirror: Mirror, verifier: Verifier, settings: Settings, deliver: Deliver) -> None:
        self.mirror = mirror
        self.settings = settings
        self.deliver = deliver
        self.artifacts = Artifacts(mirror, verifier)
        self.ollama = Ollama(self.artifacts)
        self._table: tuple[tuple[RepoName, ...], NameTable] | None = None

    # --- names, tags, auth ------------------------------------------------------------------------

    def names(self) -> NameTable:
        """The name table of the repos served now (rebuilt when they change)."""
        repos = tuple(self.mirror.repos())
        if self._table is None or self._table[0] != repos:
            self._table = (repos, NameTable.build(list(repos)))
        return self._table[1]

    def repo(self, name: str) -> RepoName:
        """The repo a (checked) name names, or ``NAME_UNKNOWN``."""
        found = self.names().lookup(name)
        if found is None:
            raise OciError("NAME_UNKNOWN", detail={"Name": name})
        return found

    def tags(self, repo: RepoName) -> dict[str, str]:
        """Tag → commit: each ref's tag (a ref that is its own tag wins a clash), and every commit."""
        commits = self.mirror.commits(repo)
        refs = self.mirror.refs(repo)
        out: dict[str, str] = {}
        for ref in sorted(refs, key=lambda r: (ref_tag(r) != r, r)):
            tag = ref_tag(ref)
            if tag is not None and not is_commit(tag) and refs[ref] in commits:
                out.setdefault(tag, refs[ref])
        out.update({c: c for c in commits if is_commit(c)})
        return out

    def realm(self, request: web.Request) -> str:
        """Where clients reach the mirror: ``--public-url`` when they use its host, else the host
        they used (with the public URL's scheme)."""
        public = self.settings.public_url
        host = request.headers.get("Host", "")
        parts = urlsplit(public) if public else None
        if parts is not None and (parts.netloc == host or not _safe_host(host)):
            return public
        return f"{parts.scheme if parts else 'http'}://{host}" if _safe_host(host) else "http://localhost"

    def unauthorized(self, request: web.Request, m: Match | None) -> web.Response:
        """401 with a bearer challenge on the mirror's own ``/v2/token``."""
        name = None
        if m is not None and m.tail:
            try:
                name = oci.parse(list(m.tail)).name or None
            except OciError:
                name = None
        detail = [{"Type": "repository", "Name": name, "Action": "pull"}] if name else None
        challenge = {"WWW-Authenticate": oci.challenge(self.realm(request), name)}
        return error(OciError("UNAUTHORIZED", detail=detail), challenge)

    def token(self, request: web.Request) -> web.Response:
        """The realm: the mirror's token back, to a client that shows one (Basic password or Bearer)."""
        tokens = self.settings.tokens
        given = oci.presented(request.headers.get("Authorization", ""), basic=True)
        if tokens and not any(hmac.compare_digest(given.encode(), t.encode()) for t in tokens):
            return error(OciError("UNAUTHORIZED", "a token of this mirror is needed (as the password)"))
        issued = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        value = given if tokens else "anonymous"
        body = {"token": value, "access_token": value, "expires_in": TOKEN_LIFETIME, "issued_at": issued}
        headers = {**API_VERSION, "Content-Type": JSON, "Cache-Control": "no-store"}
        return web.Response(body=json.dumps(body).encode(), headers=headers)

    # --- the answers ------------------------------------------------------------------------------

    async def answer(self, request: web.Request, m: Match) -> web.StreamResponse:
        """Any ``/v2/`` request but the token realm: parsed, checked, answered (errors in the spec's form)."""
        try:
            p = oci.parse(list(m.tail))
            if p.kind == "base":
                return web.Response(body=b"{}", headers={**API_VERSION, "Content-Type": JSON})
            if p.kind == "catalog":
                return self._listing(request, self.names().sorted_names(), None)
            repo = self.repo(p.name)
            if p.kind == "tags":
                tags = await asyncio.get_running_loop().run_in_executor(None, self.tags, repo)
                return self._listing(request, sorted(tags), p.name)
            if p.kind == "manifest":
                return await self._manifest(request, repo, p.ref)
            if p.kind == "blob":
                return await self._blob(request, repo, p.name, p.ref)
            raise OciError("UNSUPPORTED", "the referrers API is not implemented here", status=404)
        except OciError as e:
            return error(e)

    def _listing(self, request: web.Request, items: list[str], name: str | None) -> web.Response:
        n = oci.number(request.query.get("n"))
        shown, more = oci.page(items, n, request.query.get("last"))
        headers = {**API_VERSION, "Content-Type": JSON}
        if more and shown:
            headers["Link"] = oci.next_link(request.path, n, shown[-1])
        body = oci.catalog_body(shown) if name is None else oci.tags_body(name, shown)
        return web.Response(body=body, headers=headers)

    async def _manifest(self, request: web.Request, repo: RepoName, ref: str) -> web.StreamResponse:
        kind = oci.dialect(request.headers.get("Accept", ""), request.headers.get("User-Agent", ""))
        by_digest = DIGEST.fullmatch(ref) is not None
        answer: Answer | None = None
        if kind == "llamacpp" and not by_digest:
            answer = await self.ollama.llamacpp(repo, ref)
        elif kind == "ollama" and not by_digest and await self._holds_gguf(repo, request):
            answer = await self.ollama.manifest(repo, ref)
        if answer is None:
            answer = await self._oci_manifest(repo, ref, by_digest)
        digest = digest_of(answer.data)
        headers = oci.manifest_headers(answer.media_type, digest, len(answer.data), by_digest)
        if request.method == "HEAD":
            return web.Response(headers=headers)
        del headers["Content-Length"]
        return web.Response(body=answer.data, headers=headers)

    async def _holds_gguf(self, repo: RepoName, request: web.Request) -> bool:
        """Does the repo's default revision hold a GGUF file? ollama itself is told if not."""
        found = await asyncio.get_running_loop().run_in_executor(None, default_revision, self.artifacts, repo)
        holds = found is not None and any(n.lower().endswith(".gguf") for n in found.view.files)
        if not holds and request.headers.get("User-Agent", "").lower().startswith("ollama/"):
            raise OciError("MANIFEST_UNKNOWN", f"{repo} holds no GGUF file for ollama to run")
        return holds

    async def _oci_manifest(self, repo: RepoName, ref: str, by_digest: bool) -> Answer:
        loop = asyncio.get_running_loop()
        if by_digest:
            for found in await loop.run_in_executor(None, self.artifacts.revisions, repo):
                try:
                    artifact = await self.artifacts.artifact(found)
                except Unservable:
                    continue
                if artifact.digest == ref:
                    return Answer(artifact.manifest, mt.OCI_MANIFEST)
            raise OciError("MANIFEST_UNKNOWN", detail={"Digest": ref})
        commit = (await loop.run_in_executor(None, self.tags, repo)).get(ref)
        held = None if commit is None else await loop.run_in_executor(None, self.mirror.find, repo, commit)
        if held is None:
            raise OciError("MANIFEST_UNKNOWN", detail={"Tag": ref})
        try:
            artifact = await self.artifacts.artifact(held)
        except Unservable as e:
            raise OciError("UNAVAILABLE", f"{repo} @ {held.view.commit[:12]}: {e}") from None
        return Answer(artifact.manifest, mt.OCI_MANIFEST)

    async def _blob(self, request: web.Request, repo: RepoName, name: str, digest: str) -> web.StreamResponse:
        hit = (
            await self.artifacts.file_blob(repo, digest)
            or self.ollama.known(repo, digest)
            or await self.artifacts.blob(repo, digest)
            or await self.ollama.blob(repo, digest)
        )
        if hit is None:
            raise OciError("BLOB_UNKNOWN", detail={"Digest": digest})
        headers = oci.blob_headers(name, digest, request.method)
        if not_modified(request, digest):
            return web.Response(status=304, headers=headers)
        if isinstance(hit, BytesBlob):
            return _bytes(request, hit.data, headers)
        assert isinstance(hit, FileBlob)

        def refused(why: str) -> web.StreamResponse:
            return error(OciError("UNAVAILABLE", f"{hit.file.name} of {repo}: {why}", {"Digest": digest}))

        return await self.deliver(request, hit.found, hit.file, headers, refused)


def _bytes(request: web.Request, data: bytes, headers: dict[str, str]) -> web.Response:
    """A generated blob: whole, a single range (206), or 416."""
    size = len(data)
    if request.method == "HEAD":
        return web.Response(headers={**headers, "Content-Length": str(size)})
    span = parse_range(request.headers.get("Range"), size)
    if isinstance(span, str):
        return web.Response(status=416, headers={**headers, "Content-Range": f"bytes */{size}"})
    if span is None:
        return web.Response(body=data, headers=headers)
    start, end = span
    headers = {**headers, "Content-Range": f"bytes {start}-{end - 1}/{size}"}
    return web.Response(status=206, body=data[start:end], headers=headers)
