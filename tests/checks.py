"""Judges for tests: huggingface_hub's own readers and content hashes, never hfcache's opinion."""

from __future__ import annotations

from pathlib import Path

from builders import CachedRepo
from huggingface_hub import hf_hub_download, scan_cache_dir

from hfcache.doctor import Report
from hfcache.findings import Finding


def loads_exactly(c: CachedRepo, names: list[str] | None = None, revision: str = "main") -> None:
    """The real client, offline, returns the original bytes of every file (or of ``names``)."""
    for name in names if names is not None else sorted(c.files):
        path = hf_hub_download(
            c.repo_id,
            name,
            repo_type=c.repo_type,
            revision=revision,
            cache_dir=c.cache_dir,
            local_files_only=True,
        )
        assert Path(path).read_bytes() == c.files[name], name


def scan_warnings(cache_dir: Path) -> list[str]:
    """What huggingface_hub's own cache scan complains about."""
    return [str(w) for w in scan_cache_dir(cache_dir).warnings]


def codes(report: Report) -> set[str]:
    return {f.code for f in report.findings}


def the_finding(report: Report, code: str, path: Path | None = None) -> Finding:
    """The one finding with ``code`` (about ``path``, if given); fails with the full list otherwise."""
    found = [f for f in report.findings if f.code == code and (path is None or f.path == str(path))]
    assert len(found) == 1, [(f.code, f.path) for f in report.findings]
    return found[0]
