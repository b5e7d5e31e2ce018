"""A registry as an :class:`~hfcache.oci.source.ArtifactSource`: ``unpack oci://HOST/NAME:TAG``.

The manifest is fetched with an ``Accept`` naming the OCI manifest and index types (and
Docker's, so that a wrong kind of artifact gets a clear refusal, not a ``404``), bounded by
:data:`~hfcache.oci.read.MAX_MANIFEST_BYTES`, and checked against ``Docker-Content-Digest``
and against the digest that named it; an image index is followed to the one model manifest it
lists. A blob is one stream of exactly its descriptor's size: a dropped connection is resumed
with ``Range`` (a bounded number of times), a server that ignores ``Range`` is read again
from the start with the part already delivered skipped, and a server that says or sends more or
fewer bytes is refused (:mod:`hfcache.oci.blobs`). The unpacker hashes every byte; this module
bounds what it reads.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
from collections.abc import Iterator, Mapping
from typing import Any, BinaryIO

from hfcache.errors import ArtifactError, BadInputError, HfcacheError
from hfcache.oci import mediatypes as mt
from hfcache.oci.auth import load_credentials
from hfcache.oci.blobs import BlobStream
from hfcache.oci.client import Opened, RegistryClient
from hfcache.oci.names import DIGEST, is_tag
from hfcache.oci.read import MAX_MANIFEST_BYTES, parse_json
from hfcache.oci.reference import Reference, parse_reference
from hfcache.oci.source import Named, check_digest
from hfcache.oci.transport import (
    TIMEOUT,
    Transport,
    read_answer,
    read_body,
)

DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
ACCEPT = ", ".join((mt.OCI_MANIFEST, mt.OCI_INDEX, DOCKER_MANIFEST, DOCKER_LIST))
INDEXES = (mt.OCI_INDEX, DOCKER_LIST)
NAME_UNKNOWN = "NAME_UNKNOWN"
"""The distribution spec's error codes this module tells apart (the rest are shown as sent)."""
NAME_INVALID = "NAME_INVALID"
MODEL_MANIFESTS = (mt.MODEL_MANIFEST, mt.LEGACY_MODEL_MANIFEST)
MAX_PROBES = 16
"""Manifests of an index read to find its model where the index does not say which it is."""
MAX_TAGS_BYTES = 1 << 20
SHOWN_TAGS = 20
_BUFFER = 256 << 10


class RegistrySource:
    """The model manifest a registry reference names, and its blobs (see the module docstring).

    ``reference`` is ``oci://HOST[:PORT]/NAME[:TAG|@sha256:DIGEST]`` (the tag defaults to
    ``main``); HTTPS with verified certificates unless ``plain_http``; ``ca_file`` replaces the
    system CAs; credentials come from ``environ`` (default: the process's) or ``authfile``, as
    :mod:`hfcache.oci.auth` describes. Nothing touches the network until :meth:`manifests`.
    """

    def __init__(
        self,
        reference: str | Reference,
        *,
        plain_http: bool = False,
        ca_file: str | None = None,
        authfile: str | None = None,
        concurrency: int = 4,
        timeout: float = TIMEOUT,
        environ: Mapping[str, str] | None = None,
    ) -> None:
        self.ref = parse_reference(reference) if isinstance(reference, str) else reference
        if concurrency < 1:
            raise BadInputError(f"concurrency must be at least 1, not {concurrency}")
        self.concurrency = concurrency
        self.label = str(self.ref)
        credentials = load_credentials(self.ref.netloc, authfile=authfile, environ=environ)
        self.client = RegistryClient(
            self.ref,
            plain_http=plain_http,
            transport=Transport(ca_file=ca_file, timeout=timeout),
            credentials=credentials,
        )

    def _path(self, kind: str, reference: str) -> str:
        return f"/v2/{self.ref.name}/{kind}/{reference}"

    def manifests(self) -> list[Named]:
        """The one model manifest the reference names (through an image index if it is one)."""
        data, digest, media = self._manifest(self.ref.reference, self.ref.digest)
        if self._is_index(data, media):
            data, digest = self._model_in(parse_json(data, self.label, "index", MAX_MANIFEST_BYTES), digest)
        where = f"{self.label} manifest {digest[:19]}"
        return [Named(data, where, self.ref.name, self.ref.tag)]

    def _is_index(self, data: bytes, media: str | None) -> bool:
        return (
            media in INDEXES
            or parse_json(data, self.label, "manifest", MAX_MANIFEST_BYTES).get("mediaType") in INDEXES
        )

    def _manifest(
        self, reference: str, expect: str | None, size: int | None = None
    ) -> tuple[bytes, str, str | None]:
        """The bytes of the manifest ``reference`` names, their digest and the ``Content-Type``
        (its media type), every check applied."""
        what = f"manifest {reference}"
        with self.client.get(self._path("manifests", reference), what, {"Accept": ACCEPT}) as opened:
            if opened.resp.status != 200:
                raise self._manifest_error(opened, reference)
            data = read_body(opened.resp, MAX_MANIFEST_BYTES, self.label, what)
            said = opened.resp.getheader("Docker-Content-Digest")
            media = (opened.resp.getheader("Content-Type") or "").split(";")[0].strip() or None
        actual = "sha256:" + hashlib.sha256(data).hexdigest()
        if said is not None and said.strip().startswith("sha256:") and said.strip() != actual:
            raise ArtifactError(
                f"{self.label}: the registry says the {what} is {said.strip()[:80]}, but its bytes hash "
                f"to {actual}; nothing was installed"
            )
        if expect is not None:
            check_digest(data, expect, f"{self.label} {what}")
        if size is not None and len(data) != size:
            raise ArtifactError(
                f"{self.label}: the {what} is {len(data)} bytes, its index says {size}; nothing was installed"
            )
        return data, actual, media

    def _model_in(self, index: dict[str, Any], digest: str) -> tuple[bytes, str]:
        """The bytes and digest of the one model manifest an image index lists: the entry whose
        ``artifactType`` says so, or, where no entry says (skopeo 1.9 drops the field when it
        copies an index), the one of its OCI manifests (at most :data:`MAX_PROBES`) that is one."""
        listed = index.get("manifests")
        entries = [d for d in listed if isinstance(d, dict)] if isinstance(listed, list) else []
        found: list[tuple[str, int, bytes | None]] = [
            (*self._descriptor(d), None) for d in entries if d.get("artifactType") in MODEL_MANIFESTS
        ]
        if not found:
            plain = [d for d in entries if d.get("mediaType") == mt.OCI_MANIFEST and "artifactType" not in d]
            if len(plain) > MAX_PROBES:
                raise self._index_error(
                    digest, entries, [], f"{len(plain)} manifests that do not say what they are"
                )
            for d in plain:
                picked, size = self._descriptor(d)
                data, _, media = self._manifest(picked, picked, size)
                if _is_model(data) and media not in INDEXES:
                    found.append((picked, size, data))
        found = list({f[0]: f for f in found}.values())  # an entry listed twice is one
        if len(found) != 1:
            raise self._index_error(digest, entries, [d for d, _, _ in found])
        picked, size, probed = found[0]
        if probed is not None:
            return probed, picked
        data, _, media = self._manifest(picked, picked, size)
        if self._is_index(data, media):
            raise ArtifactError(
                f"{self.label}: the index names another index ({picked[:19]}…) as a model; "
                "nothing was installed"
            )
        return data, picked

    def _index_error(
        self, digest: str, entries: list[Any], models: list[str], why: str = ""
    ) -> ArtifactError:
        shown = ", ".join(models[:5])
        return ArtifactError(
            f"{self.label} is an image index ({digest[:19]}…) of {len(entries)} manifests, "
            + (why or f"{len(models)} of them models")
            + (f" ({shown}): name one as …@sha256:<digest>" if models else "")
            + "; nothing was installed"
        )

    def _descriptor(self, d: dict[str, Any]) -> tuple[str, int]:
        """The checked digest and size of a manifest's descriptor in an index."""
        picked, size = d.get("digest"), d.get("size")
        if not isinstance(picked, str) or not DIGEST.fullmatch(picked):
            raise ArtifactError(
                f"{self.label}: its index names a manifest by {str(picked)[:80]!r}; nothing was installed"
            )
        if not isinstance(size, int) or isinstance(size, bool) or not 0 < size <= MAX_MANIFEST_BYTES:
            raise ArtifactError(
                f"{self.label}: its index gives a manifest a size of {str(size)[:30]}, not one hfcache "
                f"reads (at most {MAX_MANIFEST_BYTES}); nothing was installed"
            )
        return picked, size

    def _manifest_error(self, opened: Opened, reference: str) -> HfcacheError:
        """One line for a manifest the registry would not give."""
        answer = read_answer(opened.resp)
        said = self.client.redact(answer.line())
        where = f"{self.client.netloc}/{self.ref.name}"
        if answer.status == 404 and answer.code == NAME_UNKNOWN:
            return BadInputError(f"{self.client.netloc} has no repository {self.ref.name!r}")
        if answer.status == 404:
            exists, tags = self._tags()
            if not exists:
                return BadInputError(f"{self.client.netloc} has no repository {self.ref.name!r}")
            if DIGEST.fullmatch(reference):
                return BadInputError(f"{where} has no manifest {reference} ({said})")
            if tags is None:
                return BadInputError(f"{where} has no tag {reference!r} ({said})")
            known = (
                ", ".join(tags[:SHOWN_TAGS]) + (", …" if len(tags) > SHOWN_TAGS else "") if tags else "none"
            )
            return BadInputError(f"{where} has no tag {reference!r} (tags: {known})")
        if answer.status == 400 and answer.code == NAME_INVALID:
            return BadInputError(f"{self.client.netloc} says {self.ref.name!r} is not a valid name ({said})")
        return self.client.refusal(self.client.netloc, answer, f"the manifest {reference}")

    def _tags(self) -> tuple[bool, list[str] | None]:
        """Whether the repository exists (only ``NAME_UNKNOWN`` says not) and its tags (the first
        page, sorted; only well-formed ones), or ``None`` where they cannot be listed."""
        try:
            with self.client.get(self._path("tags", "list") + "?n=1000", "the tag list") as opened:
                if opened.resp.status != 200:
                    return read_answer(opened.resp).code != NAME_UNKNOWN, None
                doc = json.loads(read_body(opened.resp, MAX_TAGS_BYTES, self.label, "tag list"))
        except (HfcacheError, ValueError, UnicodeDecodeError):
            return True, None
        tags = doc.get("tags") if isinstance(doc, dict) else None
        if not isinstance(tags, list):
            return True, None
        return True, sorted(t for t in tags if isinstance(t, str) and is_tag(t))

    @contextlib.contextmanager
    def open_blob(self, digest: str, size: int) -> Iterator[BinaryIO]:
        """A stream of exactly ``size`` bytes of the blob ``sha256:<digest>``; its own connection,
        so several may be open at once from different threads."""
        if not DIGEST.fullmatch(f"sha256:{digest}") or size < 0:
            raise ArtifactError(
                f"{self.label}: no blob can be named sha256:{digest[:80]!r}; nothing was installed"
            )
        target = self._path("blobs", f"sha256:{digest}")
        with io.BufferedReader(BlobStream(self.client, target, self.label, digest, size), _BUFFER) as stream:
            yield stream


def _is_model(data: bytes) -> bool:
    """Whether a manifest says it is a ModelPack model (artifact type, else config type)."""
    try:
        doc = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        return False
    if not isinstance(doc, dict):
        return False
    config = doc.get("config")
    return doc.get("artifactType") in MODEL_MANIFESTS or (
        isinstance(config, dict) and config.get("mediaType") in mt.MODEL_CONFIGS
    )
