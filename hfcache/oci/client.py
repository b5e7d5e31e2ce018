"""GET from one registry repository as the distribution spec and its token spec say: redirects
followed by hand, authentication on demand, busy answers retried.

Every request is first sent anonymously (or with the token an earlier one earned); a ``401``
from the registry is answered once, per its ``WWW-Authenticate`` challenge: ``Bearer`` → a
token from the realm (asked anonymously, or with Basic credentials), ``Basic`` → the user name
and password. ``Authorization`` is attached only to requests for the registry's own origin
(scheme, host and port), so a redirect to another host never carries it, and credentials never
travel over plain http unless ``--plain-http`` was asked or the host is this machine. At most
:data:`MAX_REDIRECTS` redirects are followed; ``429`` and ``5xx`` answers are retried
:data:`RETRIES` times.
"""

from __future__ import annotations

import http.client
import threading
import time
from dataclasses import dataclass

from hfcache.errors import ArtifactError, RegistryError
from hfcache.oci.auth import (
    ENV_PASSWORD,
    ENV_TOKEN,
    ENV_USERNAME,
    MAX_TOKEN_BYTES,
    Challenge,
    Credentials,
    parse_challenges,
    parse_token,
    redact,
    token_url,
)
from hfcache.oci.reference import Reference, is_loopback
from hfcache.oci.transport import Answer, Transport, Url, parse_url, read_answer, read_body

MAX_REDIRECTS = 5
RETRIES = 2
"""Further tries after a ``429`` or ``5xx`` answer, waiting :data:`RETRY_DELAY` doubled each time."""
RETRY_DELAY = 0.5
MAX_RETRY_AFTER = 10.0
_REDIRECTS = frozenset({301, 302, 303, 307, 308})
_BUSY = frozenset({429, 500, 502, 503, 504})


@dataclass
class Opened:
    """An answer whose head was read; the caller reads the body, then closes it."""

    conn: http.client.HTTPConnection
    resp: http.client.HTTPResponse
    url: Url

    def close(self) -> None:
        self.conn.close()

    def __enter__(self) -> Opened:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class RegistryClient:
    """Requests to the repository ``ref.name`` of the registry ``ref.netloc``; thread-safe (one
    connection per request; the earned ``Authorization`` is shared under a lock)."""

    retry_delay = RETRY_DELAY

    def __init__(
        self,
        ref: Reference,
        *,
        plain_http: bool = False,
        transport: Transport | None = None,
        credentials: Credentials | None = None,
    ) -> None:
        self.base = parse_url(f"{'http' if plain_http else 'https'}://{ref.netloc}/")
        self.name = ref.name
        self.plain_http = plain_http
        self.transport = transport or Transport()
        self.credentials = credentials
        self._auth: str | None = None
        self._earned: list[str] = []
        self._lock = threading.Lock()

    @property
    def netloc(self) -> str:
        return self.base.netloc

    def redact(self, text: str) -> str:
        """``text`` (something a server said) without any secret this session holds."""
        with self._lock:
            secrets = [*self._earned, *(self.credentials.secrets() if self.credentials else [])]
        return redact(text, secrets)

    def get(self, target: str, what: str, headers: dict[str, str] | None = None) -> Opened:
        """``GET target`` (a path under the registry) following redirects and answering one
        authentication challenge; any other answer is the caller's to judge."""
        url = Url(self.base.scheme, self.base.host, self.base.port, target)
        authenticated, tries = False, 0
        while True:
            with self._lock:
                sent = self._auth
            opened = self._follow(url, headers or {}, (self.base.origin, sent) if sent else None, what)
            status = opened.resp.status
            if status == 401 and opened.url.origin == self.base.origin:
                challenges = parse_challenges(opened.resp.headers.get_all("WWW-Authenticate") or [])
                with opened:
                    answer = read_answer(opened.resp)
                if authenticated:
                    raise self._refused(answer)
                authenticated = True
                with self._lock:
                    if self._auth != sent:
                        continue  # another thread earned a newer one meanwhile
                value = self._authenticate(challenges, answer)
                with self._lock:
                    self._auth = value
                continue
            if status in _BUSY:
                wait = _retry_after(opened.resp)
                with opened:
                    answer = read_answer(opened.resp)
                if tries < RETRIES:
                    time.sleep(
                        min(wait if wait is not None else self.retry_delay * 2**tries, MAX_RETRY_AFTER)
                    )
                    tries += 1
                    continue
                raise RegistryError(
                    f"{opened.url.netloc}: the request for {what} got {self.redact(answer.line())}, "
                    f"{tries + 1} times"
                )
            return opened

    def _follow(
        self, url: Url, headers: dict[str, str], auth: tuple[tuple[str, str, int], str] | None, what: str
    ) -> Opened:
        """One request and its redirects; ``auth`` = (origin, ``Authorization``) for that origin only."""
        for _ in range(MAX_REDIRECTS + 1):
            sent = dict(headers)
            if auth is not None and url.origin == auth[0]:
                sent["Authorization"] = auth[1]
            conn, resp = self.transport.open(url, sent)
            if resp.status not in _REDIRECTS:
                return Opened(conn, resp, url)
            location = resp.getheader("Location")
            conn.close()
            try:
                nxt = url.join(location or "")
            except ValueError:
                nxt = None
            if not location or nxt is None:
                raise ArtifactError(
                    f"{url.netloc} redirects the request for {what} to {str(location)[:100]!r}, not an "
                    "http(s) URL; nothing was installed"
                )
            if (
                nxt.scheme == "http"
                and url.scheme == "https"
                and not (self.plain_http or is_loopback(nxt.host))
            ):
                raise ArtifactError(
                    f"{url.netloc} redirects the request for {what} from https to plain http "
                    f"({nxt.netloc}), which hfcache follows only with --plain-http; nothing was installed"
                )
            url = nxt
        raise ArtifactError(
            f"{self.netloc}: the request for {what} is redirected more than {MAX_REDIRECTS} times "
            f"(last to {url.netloc}); nothing was installed"
        )

    def _authenticate(self, challenges: list[Challenge], answer: Answer) -> str:
        """The ``Authorization`` value that answers the registry's challenge."""
        creds = self.credentials
        bearer = next((c for c in challenges if c.scheme == "bearer"), None)
        basic = next((c for c in challenges if c.scheme == "basic"), None)
        if bearer is not None:
            if creds is not None and creds.token is not None:
                return f"Bearer {creds.token}"
            return f"Bearer {self._fetch_token(bearer)}"
        if basic is not None:
            if creds is None:
                raise self._refused(answer)
            if creds.basic is None:
                raise RegistryError(
                    f"{self.netloc} asks for a user name and password (HTTP Basic); {creds.source} gives "
                    "only a token"
                )
            return creds.basic
        schemes = ", ".join(sorted({c.scheme for c in challenges})) or "none named"
        raise RegistryError(
            f"{self.netloc} asks for authentication hfcache does not speak (schemes: {schemes[:80]})"
        )

    def _fetch_token(self, challenge: Challenge) -> str:
        """A bearer token for pulling this repository, from the realm the challenge names."""
        try:
            url = parse_url(token_url(challenge, f"repository:{self.name}:pull", self.base.scheme))
        except ValueError:
            raise RegistryError(f"{self.netloc} names a token realm that is not an http(s) URL") from None
        basic = self.credentials.basic if self.credentials is not None else None
        if basic is not None and url.scheme == "http" and not (self.plain_http or is_loopback(url.host)):
            raise RegistryError(
                f"{self.netloc}: its token server {url.netloc} is plain http; hfcache sends credentials "
                "over plain http only with --plain-http"
            )
        opened = self._follow(url, {}, (url.origin, basic) if basic else None, "a token")
        with opened:
            if opened.resp.status == 200:
                body = read_body(
                    opened.resp, MAX_TOKEN_BYTES, f"{self.netloc}'s token server", "token answer"
                )
                token, _ = parse_token(body, f"{self.netloc}'s token server {url.netloc}")
                with self._lock:
                    self._earned.append(token)
                return token
            answer = read_answer(opened.resp)
        who = (
            f"the credentials from {self.credentials.source}"
            if basic and self.credentials
            else "anonymous access"
        )
        if answer.status in (401, 403):
            raise RegistryError(
                f"{self.netloc}: its token server {url.netloc} refused {who} to {self.name} "
                f"({self.redact(answer.line())}){'' if basic else _HOW}"
            )
        raise RegistryError(
            f"{self.netloc}: its token server {url.netloc} answered {self.redact(answer.line())}"
        )

    def refusal(self, netloc: str, answer: Answer, what: str) -> RegistryError:
        """One line for an answer that is no error of the artifact's: denied, refused, failed."""
        said = self.redact(answer.line())
        if answer.status == 403:
            return RegistryError(f"{netloc} denies access to {what} ({said})")
        hint = (
            "; if it serves only https, leave out --plain-http"
            if answer.status == 400 and self.plain_http
            else ""
        )
        return RegistryError(f"{netloc}: the request for {what} got {said}{hint}")

    def _refused(self, answer: Answer) -> RegistryError:
        said = self.redact(answer.line())
        if self.credentials is None:
            return RegistryError(f"{self.netloc} needs credentials to read {self.name} ({said}){_HOW}")
        return RegistryError(
            f"{self.netloc} refused the credentials from {self.credentials.source} for {self.name} ({said})"
        )


_HOW = (
    f"; set {ENV_USERNAME} and {ENV_PASSWORD} (or {ENV_TOKEN}), or give a credentials file "
    "(docker login writes ~/.docker/config.json)"
)


def _retry_after(resp: http.client.HTTPResponse) -> float | None:
    value = (resp.getheader("Retry-After") or "").strip()
    return float(value) if value.isdigit() and len(value) < 6 else None
