"""The mirror's own pages: ``GET /`` (what it holds, and the client settings) and ``/metrics``.

The page is plain HTML with no external assets: one row per repo (however many sources or
revisions hold it), with its refs, the source that answers it, and how many of its files the
verifier has seen hash to their names. ``/metrics`` is Prometheus text with ``# HELP`` and
``# TYPE`` for every metric.
"""

from __future__ import annotations

from dataclasses import dataclass
from html import escape
from typing import TYPE_CHECKING

from hfcache.units import human_size

if TYPE_CHECKING:
    from hfcache.serve.sources import Mirror
    from hfcache.serve.verifier import Verifier

_STYLE = "body{font-family:sans-serif;margin:2em;max-width:80em}td,th{padding:.2em .8em;text-align:left}"


def client_settings(url: str) -> list[str]:
    """The environment a client needs: the endpoint, plain HTTP (no Xet), no conversion bot."""
    return [f"HF_ENDPOINT={url}", "HF_HUB_DISABLE_XET=1", "DISABLE_SAFETENSORS_CONVERSION=1"]


@dataclass(frozen=True)
class RepoRow:
    """One repo as the page shows it: its refs, and its default revision (``main``, else the first ref)."""

    repo_type: str
    repo_id: str
    refs: list[tuple[str, str]]
    source: str
    also: list[str]
    files: int = 0
    available: int = 0
    verified: int = 0
    mismatched: int = 0
    size: int = 0


def repo_rows(mirror: Mirror, verifier: Verifier) -> list[RepoRow]:
    """A row per repo the mirror serves. Verdicts are the verifier's record; nothing is hashed here."""
    rows = []
    for name in mirror.repos():
        repo_type, repo_id = name.repo_type, name.repo_id
        refs = mirror.refs(name)
        holders = [s.label for s in mirror.holders(name)]
        default = "main" if "main" in refs or not refs else sorted(refs)[0]
        try:
            found = mirror.find(name, default)
        except Exception:  # a repo with no usable revision is listed without one
            found = None
        if found is None:
            rows.append(RepoRow(repo_type, repo_id, sorted(refs.items()), holders[0], holders[1:]))
            continue
        files = [f for f in found.view.files.values() if f.blob_id is not None]
        verdicts = [verifier.verdict(f) for f in files if f.available]
        source = found.source.label
        rows.append(
            RepoRow(
                repo_type,
                repo_id,
                sorted(refs.items()),
                source,
                [h for h in holders if h != source],
                len(files),
                len(verdicts),
                verdicts.count(True),
                verdicts.count(False),
                sum(f.size or 0 for f in files),
            )
        )
    return rows


def _verified(r: RepoRow) -> str:
    if not r.files:
        return ""
    text = "all" if r.verified == r.files else f"{r.verified} of {r.files}"
    return text + (f", {r.mismatched} refused (blob-hash-mismatch)" if r.mismatched else "")


def _row(r: RepoRow) -> str:
    refs = "<br>".join(f"{escape(n)} <code>{escape(c[:12])}</code>" for n, c in r.refs) or "(none)"
    source = escape(r.source) + "".join(f"<br><small>also in {escape(a)}</small>" for a in r.also)
    files = f"{r.files} ({r.available} available)" if r.files else ""
    cells = [
        escape(r.repo_type),
        escape(r.repo_id),
        refs,
        files,
        escape(human_size(r.size)) if r.files else "",
    ]
    return "<tr>" + "".join(f"<td>{c}</td>" for c in [*cells, escape(_verified(r)), source]) + "</tr>"


def index_page(mirror: Mirror, verifier: Verifier, url: str) -> str:
    """``GET /``: the client settings, a row per repo, and links to ``/healthz`` and ``/metrics``."""
    body = "".join(_row(r) for r in repo_rows(mirror, verifier))
    settings = escape("\n".join(f"export {line}" for line in client_settings(url)))
    return (
        "<!doctype html><html><head><meta charset='utf-8'><title>hfcache mirror</title>"
        f"<style>{_STYLE}</style></head><body><h1>hfcache mirror</h1>"
        f"<p>Set on each client:</p><pre>{settings}</pre>"
        "<table><tr><th>type</th><th>repo</th><th>refs</th><th>files (main, else the first ref)</th>"
        f"<th>size</th><th>verified</th><th>source</th></tr>{body}</table>"
        "<p>Files are hashed on first read; a file whose bytes do not hash to its name is never "
        "served. <em>verified</em> counts the files already seen to hash to their names.</p>"
        "<p><a href='healthz'>healthz</a> · <a href='metrics'>metrics</a></p></body></html>"
    )


_METRICS = (
    ("hfcache_requests_total", "counter", "Requests answered, by HTTP status (499: the client went away)."),
    ("hfcache_bytes_sent_total", "counter", "Body bytes sent: files, listings and errors."),
    ("hfcache_refused_total", "counter", "Files listed but not served: missing, being written, or corrupt."),
    ("hfcache_repos", "gauge", "Repos served (held by at least one source)."),
    ("hfcache_uptime_seconds", "gauge", "Seconds since the mirror started."),
)


def metrics_text(requests: dict[int, int], sent: int, refused: int, repos: int, uptime: float) -> str:
    """``/metrics``: Prometheus text exposition, every metric with its ``# HELP`` and ``# TYPE``."""
    samples = {
        "hfcache_requests_total": [f'{{status="{s}"}} {n}' for s, n in sorted(requests.items())],
        "hfcache_bytes_sent_total": [f" {sent}"],
        "hfcache_refused_total": [f" {refused}"],
        "hfcache_repos": [f" {repos}"],
        "hfcache_uptime_seconds": [f" {uptime:.3f}"],
    }
    lines = []
    for name, kind, text in _METRICS:
        lines += [f"# HELP {name} {text}", f"# TYPE {name} {kind}"]
        lines += [f"{name}{sample}" for sample in samples[name]]
    return "\n".join(lines) + "\n"
