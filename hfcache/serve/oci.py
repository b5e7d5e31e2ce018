"""The read-only half of the OCI Distribution API, as pure functions: ``/v2/`` paths parsed and
checked, the headers and bodies of answers, errors as the spec writes them, and pagination.

Every part of a path is checked before anything is looked up: the name by the OCI grammar or as
a Hub id (original case), a manifest reference as a tag (``[A-Za-z0-9_][A-Za-z0-9._-]{0,127}``)
or a sha256 digest, a blob by a sha256 digest; ``n`` as a number. Errors are the spec's JSON
(``{"errors": [{"code", "message", "detail"}]}``) with distribution's codes and statuses.
Which paths exist and what they answer is documented in ``docs/oci-mirror.md``.
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urlencode

from hfcache.oci.names import DIGEST, is_tag
from hfcache.serve.ocinames import MAX_NAME_TEXT, valid_request_name
from hfcache.serve.protocol import IMMUTABLE, SHORT_LIVED

API_VERSION = {"Docker-Distribution-API-Version": "registry/2.0"}
DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
OCTET = "application/octet-stream"
SERVICE = "hfcache"
PAGE_MAX = 1000
"""Most tags or names one page lists (asking for more gives this many and a ``Link``)."""
MAX_N_DIGITS = 9

STATUS = {
    "BLOB_UNKNOWN": 404,
    "MANIFEST_UNKNOWN": 404,
    "NAME_UNKNOWN": 404,
    "NAME_INVALID": 400,
    "DIGEST_INVALID": 400,
    "TAG_INVALID": 400,
    "PAGINATION_NUMBER_INVALID": 400,
    "UNAUTHORIZED": 401,
    "UNSUPPORTED": 405,
    "UNAVAILABLE": 503,
}
MESSAGE = {
    "BLOB_UNKNOWN": "blob unknown to registry",
    "MANIFEST_UNKNOWN": "manifest unknown",
    "NAME_UNKNOWN": "repository name not known to registry",
    "NAME_INVALID": "invalid repository name",
    "DIGEST_INVALID": "provided digest did not match uploaded content",
    "TAG_INVALID": "manifest tag did not match URI",
    "PAGINATION_NUMBER_INVALID": "invalid number of results requested",
    "UNAUTHORIZED": "authentication required",
    "UNSUPPORTED": "The operation is unsupported.",
    "UNAVAILABLE": "service unavailable",
}


class OciError(Exception):
    """An answer in the spec's error form: ``code`` (one of :data:`STATUS`), a message, a detail."""

    def __init__(self, code: str, message: str | None = None, detail: Any = None, status: int | None = None):
        super().__init__(message or MESSAGE[code])
        self.code = code
        self.status = status or STATUS[code]
        self.detail = detail

    def body(self) -> bytes:
        item: dict[str, Any] = {"code": self.code, "message": str(self), "detail": self.detail}
        return json.dumps({"errors": [item]}, separators=(",", ":")).encode()


@dataclass(frozen=True)
class V2Path:
    """What a ``/v2/`` path asks for: ``kind`` is base, catalog, manifest, blob, tags or
    referrers; ``name`` the repository as sent; ``ref`` the tag or digest."""

    kind: str
    name: str = ""
    ref: str = ""


def _name(parts: list[str]) -> str:
    name = "/".join(parts)
    if not parts or len(name) > MAX_NAME_TEXT or not valid_request_name(name):
        raise OciError("NAME_INVALID", detail={"Name": name[:MAX_NAME_TEXT]})
    return name


def parse(tail: list[str]) -> V2Path:
    """The request a ``/v2/`` path's segments after ``v2`` (decoded) make; :class:`OciError` if none."""
    if tail in ([], [""]):
        return V2Path("base")
    if tail == ["_catalog"]:
        return V2Path("catalog")
    if len(tail) >= 3 and tail[-2:] == ["tags", "list"]:
        return V2Path("tags", _name(tail[:-2]))
    if len(tail) >= 3 and tail[-2] in ("manifests", "blobs", "referrers"):
        kind, ref = tail[-2], tail[-1]
        name = _name(tail[:-2])
        if kind != "manifests" or ":" in ref:
            if not DIGEST.fullmatch(ref):
                raise OciError(
                    "DIGEST_INVALID", "not a sha256 digest (sha256:<64 hex>)", {"Digest": ref[:99]}
                )
        elif not is_tag(ref):
            raise OciError("TAG_INVALID", "not a tag ([A-Za-z0-9_][A-Za-z0-9._-]{0,127})", {"Tag": ref[:200]})
        return V2Path({"manifests": "manifest", "blobs": "blob"}.get(kind, kind), name, ref)
    raise OciError("UNSUPPORTED", "not part of the read-only registry API this mirror answers", status=404)


def number(text: str | None) -> int | None:
    """``n`` of a paginated request: ``None`` if absent, else a whole number or :class:`OciError`."""
    if text is None:
        return None
    if not text.isdigit() or len(text) > MAX_N_DIGITS:
        raise OciError("PAGINATION_NUMBER_INVALID", detail={"n": text[:20]})
    return int(text)


def page(items: list[str], n: int | None, last: str | None) -> tuple[list[str], bool]:
    """One page of the sorted ``items``: those after ``last``, at most ``n`` (and :data:`PAGE_MAX`);
    and whether more follow."""
    after = [i for i in items if last is None or i > last]
    size = min(PAGE_MAX if n is None else n, PAGE_MAX)
    return after[:size], len(after) > size


def next_link(path: str, n: int | None, last: str) -> str:
    """The ``Link`` header to the next page, as distribution writes it."""
    query = urlencode({"n": str(n if n is not None else PAGE_MAX), "last": last})
    return f'<{quote(path)}?{query}>; rel="next"'


def manifest_headers(media_type: str, digest: str, size: int, by_digest: bool) -> dict[str, str]:
    """What a manifest answer carries (GET and HEAD alike): its exact type, digest and length.
    By digest it never changes; a tag may move to another revision."""
    return {
        **API_VERSION,
        "Content-Type": media_type,
        "Docker-Content-Digest": digest,
        "Content-Length": str(size),
        "ETag": f'"{digest}"',
        "Cache-Control": IMMUTABLE if by_digest else SHORT_LIVED,
    }


def blob_headers(name: str, digest: str, method: str) -> dict[str, str]:
    """What a blob answer carries. A GET also says where the blob is (``Location``, its own URL):
    ollama's pull reads it from the 200 answer and downloads the parts from there."""
    headers = {
        **API_VERSION,
        "Content-Type": OCTET,
        "Docker-Content-Digest": digest,
        "ETag": f'"{digest}"',
        "Accept-Ranges": "bytes",
        "Cache-Control": IMMUTABLE,
    }
    if method == "GET":
        headers["Location"] = f"/v2/{quote(name)}/blobs/{digest}"
    return headers


def accepted(accept: str) -> set[str]:
    """The media types an ``Accept`` header names, parameters dropped."""
    return {part.split(";")[0].strip().lower() for part in accept.split(",") if part.strip()}


def dialect(accept: str, user_agent: str) -> str:
    """Who asks for a manifest: ``llamacpp`` (llama.cpp's probe), ``ollama`` (ollama's pull, or a
    client that takes only Docker's v2 manifest), else ``oci``."""
    agent = user_agent.strip().lower()
    if agent.startswith("llama-cpp"):
        return "llamacpp"
    if agent.startswith("ollama/") or accepted(accept) == {DOCKER_MANIFEST}:
        return "ollama"
    return "oci"


def presented(header: str, basic: bool) -> str:
    """The token a client shows in ``Authorization``: a bearer token, or (with ``basic``) the
    password of Basic credentials, whatever the user name; ``""`` if none."""
    scheme, _, value = header.strip().partition(" ")
    if scheme.lower() == "bearer":
        return value.strip()
    if basic and scheme.lower() == "basic":
        try:
            decoded = base64.b64decode(value.strip(), validate=True).decode("utf-8")
        except (ValueError, UnicodeDecodeError):
            return ""
        return decoded.partition(":")[2]
    return ""


def challenge(base: str, name: str | None) -> str:
    """``WWW-Authenticate``: a bearer realm on the mirror itself (``/v2/token``); clients ask it for
    a token with the mirror's token as password, or send a token they have as a bearer."""
    value = f'Bearer realm="{base}/v2/token",service="{SERVICE}"'
    return value + (f',scope="repository:{name}:pull"' if name else "")


def catalog_body(names: list[str]) -> bytes:
    return json.dumps({"repositories": names}, separators=(",", ":")).encode()


def tags_body(name: str, tags: list[str]) -> bytes:
    return json.dumps({"name": name, "tags": tags}, separators=(",", ":")).encode()
