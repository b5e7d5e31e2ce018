"""One HTTP exchange with a registry, over the standard library: URLs, TLS, bounded bodies, and
every way a connection fails turned into one line that names the host.

Each request gets its own connection, so threads never share one. TLS verifies certificates
against the system's CAs (``SSL_CERT_FILE``/``SSL_CERT_DIR`` are honoured, as OpenSSL honours
them) or against ``ca_file`` alone when one is given.
"""

from __future__ import annotations

import http.client
import json
import ssl
import threading
import urllib.parse
from dataclasses import dataclass

from hfcache import __version__
from hfcache.errors import ArtifactError, BadInputError, RegistryError

USER_AGENT = f"hfcache/{__version__}"
TIMEOUT = 60.0
"""Seconds to connect, and to wait for each read: long enough for a busy registry."""
MAX_ERROR_BODY = 64 << 10


class ConnectionFailed(RegistryError):
    """The registry (or a host it sent us to) could not be reached or dropped the connection;
    worth another try where a download can resume."""


@dataclass(frozen=True)
class Url:
    """An ``http(s)`` URL split as a connection needs it; ``target`` is the path and query."""

    scheme: str
    host: str
    port: int
    target: str

    @property
    def origin(self) -> tuple[str, str, int]:
        """Scheme, host and port: credentials are sent only where this is the registry's."""
        return self.scheme, self.host, self.port

    @property
    def netloc(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        default = 443 if self.scheme == "https" else 80
        return host if self.port == default else f"{host}:{self.port}"

    def __str__(self) -> str:
        return f"{self.scheme}://{self.netloc}{self.target}"

    def join(self, location: str) -> Url:
        """``location`` (absolute or relative, as a ``Location`` header says) against this URL."""
        return parse_url(urllib.parse.urljoin(str(self), location))


def parse_url(text: str) -> Url:
    """An absolute ``http``/``https`` URL, or :class:`ValueError`."""
    parts = urllib.parse.urlsplit(text)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"not an http(s) URL: {text[:200]!r}")
    port = parts.port or (443 if parts.scheme == "https" else 80)  # .port raises ValueError if bad
    target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    if not (target + parts.hostname).isascii() or any(c in target + parts.hostname for c in "\r\n\t "):
        raise ValueError(f"not a usable URL: {text[:200]!r}")
    return Url(parts.scheme, parts.hostname.lower(), port, target)


@dataclass(frozen=True)
class Answer:
    """What a registry's error body says: its first error's code and a one-line message."""

    status: int
    code: str | None
    message: str

    def line(self) -> str:
        said = f"{self.code}: {self.message}" if self.code else self.message
        return f"{self.status} {said}".rstrip()


class Transport:
    """Opens one connection per request, with the TLS settings of one registry session."""

    def __init__(self, *, ca_file: str | None = None, timeout: float = TIMEOUT) -> None:
        self.ca_file = ca_file
        self.timeout = timeout
        self._context: ssl.SSLContext | None = None
        self._lock = threading.Lock()

    def context(self) -> ssl.SSLContext:
        """The TLS context, made once: certificates and host names verified."""
        with self._lock:
            if self._context is None:
                try:
                    self._context = ssl.create_default_context(cafile=self.ca_file)
                except (OSError, ssl.SSLError) as e:
                    why = getattr(e, "strerror", None) or e
                    raise BadInputError(f"{self.ca_file}: cannot use it as CA certificates ({why})") from None
            return self._context

    def open(
        self, url: Url, headers: dict[str, str], method: str = "GET"
    ) -> tuple[http.client.HTTPConnection, http.client.HTTPResponse]:
        """Send one request and read the answer's head; the caller reads the body and closes the
        connection. Network and TLS failures raise :class:`RegistryError` naming the host."""
        conn: http.client.HTTPConnection
        if url.scheme == "https":
            conn = http.client.HTTPSConnection(
                url.host, url.port, timeout=self.timeout, context=self.context()
            )
        else:
            conn = http.client.HTTPConnection(url.host, url.port, timeout=self.timeout)
        try:
            conn.connect()
        except ssl.SSLCertVerificationError as e:
            conn.close()
            raise RegistryError(
                f"{url.netloc}: its TLS certificate is not trusted ({e.verify_message}); give its CA "
                "with --ca-file or SSL_CERT_FILE"
            ) from None
        except ssl.SSLError as e:
            conn.close()
            raise RegistryError(
                f"{url.netloc}: TLS failed ({e.reason or e}); if it serves plain http, use --plain-http"
            ) from None
        except TimeoutError:
            conn.close()
            raise ConnectionFailed(f"{url.netloc}: no answer within {self.timeout:g} s") from None
        except OSError as e:
            conn.close()
            raise ConnectionFailed(f"{url.netloc}: cannot connect ({e.strerror or e})") from None
        try:
            conn.request(method, url.target, headers={"User-Agent": USER_AGENT, **headers})
            return conn, conn.getresponse()
        except TimeoutError:
            conn.close()
            raise ConnectionFailed(f"{url.netloc}: no answer within {self.timeout:g} s") from None
        except (http.client.HTTPException, OSError) as e:
            conn.close()
            hint = "; if it serves only https, leave out --plain-http" if url.scheme == "http" else ""
            raise ConnectionFailed(
                f"{url.netloc}: the connection broke before an answer ({type(e).__name__}){hint}"
            ) from None


def content_length(resp: http.client.HTTPResponse) -> int | None:
    """The ``Content-Length`` as a number, ``None`` if absent; a malformed one is hostile."""
    value = resp.getheader("Content-Length")
    if value is None:
        return None
    if not value.strip().isdigit() or len(value.strip()) > 20:
        raise ArtifactError(f"the registry sent Content-Length {value[:40]!r}; nothing was installed")
    return int(value)


def read_body(resp: http.client.HTTPResponse, limit: int, where: str, what: str) -> bytes:
    """The whole body, at most ``limit`` bytes: refused before reading when ``Content-Length``
    says more, and as soon as more arrives when it does not say."""
    length = content_length(resp)
    if length is not None and length > limit:
        raise ArtifactError(
            f"{where}: the {what} is {length} bytes, more than the {limit} hfcache reads; "
            "nothing was installed"
        )
    try:
        data = resp.read(limit + 1)
    except (OSError, http.client.HTTPException) as e:
        raise ConnectionFailed(f"{where}: the connection broke while reading the {what} ({e})") from None
    if len(data) > limit:
        raise ArtifactError(
            f"{where}: the {what} is more than the {limit} bytes hfcache reads; nothing was installed"
        )
    if length is not None and len(data) != length:
        raise ConnectionFailed(f"{where}: the {what} broke off after {len(data)} of {length} bytes")
    return data


def read_answer(resp: http.client.HTTPResponse) -> Answer:
    """A registry's error body (``{"errors": [{"code", "message", "detail"}]}``) in one line;
    anything else gives the status and reason alone."""
    try:
        body = resp.read(MAX_ERROR_BODY)
    except (OSError, http.client.HTTPException):
        body = b""
    code: str | None = None
    message: str = resp.reason or ""
    try:
        doc = json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        doc = None
    errors = doc.get("errors") if isinstance(doc, dict) else None
    if doc is None and body.strip() and (resp.getheader("Content-Type") or "text/").startswith("text/"):
        line = body.decode("utf-8", "replace").strip().splitlines()[0]
        message = f"{message}: {line}" if message else line  # Go's "Client sent an HTTP request to …"
    if isinstance(errors, list) and errors and isinstance(errors[0], dict):
        said = errors[0]
        code = said["code"] if isinstance(said.get("code"), str) else None
        message = said["message"] if isinstance(said.get("message"), str) else message
    text = " ".join(str(message).split())[:200]
    return Answer(resp.status, code[:40] if code else None, text)
