"""The mirror's routes, as data: which paths it answers, with which methods, looked up how far.

Each :class:`Route` is a pattern over the request path as sent, the methods it takes, its
scope and the name of the handler that answers it. The raw (still percent-encoded) path is
split on ``/`` before each segment is decoded (:func:`hfcache.serve.protocol.segments`), so
``refs%2Fpr%2F1`` is one revision and an encoded ``..`` is caught like a plain one. The first
route whose pattern matches wins; only then are its parts checked by the one grammar
(:mod:`hfcache.repoid`, through :mod:`hfcache.serve.protocol`): a repo id the Hub could not have
is ``RepoNotFound``, a revision or path that is not safe a 400. A path no route matches is a 404
(a 405 for a method that writes: the mirror is read-only); a method its route does not take is a
405.

Pattern tokens, one per path segment except where said:

- a literal (``api``, ``resolve``);
- ``{type}``: ``models``, ``datasets`` or ``spaces``;
- ``{repo}``: one or two segments (one is tried first, so ``/api/models/gpt2/refs`` is the
  refs of ``gpt2``, as the Hub's old ids without an owner);
- ``{rev}``: a commit or a ref name (``%2F`` inside: ``refs%2Fpr%2F1``);
- ``{path*}`` / ``{path+}``: every segment left, zero or more / at least one (last only);
- ``{tail*}``: every segment left, decoded but not checked here: the OCI API's own parser
  (:func:`hfcache.serve.oci.parse`) checks each part by the OCI grammar.

Routes of the OCI Distribution API (``api="oci"``, under ``/v2/``) come first and answer errors
in the spec's JSON form. A ``/v2/...`` path that is also a Hub URL of a repo ``v2`` or
``v2/NAME`` (``/v2/NAME/resolve/main/x``) goes to the Hub's route when the mirror holds that
repo (:data:`HUB_ROUTES`; decided by the server, which knows what it holds).

The scope says what the server looks up before the handler runs: nothing (:attr:`Scope.NONE`),
that some source holds the repo (:attr:`Scope.REPO`, else ``RepoNotFound``), or the revision,
resolved once through the sources (:attr:`Scope.REVISION`, else ``RepoNotFound`` or
``RevisionNotFound``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum

from hfcache.repoid import TYPE_PREFIXES, RepoName
from hfcache.serve.protocol import check_path, check_repo_id, check_revision, segments

READ = frozenset({"GET", "HEAD"})
"""What every route takes but paths-info: the mirror is read-only."""
FORM = frozenset({"POST"})
"""paths-info alone: huggingface_hub posts its ``paths=`` form."""


class Scope(str, Enum):
    """How far a request is looked up before its handler runs."""

    NONE = "none"
    REPO = "repo"
    REVISION = "revision"


@dataclass(frozen=True)
class Route:
    """``methods`` on ``pattern``, looked up as far as ``scope``, answered by the handler named ``handler``.

    ``repo_type`` is the type of a route without ``{type}`` (``/datasets/{repo}/resolve/...``);
    an ``open`` route needs no token (health checks); ``api`` is ``hub`` or ``oci`` (``/v2/``),
    which says how errors, refusals and token challenges are written.
    """

    methods: frozenset[str]
    pattern: str
    scope: Scope
    handler: str
    repo_type: str = "model"
    open: bool = False
    api: str = "hub"
    tokens: tuple[str, ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        tokens = tuple(self.pattern.split("/")[1:])
        rest = [i for i, t in enumerate(tokens) if t in ("{path*}", "{path+}", "{tail*}")]
        if rest and rest != [len(tokens) - 1]:
            raise ValueError(f"{self.pattern}: a path token must come last")
        object.__setattr__(self, "tokens", tokens)


ROUTES: tuple[Route, ...] = (
    Route(READ, "/v2/token", Scope.NONE, "v2_token", open=True, api="oci"),
    Route(READ, "/v2/{tail*}", Scope.NONE, "v2", api="oci"),
    Route(READ, "/", Scope.NONE, "index"),
    Route(READ, "/healthz", Scope.NONE, "healthz", open=True),
    Route(READ, "/metrics", Scope.NONE, "metrics"),
    Route(READ, "/api/whoami-v2", Scope.NONE, "whoami"),
    Route(READ, "/api/whoami", Scope.NONE, "whoami"),
    Route(READ, "/api/agent-harnesses", Scope.NONE, "agent_harnesses"),
    Route(READ, "/api/{type}/{repo}/refs", Scope.REPO, "refs"),
    Route(READ, "/api/{type}/{repo}/revision/{rev}", Scope.REVISION, "repo_info"),
    Route(READ, "/api/{type}/{repo}/tree/{rev}/{path*}", Scope.REVISION, "tree"),
    Route(FORM, "/api/{type}/{repo}/paths-info/{rev}", Scope.REVISION, "paths_info"),
    Route(READ, "/api/{type}/{repo}/commits/{rev}", Scope.REVISION, "commits"),
    Route(READ, "/api/{type}/{repo}/xet-read-token/{rev}", Scope.NONE, "no_xet"),
    Route(READ, "/api/{type}/{repo}/xet-write-token/{rev}", Scope.NONE, "no_xet"),
    Route(READ, "/api/{type}/{repo}", Scope.REVISION, "repo_info"),
    Route(READ, "/datasets/{repo}/resolve/{rev}/{path+}", Scope.REVISION, "resolve", "dataset"),
    Route(READ, "/spaces/{repo}/resolve/{rev}/{path+}", Scope.REVISION, "resolve", "space"),
    Route(READ, "/{repo}/resolve/{rev}/{path+}", Scope.REVISION, "resolve"),
)
"""Every path the mirror answers, first match first. ``docs/serve.md`` lists each pattern."""
HUB_ROUTES = tuple(r for r in ROUTES if r.api == "hub")
"""The Hub's routes alone: what a ``/v2/`` path is matched against for a repo named ``v2``."""


@dataclass(frozen=True)
class Match:
    """A request's route and its checked parts. ``revision`` is ``main`` where the URL names none."""

    route: Route
    repo_type: str = "model"
    repo_id: str = ""
    revision: str = "main"
    path: str = ""
    tail: tuple[str, ...] = ()

    @property
    def name(self) -> RepoName:
        return RepoName(self.repo_type, self.repo_id)


Captures = dict[str, list[str]]


def _fit(tokens: tuple[str, ...], segs: list[str], caps: Captures) -> Captures | None:
    """The captures if ``segs`` fit ``tokens`` (by shape only), else ``None``; ``{repo}`` backtracks."""
    if not tokens:
        return caps if not segs else None
    token, rest = tokens[0], tokens[1:]
    if token == "{repo}":
        for n in (1, 2):
            if len(segs) >= n:
                found = _fit(rest, segs[n:], {**caps, "repo": segs[:n]})
                if found is not None:
                    return found
        return None
    if token == "{tail*}":
        return {**caps, "tail": segs}
    if token in ("{path*}", "{path+}"):
        return {**caps, "path": segs} if segs or token == "{path*}" else None
    if not segs:
        return None
    if token == "{type}":
        if segs[0] not in TYPE_PREFIXES:
            return None
        caps = {**caps, "type": segs[:1]}
    elif token == "{rev}":
        caps = {**caps, "rev": segs[:1]}
    elif token != segs[0]:
        return None
    return _fit(rest, segs[1:], caps)


def match(raw_path: str, routes: tuple[Route, ...] = ROUTES) -> Match | None:
    """The first route ``raw_path`` (undecoded, as sent) fits, its parts checked; ``None`` if none fits.

    Raises :class:`~hfcache.serve.protocol.BadRequest` for an unsafe or impossible part.
    """
    segs = segments(raw_path)
    for route in routes:
        caps = _fit(route.tokens, segs, {})
        if caps is None:
            continue
        repo_type = TYPE_PREFIXES[caps["type"][0]] if "type" in caps else route.repo_type
        return Match(
            route,
            repo_type,
            check_repo_id(caps["repo"]) if "repo" in caps else "",
            check_revision(caps["rev"][0]) if "rev" in caps else "main",
            check_path(caps["path"]) if caps.get("path") else "",
            tuple(caps.get("tail", ())),
        )
    return None
