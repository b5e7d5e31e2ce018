"""Registry credentials and the distribution token flow's pieces that need no network.

Where credentials come from, first found wins: ``HFCACHE_REGISTRY_TOKEN`` (a ready bearer
token), then ``HFCACHE_REGISTRY_USERNAME`` with ``HFCACHE_REGISTRY_PASSWORD``, then the entry for
the registry's ``host[:port]`` in a file of Docker's ``config.json`` format (``auths`` → host →
``auth``: base64 of ``user:password``; or ``username``/``password``; or ``registrytoken``), read
from the ``authfile`` argument, else ``REGISTRY_AUTH_FILE``, else ``$DOCKER_CONFIG/config.json``,
else ``~/.docker/config.json``. Credential helpers (``credsStore``, ``credHelpers``) and OAuth2
identity tokens are not used: they run other programs or need a second protocol.

Secrets are kept out of ``repr`` and never put in a message; :func:`redact` removes them from
text a registry sends back, which a hostile one could fill with the header it was given.
"""

from __future__ import annotations

import base64
import binascii
import json
import os
import re
import urllib.parse
from collections.abc import Mapping
from dataclasses import dataclass, field

from hfcache.errors import BadInputError, RegistryError

ENV_TOKEN = "HFCACHE_REGISTRY_TOKEN"
ENV_USERNAME = "HFCACHE_REGISTRY_USERNAME"
ENV_PASSWORD = "HFCACHE_REGISTRY_PASSWORD"
ENV_AUTHFILE = "REGISTRY_AUTH_FILE"
MAX_AUTHFILE_BYTES = 4 << 20
MAX_TOKEN_BYTES = 1 << 20
"""Tokens are JWTs of a few KiB; a megabyte is room for any, and a bound on a hostile realm."""
_TOKEN = re.compile(r"[\w!#$%&'*+.^`|~-]+", re.ASCII)
_QUOTED = re.compile(r'"((?:[^"\\]|\\.)*)"')
_BARE = re.compile(r"[^\s,]+")
"""An unquoted parameter value: a token by the RFC, read as far as the next comma, as clients do."""


@dataclass(frozen=True)
class Credentials:
    """A user name and password, or a ready bearer token; ``source`` says where they were read
    (a variable's or a file's name), the only part that may appear in a message."""

    source: str
    username: str | None = field(default=None, repr=False)
    password: str | None = field(default=None, repr=False)
    token: str | None = field(default=None, repr=False)

    @property
    def basic(self) -> str | None:
        """The ``Authorization`` value for HTTP Basic, or ``None`` without a password."""
        if self.username is None or self.password is None:
            return None
        pair = f"{self.username}:{self.password}".encode()
        return "Basic " + base64.b64encode(pair).decode("ascii")

    def secrets(self) -> list[str]:
        """Every form a secret of these credentials can take in text, for :func:`redact`."""
        out = [s for s in (self.password, self.token) if s]
        if (basic := self.basic) is not None:
            out.append(basic.removeprefix("Basic "))
        return out


def redact(text: str, secrets: list[str]) -> str:
    """``text`` with every secret in ``secrets`` replaced by ``***``, longest first."""
    for secret in sorted(set(secrets), key=len, reverse=True):
        if secret:
            text = text.replace(secret, "***")
    return text


def _authfile_path(authfile: str | None, environ: Mapping[str, str]) -> tuple[str | None, bool]:
    """The file to read and whether it was asked for by name (then it must exist)."""
    if authfile:
        return os.path.expanduser(authfile), True
    if environ.get(ENV_AUTHFILE):
        return os.path.expanduser(environ[ENV_AUTHFILE]), True
    if environ.get("DOCKER_CONFIG"):
        return os.path.join(os.path.expanduser(environ["DOCKER_CONFIG"]), "config.json"), False
    home = environ.get("HOME") or os.path.expanduser("~")
    return os.path.join(home, ".docker", "config.json"), False


def _key_netloc(key: str) -> str:
    """An ``auths`` key as ``host[:port]``: Docker also writes ``https://host/v1/``."""
    if "://" in key:
        key = key.split("://", 1)[1]
    return key.split("/", 1)[0].lower()


def _from_entry(entry: object, path: str, netloc: str) -> Credentials | None:
    if not isinstance(entry, dict):
        raise BadInputError(f"{path}: the entry for {netloc} is not an object")
    auth, user, password = entry.get("auth"), entry.get("username"), entry.get("password")
    if isinstance(auth, str) and auth:
        try:
            decoded = base64.b64decode(auth, validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            raise BadInputError(f"{path}: the 'auth' of {netloc} is not base64 of user:password") from None
        user, colon, password = decoded.partition(":")
        if not colon:
            raise BadInputError(f"{path}: the 'auth' of {netloc} is not base64 of user:password")
    if isinstance(user, str) and user and isinstance(password, str):
        return Credentials(path, username=user, password=password)
    token = entry.get("registrytoken")
    if isinstance(token, str) and token:
        return Credentials(path, token=token)
    return None


def _from_file(path: str, netloc: str, required: bool) -> Credentials | None:
    try:
        with open(path, "rb") as f:
            raw = f.read(MAX_AUTHFILE_BYTES + 1)
    except FileNotFoundError:
        if required:
            raise BadInputError(f"{path}: no such credentials file") from None
        return None
    except OSError as e:
        raise BadInputError(f"{path}: cannot read the credentials file ({e.strerror or e})") from None
    try:
        if len(raw) > MAX_AUTHFILE_BYTES:
            raise ValueError("too large")
        doc = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        raise BadInputError(f"{path}: not a credentials file in Docker's config.json format") from None
    auths = doc.get("auths") if isinstance(doc, dict) else None
    if not isinstance(auths, dict):
        return None
    for key, entry in auths.items():
        if isinstance(key, str) and _key_netloc(key) == netloc.lower():
            return _from_entry(entry, path, netloc)
    return None


def load_credentials(
    netloc: str, *, authfile: str | None = None, environ: Mapping[str, str] | None = None
) -> Credentials | None:
    """The credentials for the registry at ``netloc`` (``host[:port]``), in the order the module
    describes, or ``None`` (then only anonymous access is tried)."""
    env = os.environ if environ is None else environ
    if env.get(ENV_TOKEN):
        return Credentials(ENV_TOKEN, token=env[ENV_TOKEN])
    user, password = env.get(ENV_USERNAME), env.get(ENV_PASSWORD)
    if user or password:
        if not user or password is None:
            raise BadInputError(f"set both {ENV_USERNAME} and {ENV_PASSWORD}, or neither")
        return Credentials(f"{ENV_USERNAME}/{ENV_PASSWORD}", username=user, password=password)
    path, required = _authfile_path(authfile, env)
    return _from_file(path, netloc, required) if path else None


@dataclass(frozen=True)
class Challenge:
    """One challenge of a ``WWW-Authenticate`` header: its scheme (lowercase) and parameters."""

    scheme: str
    params: dict[str, str]


def parse_challenges(values: list[str]) -> list[Challenge]:
    """The challenges in ``WWW-Authenticate`` values (RFC 9110 §11.6.1: several may share one
    header, parameters are tokens or quoted strings); what cannot be parsed is skipped."""
    out: list[Challenge] = []
    for value in values:
        pos, current = 0, None
        while pos < len(value):
            if value[pos] in " \t,":
                pos += 1
                continue
            m = _TOKEN.match(value, pos)
            if m is None:
                break
            word, pos = m.group(0), m.end()
            while pos < len(value) and value[pos] in " \t":
                pos += 1
            if current is not None and value.startswith("=", pos) and not value.startswith("==", pos):
                pos += 1
                while pos < len(value) and value[pos] in " \t":
                    pos += 1
                q = _QUOTED.match(value, pos)
                t = _BARE.match(value, pos) if q is None else None
                if q is not None:
                    current.params[word.lower()] = re.sub(r"\\(.)", r"\1", q.group(1))
                    pos = q.end()
                elif t is not None:
                    current.params[word.lower()] = t.group(0)
                    pos = t.end()
                else:
                    break
            else:
                current = Challenge(word.lower(), {})
                out.append(current)
    return out


def token_url(challenge: Challenge, scope: str, default_scheme: str) -> str:
    """Where to ask for a bearer token: the realm, with ``service`` and ``scope`` (the challenge's
    scope if it names one, else ``scope``); a realm without a scheme gets the registry's."""
    realm = challenge.params.get("realm", "")
    if not realm:
        raise RegistryError("the registry asks for a bearer token but names no realm to get it from")
    if "://" not in realm:
        realm = f"{default_scheme}://{realm}"
    query = {"scope": challenge.params.get("scope") or scope}
    if challenge.params.get("service"):
        query = {"service": challenge.params["service"], **query}
    sep = "&" if urllib.parse.urlsplit(realm).query else "?"
    return realm + sep + urllib.parse.urlencode(query)


def parse_token(body: bytes, where: str) -> tuple[str, float]:
    """The token and its lifetime in seconds from a token server's JSON answer (``token`` or
    ``access_token``; ``expires_in`` defaults to 60, as the spec says)."""
    try:
        doc = json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        doc = None
    token = None
    if isinstance(doc, dict):
        token = doc.get("token") or doc.get("access_token")
    if not isinstance(token, str) or not token or any(c in token for c in "\r\n"):
        raise RegistryError(f"{where}: the token server's answer holds no token")
    expires = doc.get("expires_in") if isinstance(doc, dict) else None
    lifetime = float(expires) if isinstance(expires, int | float) and not isinstance(expires, bool) else 60.0
    return token, max(lifetime, 60.0)
