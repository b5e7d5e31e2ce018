"""``oci://HOST[:PORT]/NAME[:TAG|@sha256:DIGEST]``: which registry, repository and manifest.

The host is always written out (there is no default registry: an air-gapped site names its
own), the name is checked against the distribution spec's grammar (:mod:`hfcache.oci.names`),
and a reference without a tag or digest means the tag ``main``, the revision hfcache and the Hub
default to, not Docker's ``latest``: ``pack --format oci`` tags each revision by its refs, so
``main`` is what a packed model is found under. A reference that cannot be one is
:class:`BadInputError` with one line saying which part is wrong.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass

from hfcache.errors import BadInputError
from hfcache.oci.names import DIGEST, is_name, is_tag

SCHEME = "oci://"
DEFAULT_TAG = "main"
"""The tag a reference without one names: hfcache's (and the Hub's) default revision."""

_LABEL = re.compile(r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?")


def is_registry_reference(text: str) -> bool:
    """Whether ``text`` is meant as a registry reference (it starts with ``oci://``)."""
    return text.startswith(SCHEME)


def is_loopback(host: str) -> bool:
    """``localhost`` or a loopback address: a registry on this machine."""
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def _host_problem(host: str) -> str | None:
    """Why ``host`` (without its port) cannot be a registry host, or ``None``."""
    if host.startswith("[") and host.endswith("]"):
        try:
            ipaddress.IPv6Address(host[1:-1])
        except ValueError:
            return "is not an IPv6 address"
        return None
    if len(host) > 253 or not all(_LABEL.fullmatch(label) for label in host.lower().split(".")):
        return "is not a host name"
    return None


@dataclass(frozen=True)
class Reference:
    """A parsed registry reference. ``tag`` is ``None`` only when a digest names the manifest;
    with both written (``name:tag@sha256:…``) the digest decides and the tag is a label."""

    host: str
    port: int | None
    name: str
    tag: str | None
    digest: str | None

    @property
    def netloc(self) -> str:
        """``host[:port]``, as URLs and credential files write it."""
        return self.host if self.port is None else f"{self.host}:{self.port}"

    @property
    def reference(self) -> str:
        """What goes after ``/manifests/``: the digest if there is one, else the tag."""
        ref = self.digest or self.tag
        assert ref is not None
        return ref

    def __str__(self) -> str:
        tag = f":{self.tag}" if self.tag else ""
        digest = f"@{self.digest}" if self.digest else ""
        return f"{SCHEME}{self.netloc}/{self.name}{tag}{digest}"


def parse_reference(text: str) -> Reference:
    """``oci://HOST[:PORT]/NAME[:TAG|@sha256:DIGEST]`` checked part by part (see the module)."""

    def bad(why: str) -> BadInputError:
        return BadInputError(
            f"{text[:300]!r} is not a registry reference: {why} "
            f"(write {SCHEME}HOST[:PORT]/NAME[:TAG|@sha256:DIGEST])"
        )

    if not is_registry_reference(text):
        raise bad(f"it does not start with {SCHEME}")
    rest = text[len(SCHEME) :]
    netloc, slash, path = rest.partition("/")
    if not slash or not path:
        raise bad("it names no repository after the host")
    host, port = netloc, None
    if not netloc.endswith("]") and ":" in netloc:
        host, _, port_text = netloc.rpartition(":")
        if not port_text.isdigit() or len(port_text) > 5 or not 0 < int(port_text) < 65536:
            raise bad(f"the port {port_text[:20]!r} is not a number from 1 to 65535")
        port = int(port_text)
    if not host or (why := _host_problem(host)) is not None:
        raise bad(f"the host {host[:100]!r} {why or 'is empty'}")
    path, at, digest = path.partition("@")
    if at and not DIGEST.fullmatch(digest):
        raise bad(f"{digest[:100]!r} is not a sha256 digest (sha256: and 64 lowercase hex digits)")
    name, colon, tag = path.rpartition(":") if ":" in path.rpartition("/")[2] else (path, "", "")
    if colon and not is_tag(tag):
        raise bad(f"the tag {tag[:140]!r} is not a valid tag (letters, digits, '_', '.', '-'; at most 128)")
    if not is_name(name):
        raise bad(
            f"the repository name {name[:300]!r} is not valid (lowercase components of letters and "
            "digits joined by '.', '_', '__' or '-', separated by '/')"
        )
    return Reference(host.lower(), port, name, tag or (None if at else DEFAULT_TAG), digest if at else None)
