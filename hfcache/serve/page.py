"""``GET /``: what the mirror holds and the client settings to copy. Plain HTML, no external assets."""

from __future__ import annotations

from html import escape
from typing import TYPE_CHECKING

from hfcache.units import human_size

if TYPE_CHECKING:
    from hfcache.serve.sources import Mirror

_STYLE = "body{font-family:sans-serif;margin:2em;max-width:70em}td,th{padding:.2em .8em;text-align:left}"


def client_settings(url: str) -> list[str]:
    """The environment a client needs: the endpoint, plain HTTP (no Xet), no conversion bot."""
    return [f"HF_ENDPOINT={url}", "HF_HUB_DISABLE_XET=1", "DISABLE_SAFETENSORS_CONVERSION=1"]


def index_page(mirror: Mirror, url: str) -> str:
    rows = []
    for source in mirror.sources:
        for name in source.repos():
            repo_type, repo_id = name.repo_type, name.repo_id
            for ref, commit in sorted(source.refs(repo_id, repo_type).items()) or [("", "")]:
                try:
                    view = source.revision(repo_id, commit or "main", repo_type)
                except Exception:  # a repo with no usable revision is listed without one
                    rows.append((repo_type, repo_id, ref, "", 0, 0, 0, source.label))
                    continue
                size = sum(f.size or 0 for f in view.files.values())
                ready = sum(1 for f in view.files.values() if f.available)
                rows.append(
                    (repo_type, repo_id, ref, view.commit, len(view.files), ready, size, source.label)
                )
    body = "".join(
        f"<tr><td>{escape(t)}</td><td>{escape(i)}</td><td>{escape(r)}</td><td><code>{escape(c[:12])}</code></td>"
        f"<td>{n} ({ok} available)</td><td>{escape(human_size(s))}</td><td>{escape(src)}</td></tr>"
        for t, i, r, c, n, ok, s, src in rows
    )
    settings = escape("\n".join(f"export {line}" for line in client_settings(url)))
    return (
        "<!doctype html><html><head><meta charset='utf-8'><title>hfcache mirror</title>"
        f"<style>{_STYLE}</style></head><body><h1>hfcache mirror</h1>"
        f"<p>Set on each client:</p><pre>{settings}</pre>"
        "<table><tr><th>type</th><th>repo</th><th>ref</th><th>commit</th><th>files</th><th>size</th>"
        f"<th>source</th></tr>{body}</table><p>Files are hashed on first read; a file whose bytes do not "
        "hash to its name is never served.</p></body></html>"
    )
