"""A small stand-in for the Hugging Face Hub, served over HTTP on 127.0.0.1 for tests.

Why: the only trustworthy way to get a *real* cache (refs, blobs, snapshots, ``trees/``,
``.no_exist/``) is to let huggingface_hub's own downloader write it.  This server speaks
just enough of the Hub protocol for ``snapshot_download``/``hf_hub_download`` and the
``HfApi`` readers they use: ``repo_info``, ``list_repo_tree`` (Link-header pagination) and
``/resolve`` HEAD/GET with ``Range``, including the ``X-Error-Code`` 404s.

LFS files behave like on huggingface.co: ``/resolve`` answers ``302`` with ``X-Linked-Etag``
(sha256) and ``X-Linked-Size`` and a ``Location`` on a *separate host* (``localhost`` and a
second port, the "CDN").  huggingface_hub does not follow a HEAD redirect to another host (0.x
follows only relative ones, 1.x those to the same host name, 2.x those to the same origin), so
it reads the metadata off the 302 and then GETs the CDN URL, exactly as with the real Hub.  No
Xet header is ever sent, so downloads are plain HTTP.
"""

from __future__ import annotations

import fnmatch
import hashlib
import ipaddress
import json
import os
import socket
import tempfile
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, unquote, urlencode, urlsplit

if TYPE_CHECKING:
    import pytest

LFS_PATTERNS: tuple[str, ...] = ("*.safetensors", "*.bin", "*.gguf", "*.pt")
COMMIT_DATE = "2024-01-01T00:00:00.000Z"
_AUTHOR = "Standin Hub <hub@standin.invalid> 1704067200 +0000"
_TYPE_SINGULAR = {"models": "model", "datasets": "dataset", "spaces": "space"}


def _git_hash(kind: bytes, body: bytes) -> str:
    return hashlib.sha1(kind + b" %d\0" % len(body) + body).hexdigest()


def git_blob_sha1(data: bytes) -> str:
    """Git object id of ``data`` as a blob: the Hub's ETag (and cache blob name) of regular files."""
    return _git_hash(b"blob", data)


def lfs_pointer(sha256: str, size: int) -> bytes:
    """The Git LFS pointer file committed in place of an LFS file's content."""
    return f"version https://git-lfs.github.com/spec/v1\noid sha256:{sha256}\nsize {size}\n".encode()


@dataclass(frozen=True)
class HubFile:
    """One file of a commit; ``oid`` is the git blob id (of the pointer file, for LFS files)."""

    path: str
    data: bytes
    lfs: bool
    sha256: str
    oid: str

    @classmethod
    def build(cls, path: str, data: bytes, lfs: bool) -> HubFile:
        sha256 = hashlib.sha256(data).hexdigest()
        return cls(path, data, lfs, sha256, git_blob_sha1(lfs_pointer(sha256, len(data)) if lfs else data))

    @property
    def etag(self) -> str:
        """Name of this file's blob in a cache: sha256 for LFS files, git sha1 otherwise."""
        return self.sha256 if self.lfs else self.oid

    @property
    def pointer_size(self) -> int:
        return len(lfs_pointer(self.sha256, len(self.data)))


@dataclass(frozen=True)
class Commit:
    """An immutable snapshot of a repo: all its files plus the git tree id of every folder."""

    sha: str
    files: Mapping[str, HubFile]
    dirs: Mapping[str, str]  # folder path ("" = root) -> git tree id
    parent: str | None


@dataclass
class _Repo:
    commits: dict[str, Commit] = field(default_factory=dict)
    refs: dict[str, str] = field(default_factory=dict)  # "main", "v1.0", "refs/pr/1" -> commit sha


@dataclass(frozen=True)
class RecordedRequest:
    """One request the server answered; ``origin`` is ``"hub"`` or ``"cdn"``."""

    origin: str
    method: str
    path: str
    status: int
    headers: Mapping[str, str]


class HubError(Exception):
    """An error response, with the ``X-Error-Code`` huggingface_hub maps to its exceptions."""

    def __init__(self, status: int, code: str | None, message: str, commit: str | None = None) -> None:
        super().__init__(message)
        self.status, self.code, self.message, self.commit = status, code, message, commit


def _git_trees(
    files: Mapping[str, HubFile], folder: str = "", out: dict[str, str] | None = None
) -> dict[str, str]:
    """Git tree ids of ``folder`` and every folder below it, computed like ``git write-tree``."""
    out = {} if out is None else out
    prefix = f"{folder}/" if folder else ""
    entries: dict[str, tuple[bytes, str]] = {}
    for path, f in files.items():
        if path.startswith(prefix):
            head, sep, _ = path[len(prefix) :].partition("/")
            entries[head + sep] = (b"40000", "") if sep else (b"100644", f.oid)
    for name in [n for n in entries if n.endswith("/")]:
        entries[name] = (b"40000", _git_trees(files, prefix + name[:-1], out)[prefix + name[:-1]])
    # Git sorts a folder as if its name ended with "/", which the keys above already do.
    body = b"".join(
        mode + b" " + name.rstrip("/").encode() + b"\0" + bytes.fromhex(oid)
        for name, (mode, oid) in sorted(entries.items())
    )
    out[folder] = _git_hash(b"tree", body)
    return out


class StandinHub:
    """In-memory Hub repos served on 127.0.0.1 (API and resolve on ``url``, LFS bytes on ``cdn_url``).

    Use as a context manager or call ``start()``/``stop()``.  Thread-safe: repos may change
    while the server runs.  ``requests`` lists every request answered, so tests can assert
    that an operation made none.
    """

    def __init__(
        self,
        *,
        lfs_threshold: int = 10 * 1024,
        lfs_patterns: tuple[str, ...] = LFS_PATTERNS,
        tree_page_size: int = 1000,
        xet_hashes: bool = False,
    ) -> None:
        """Files larger than ``lfs_threshold`` bytes or matching ``lfs_patterns`` are LFS files.

        ``xet_hashes=True`` adds ``xetHash`` to LFS tree items.  huggingface_hub then tries a
        Xet download of those files (which fails here) unless ``HF_HUB_DISABLE_XET`` is set,
        so leave it off to download; it exists to test readers of tree listings.
        """
        self.lfs_threshold, self.lfs_patterns = lfs_threshold, lfs_patterns
        self.tree_page_size, self.xet_hashes = tree_page_size, xet_hashes
        self._repos: dict[tuple[str, str], _Repo] = {}
        self._blobs: dict[str, bytes] = {}  # sha256 -> content, served by the CDN origin
        self._xet: dict[str, str] = {}
        self._requests: list[RecordedRequest] = []
        self._lock = threading.RLock()
        self._servers: list[tuple[ThreadingHTTPServer, threading.Thread]] = []
        self._counter = 0

    def start(self) -> StandinHub:
        """Bind the hub and CDN servers to free ports on 127.0.0.1 and serve from daemon threads."""
        for origin in ("hub", "cdn"):
            handler = type("Handler", (_Handler,), {"hub": self, "origin": origin})
            server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
            thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
            thread.start()
            self._servers.append((server, thread))
        return self

    def stop(self) -> None:
        """Shut both servers down and release their ports."""
        for server, thread in self._servers:
            server.shutdown()
            server.server_close()
            thread.join(timeout=5)
        self._servers.clear()

    def __enter__(self) -> StandinHub:
        return self.start()

    def __exit__(
        self, typ: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    def _origin(self, index: int, host: str = "127.0.0.1") -> str:
        if len(self._servers) <= index:
            raise RuntimeError("StandinHub is not started")
        return f"http://{host}:{self._servers[index][0].server_address[1]}"

    @property
    def url(self) -> str:
        """The endpoint to pass as ``endpoint=`` to huggingface_hub: ``http://127.0.0.1:PORT``."""
        return self._origin(0)

    @property
    def cdn_url(self) -> str:
        """The separate host serving LFS content at ``/lfs-blobs/<sha256>``: ``localhost``, so that
        its host name differs from the hub's (huggingface_hub 1.x follows a HEAD redirect to the
        same host name on any port, and would read the CDN's headers instead of the 302's)."""
        return self._origin(1, "localhost")

    def is_lfs(self, path: str, data: bytes) -> bool:
        """Whether this hub stores the file with LFS (by name pattern or by size)."""
        name = path.rsplit("/", 1)[-1]
        return len(data) > self.lfs_threshold or any(fnmatch.fnmatch(name, p) for p in self.lfs_patterns)

    def unique_repo_id(self, prefix: str = "standin/repo") -> str:
        """A repo id not used before on this hub: tests sharing a hub must not share repos."""
        with self._lock:
            self._counter += 1
            return f"{prefix}-{self._counter}"

    def add_commit(
        self,
        repo_id: str,
        files: Mapping[str, bytes],
        *,
        repo_type: str = "model",
        branch: str = "main",
        parent: str | None = None,
        message: str | None = None,
    ) -> str:
        """Commit ``files`` (the *complete* repo content) on ``branch``; return the commit sha.

        ``parent`` defaults to the branch's current head.  The sha is a real git commit id
        with a fixed author and date, so it depends only on repo, content and history.
        """
        hub_files = {p: HubFile.build(p, d, self.is_lfs(p, d)) for p, d in sorted(files.items())}
        dirs = _git_trees(hub_files)
        with self._lock:
            repo = self._repos.setdefault((repo_type, repo_id), _Repo())
            parent = parent or repo.refs.get(branch)
            text = f"tree {dirs['']}\n" + (f"parent {parent}\n" if parent else "")
            text += f"author {_AUTHOR}\ncommitter {_AUTHOR}\n\n{message or f'Update {repo_type} {repo_id}'}\n"
            sha = _git_hash(b"commit", text.encode())
            repo.commits[sha] = Commit(sha, hub_files, dirs, parent)
            repo.refs[branch] = sha
            self._blobs.update({f.sha256: f.data for f in hub_files.values() if f.lfs})
        return sha

    def add_ref(self, repo_id: str, ref: str, commit: str, *, repo_type: str = "model") -> None:
        """Point ``ref`` at ``commit``: ``refs/pr/N``, a tag or branch name, ``refs/heads/<b>``."""
        with self._lock:
            repo = self._repos[(repo_type, repo_id)]
            if commit not in repo.commits:
                raise KeyError(f"unknown commit {commit} in {repo_type} {repo_id}")
            repo.refs[ref.removeprefix("refs/heads/").removeprefix("refs/tags/")] = commit

    def remove_repo(self, repo_id: str, *, repo_type: str = "model") -> None:
        """Forget a repo, as if deleted from the Hub: requests then get ``RepoNotFound``."""
        with self._lock:
            del self._repos[(repo_type, repo_id)]

    def resolve(self, repo_id: str, revision: str, *, repo_type: str = "model") -> Commit:
        """The commit a ref, full sha or unique sha prefix (7+) names; raises ``HubError`` otherwise."""
        with self._lock:
            repo = self._repos.get((repo_type, repo_id))
            if repo is None:
                raise HubError(404, "RepoNotFound", f"Repository {repo_id} not found")
            name = revision.removeprefix("refs/heads/").removeprefix("refs/tags/")
            if name in repo.refs:
                return repo.commits[repo.refs[name]]
            found = [c for sha, c in repo.commits.items() if len(name) >= 7 and sha.startswith(name)]
            if len(found) == 1:
                return found[0]
            raise HubError(404, "RevisionNotFound", f"Invalid rev id: {revision}")

    @property
    def requests(self) -> list[RecordedRequest]:
        """A copy of every request answered so far, oldest first."""
        with self._lock:
            return list(self._requests)

    def clear_requests(self) -> None:
        """Forget the recorded requests (before asserting that an operation makes none)."""
        with self._lock:
            self._requests.clear()

    def xet_hash(self, data: bytes) -> str:
        """Xet file hash of ``data``, computed by hf_xet itself (memoized by sha256)."""
        import hf_xet

        key = hashlib.sha256(data).hexdigest()
        with self._lock:
            if key not in self._xet:
                with tempfile.TemporaryDirectory() as tmp:
                    path = os.path.join(tmp, "blob")
                    with open(path, "wb") as fh:
                        fh.write(data)
                    self._xet[key] = hf_xet.hash_files([path])[0].hash
            return self._xet[key]


def _truthy(value: str | None) -> bool:
    return (value or "").lower() in ("1", "true")


_Response = tuple[int, dict[str, str], bytes]


class _Handler(BaseHTTPRequestHandler):
    """Routes one request.  Path segments stay %-encoded until split, like on the Hub."""

    hub: StandinHub
    origin: str
    server_version = "StandinHub/1.0"

    def log_message(self, format: str, *args: object) -> None:
        """Silence the default stderr access log (``hub.requests`` records everything)."""

    def do_GET(self) -> None:
        self._dispatch(head=False)

    def do_HEAD(self) -> None:
        self._dispatch(head=True)

    def _dispatch(self, head: bool) -> None:
        url = urlsplit(self.path)
        segs = [s for s in url.path.split("/") if s]
        query = {k: v[-1] for k, v in parse_qs(url.query).items()}
        response: _Response
        try:
            if self.origin == "cdn":
                with self.hub._lock:
                    data = self.hub._blobs.get(segs[-1]) if segs[:1] == ["lfs-blobs"] else None
                if data is None:
                    raise HubError(404, None, "No such blob")
                response = self._content(data, {"ETag": f'"{segs[-1]}"'})
            elif segs[:1] == ["api"]:
                response = self._api(segs[1:], query, url.path)
            else:
                response = self._resolve(segs)
        except HubError as e:
            headers = {"X-Error-Message": e.message, "Content-Type": "application/json"}
            headers |= ({"X-Error-Code": e.code} if e.code else {}) | (
                {"X-Repo-Commit": e.commit} if e.commit else {}
            )
            response = (e.status, headers, json.dumps({"error": e.message}).encode())
        except Exception as e:  # answer 500 rather than leave the client hanging
            response = (500, {}, repr(e).encode())
        self._send(*response, head=head)

    def _send(self, status: int, headers: dict[str, str], body: bytes, *, head: bool) -> None:
        record = RecordedRequest(self.origin, self.command, self.path, status, dict(self.headers))
        with self.hub._lock:
            self.hub._requests.append(record)
        self.send_response(status)
        for key, value in {"Content-Type": "application/octet-stream", **headers}.items():
            self.send_header(key, value.encode("ascii", "backslashreplace").decode())  # latin-1 only
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if not head:
            self.wfile.write(body)

    def _content(self, data: bytes, headers: dict[str, str]) -> _Response:
        """File bytes, honouring one ``Range`` (used to resume and to read safetensors headers)."""
        headers["Accept-Ranges"] = "bytes"
        start, sep, end = self.headers.get("Range", "").removeprefix("bytes=").partition("-")
        if not sep or not (start + end).isdigit():
            return 200, headers, data
        size = len(data)
        first = int(start) if start else max(size - int(end), 0)
        last = min(int(end), size - 1) if end and start else size - 1
        if first >= size or first > last:
            return 416, headers | {"Content-Range": f"bytes */{size}"}, b""
        return 206, headers | {"Content-Range": f"bytes {first}-{last}/{size}"}, data[first : last + 1]

    def _split(
        self, segs: list[str], keywords: tuple[str, ...], repo_type: str
    ) -> tuple[str, str, list[str]]:
        """Split ``org/name/<keyword>/rest`` (or legacy ``name/<keyword>/rest``) into its parts.

        Without a keyword, all of ``segs`` is the repo id (``/api/models/org/name``).
        """
        cands = [k for k in (2, 1) if len(segs) > k and segs[k] in keywords]
        for k in cands:
            with self.hub._lock:
                known = (repo_type, unquote("/".join(segs[:k]))) in self.hub._repos
            if known or k == cands[-1]:
                return unquote("/".join(segs[:k])), segs[k], segs[k + 1 :]
        return unquote("/".join(segs)), "", []

    def _resolve(self, segs: list[str]) -> _Response:
        repo_type = _TYPE_SINGULAR[segs[0]] if segs[:1] in (["datasets"], ["spaces"]) else "model"
        repo_id, keyword, rest = self._split(
            segs[1:] if repo_type != "model" else segs, ("resolve",), repo_type
        )
        if not keyword or not rest:
            raise HubError(404, None, "Not found")
        revision, rest = unquote(rest[0]), rest[1:]
        if revision == "refs" and len(rest) > 2 and rest[0] in ("pr", "convert"):  # unencoded refs/pr/N
            revision, rest = f"refs/{rest[0]}/{unquote(rest[1])}", rest[2:]
        path = unquote("/".join(rest))
        commit = self.hub.resolve(repo_id, revision, repo_type=repo_type)
        f = commit.files.get(path)
        if f is None:
            raise HubError(404, "EntryNotFound", f"{path} does not exist on {revision}", commit.sha)
        headers = {"X-Repo-Commit": commit.sha, "ETag": f'"{f.oid}"'}
        if not f.lfs:
            return self._content(f.data, headers)
        headers |= {"X-Linked-Etag": f'"{f.sha256}"', "X-Linked-Size": str(len(f.data))}
        return 302, headers | {"Location": f"{self.hub.cdn_url}/lfs-blobs/{f.sha256}"}, b"Found."

    def _api(self, segs: list[str], query: dict[str, str], raw_path: str) -> _Response:
        if not segs or segs[0] not in _TYPE_SINGULAR:
            raise HubError(404, None, "Not found")
        repo_type = _TYPE_SINGULAR[segs[0]]
        repo_id, keyword, rest = self._split(segs[1:], ("revision", "tree"), repo_type)
        if not repo_id or (keyword and not rest):
            raise HubError(404, None, "Not found")
        commit = self.hub.resolve(repo_id, unquote(rest[0]) if rest else "main", repo_type=repo_type)
        if keyword != "tree":
            return self._json(_repo_info(repo_id, commit, _truthy(query.get("blobs"))))
        prefix = unquote("/".join(rest[1:])).strip("/")
        if prefix and prefix not in commit.dirs:
            raise HubError(404, "EntryNotFound", f"{prefix} does not exist on {rest[0]}", commit.sha)
        start = f"{prefix}/" if prefix else ""
        paths = [p for p in [*commit.files, *commit.dirs] if p.startswith(start) and p != prefix]
        recursive = _truthy(query.get("recursive"))
        items = [self._item(commit, p) for p in sorted(paths) if recursive or "/" not in p[len(start) :]]
        # `expand` (lastCommit, security status) is accepted and ignored, with the Hub's smaller pages.
        cursor = int(query.get("cursor", "0"))
        size = min(self.hub.tree_page_size, 50 if _truthy(query.get("expand")) else 1000)
        headers: dict[str, str] = {}
        if cursor + size < len(items):
            next_url = f"{self.hub.url}{raw_path}?{urlencode(query | {'cursor': str(cursor + size)})}"
            headers["Link"] = f'<{next_url}>; rel="next"'
        return self._json(items[cursor : cursor + size], headers)

    def _json(self, payload: object, headers: dict[str, str] | None = None) -> _Response:
        return 200, {**(headers or {}), "Content-Type": "application/json"}, json.dumps(payload).encode()

    def _item(self, commit: Commit, path: str) -> dict[str, object]:
        f = commit.files.get(path)
        if f is None:
            return {"type": "directory", "oid": commit.dirs[path], "size": 0, "path": path}
        item: dict[str, object] = {"type": "file", "oid": f.oid, "size": len(f.data), "path": path}
        if f.lfs:
            item["lfs"] = {"oid": f.sha256, "size": len(f.data), "pointerSize": f.pointer_size}
            if self.hub.xet_hashes:
                item["xetHash"] = self.hub.xet_hash(f.data)
        return item


def _repo_info(repo_id: str, commit: Commit, blobs: bool) -> dict[str, object]:
    """``/api/<type>s/<id>[/revision/<rev>]`` payload; ``blobs`` adds sizes and LFS info to siblings."""
    siblings: list[dict[str, object]] = []
    for f in commit.files.values():
        sibling: dict[str, object] = {"rfilename": f.path}
        if blobs:
            sibling |= {"size": len(f.data), "blobId": f.oid}
            if f.lfs:
                sibling["lfs"] = {"size": len(f.data), "sha256": f.sha256, "pointerSize": f.pointer_size}
        siblings.append(sibling)
    info: dict[str, object] = {
        "id": repo_id,
        "sha": commit.sha,
        "lastModified": COMMIT_DATE,
        "private": False,
    }
    info |= {"downloads": 0, "likes": 0}  # always sent by the Hub; required by huggingface_hub 0.20
    return info | {"gated": False, "disabled": False, "tags": [], "siblings": siblings}


def _is_loopback(host: object) -> bool:
    if host is None or host == "localhost":
        return True
    try:
        return ipaddress.ip_address(str(host).split("%")[0]).is_loopback
    except ValueError:
        return False


def allow_only_loopback(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make DNS lookups and connections to anything but loopback fail at once, in this process.

    A safety net: huggingface_hub has side channels that ignore ``endpoint=`` (for example the
    agent-harness registry fetched from ``constants.ENDPOINT`` when building the User-Agent).
    Unix sockets are untouched.  Subprocesses are not covered.
    """
    real_getaddrinfo, real_connect, real_connect_ex = (
        socket.getaddrinfo,
        socket.socket.connect,
        socket.socket.connect_ex,
    )

    def check(address: Any) -> None:
        if isinstance(address, tuple) and not _is_loopback(address[0]):
            raise ConnectionRefusedError(f"tests may not reach the network ({address[0]})")

    def getaddrinfo(host: Any, *args: Any, **kwargs: Any) -> Any:
        if not _is_loopback(host.decode() if isinstance(host, bytes) else host):
            raise socket.gaierror(socket.EAI_NONAME, f"tests may not resolve {host!r}")
        return real_getaddrinfo(host, *args, **kwargs)

    def connect(self: socket.socket, address: Any) -> None:
        check(address)
        real_connect(self, address)

    def connect_ex(self: socket.socket, address: Any) -> int:
        check(address)
        return real_connect_ex(self, address)

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    monkeypatch.setattr(socket.socket, "connect", connect)
    monkeypatch.setattr(socket.socket, "connect_ex", connect_ex)
