"""Every cache layout huggingface_hub's own tests build, judged by the client and by hfcache.

One table (``client_layouts.LAYOUTS``; ``python benchmarks/client_layouts_table.py`` prints it):
for each layout, built as the huggingface_hub 2.4.0 test named in its builder's docstring builds
it (against the stand-in hub instead of the real one),

* the client's verdict, measured here by the client itself: which repos ``scan_cache_dir`` lists
  (with how many revisions) and what it warns, and which files an offline ``hf_hub_download``
  returns (``y``), returns with other bytes (``w``) or refuses (``n``);
* hfcache's verdict: the finding codes and the exit status of ``diagnose``;
* after ``fix`` (``fix(verify_hashes=True)`` where the row says ``verify``): hfcache's verdict
  again, and the client at least as happy as before -- no repo it listed is dropped or loses a
  revision, no file it loaded with the right bytes fails.

Where hfcache deliberately differs from the client the row's ``why`` says so in one line.
Layouts covered elsewhere in more depth: ``test_doctor_layouts.py`` (repo types, PR refs and
tags, ``.no_exist`` next to a download, old caches), ``test_doctor_store.py`` (a real download
moved into the shared store, its damage), ``test_copies.py`` (the no-symlink download against
the other ways of copying a cache).
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from builders import VERSION
from checks import DELETE
from client_layouts import (
    LAYOUTS,
    Built,
    Client,
    Doctor,
    Layout,
    available,
    client_verdict,
    markdown,
    offline,
)
from standin_hub import StandinHub

from hfcache.doctor import Report, diagnose
from hfcache.errors import BadInputError
from hfcache.repair import fix
from hfcache.results import EXIT_BAD_INPUT

CLIENT_PINNED = VERSION.startswith("2.4.")


def table() -> pytest.MarkDecorator:
    """Parametrize a test over :data:`LAYOUTS`: ``layout`` is the row, ``built`` its layout on disk."""
    params = [
        pytest.param(
            layout,
            layout,
            id=layout.name,
            marks=[pytest.mark.skipif(not available(layout), reason=f"needs the client's {layout.needs}")],
        )
        for layout in LAYOUTS
    ]
    return pytest.mark.parametrize(("layout", "built"), params, indirect=["built"])


@pytest.fixture
def built(request: pytest.FixtureRequest, hub: StandinHub, hf_env: Path, tmp_path: Path) -> Built:
    """The row's layout in ``tmp_path/"hub"`` (anything meant to lie outside the cache goes next to it)."""
    layout: Layout = request.param
    cache = tmp_path / "hub"
    cache.mkdir()
    return layout.build(hub, cache)


_UNIQUE = re.compile(r"-\d+$")


def normalized(verdict: Client) -> Client:
    """Repo ids without the stand-in hub's unique suffix (``standin/repo-7``), warnings sorted."""
    listed = {_UNIQUE.sub("", r): n for r, n in verdict.listed.items()}
    return Client(listed, tuple(sorted(verdict.warnings)), verdict.loads)


def judged(cache: Path, *, verify: bool = False) -> tuple[int, set[str], Report | None]:
    """hfcache's verdict: exit status, finding codes and the report (``None`` for bad input)."""
    try:
        report = diagnose(cache, verify_hashes=verify)
    except BadInputError:
        return EXIT_BAD_INPUT, set(), None
    return report.exit_code, {f.code for f in report.findings}, report


def assert_verdict(target: Doctor, exit_code: int, codes: set[str], before_exit: int | None = None) -> None:
    said = f"exit {exit_code} with {sorted(codes)}; target: {target}"
    if target.mode == "no worse":
        assert before_exit is not None and exit_code <= before_exit, said
        return
    assert exit_code == target.exit, said
    if target.mode == "exact":
        assert codes == set(target.codes), said
    elif target.mode == "least":
        assert codes >= target.codes, said
    else:
        assert codes <= target.codes, said
    assert not codes & target.lacks, said


@table()
def test_the_client_verdict(layout: Layout, built: Built) -> None:
    """The client's verdict in the table is what huggingface_hub says of the layout."""
    if not CLIENT_PINNED:
        pytest.skip(f"the client's verdicts are pinned as huggingface_hub 2.4 gives them, not {VERSION}")
    with offline():
        seen = normalized(client_verdict(built))
    pinned = layout.client
    assert seen.listed == dict(pinned.listed), seen
    assert len(seen.warnings) == len(pinned.warnings), seen.warnings
    for said, fragment in zip(seen.warnings, sorted(pinned.warnings), strict=True):
        assert said.startswith(fragment), seen.warnings
    assert seen.loads == pinned.loads, seen


@table()
def test_the_doctor_verdict(layout: Layout, built: Built) -> None:
    """hfcache's findings and exit status; nothing is left "not judged" (no permission problem here)."""
    exit_code, codes, report = judged(built.cache, verify=layout.verify)
    assert_verdict(layout.before, exit_code, codes)
    if report is not None:
        assert not [f.text for f in report.findings if "not judged" in f.message]


@table()
def test_after_fix_the_client_is_no_worse(layout: Layout, built: Built) -> None:
    """``--fix`` reaches its target, keeps what must be kept, and leaves the client no less happy."""
    kept = {p: (p.is_dir(), None if p.is_dir() else p.read_bytes()) for p in built.keep}
    with offline():
        client_before = client_verdict(built)
    before_exit, _, _ = judged(built.cache, verify=layout.verify)
    try:
        result = fix(built.cache, verify_hashes=layout.verify)
        after = (result.after.exit_code, {f.code for f in result.after.findings})
    except BadInputError:
        after = (EXIT_BAD_INPUT, set())
    assert_verdict(layout.after, *after, before_exit=before_exit)
    with offline():
        client_after = client_verdict(built)
    for repo, revisions in client_before.listed.items():
        assert client_after.listed.get(repo, -1) >= revisions, (client_before, client_after)
    for probe, was, now in zip(built.probes, client_before.loads, client_after.loads, strict=True):
        assert was != "y" or now == "y", f"{probe} loaded before --fix and does not after: {client_after}"
    if layout.after.mode == "exact" and layout.after.exit == 0 and client_before.loads:
        assert set(client_after.loads) <= {"y", "n"} and "w" not in client_after.loads
    for path, (was_dir, data) in kept.items():
        assert path.is_dir() == was_dir and (was_dir or path.read_bytes() == data), path


def test_a_lost_snapshots_folder_is_rebuilt_and_loads(hub: StandinHub, hf_env: Path, tmp_path: Path) -> None:
    """test_snapshots_path_not_found's layout: after --fix the client scans the repo and loads every file."""
    from client_layouts import snapshots_missing

    if not available(Layout(snapshots_missing, Client(), Doctor(0), Doctor(0), needs="trees")):
        pytest.skip("needs the client's tree listings")
    built = snapshots_missing(hub, tmp_path / "hub")
    fix(built.cache)
    with offline():
        verdict = normalized(client_verdict(built))
    assert verdict.listed == {"standin/tiny-sharded": 1} and verdict.warnings == ()
    assert verdict.loads == "y" * len(built.probes)


def test_a_repo_that_only_remembers_a_404_gets_no_delete_advice(
    hub: StandinHub, hf_env: Path, tmp_path: Path
) -> None:
    """test_no_exist_file_is_cached's layout (refs/ and .no_exist/ only): nothing says delete."""
    from client_layouts import no_exist_only

    built = no_exist_only(hub, tmp_path / "hub")
    report = diagnose(built.cache)
    said = [f.text for f in report.findings] + [str(step) for step in report.plan.to_json()]
    assert not [s for s in said if DELETE.search(s)], said


def test_the_table_has_one_row_per_layout() -> None:
    """The markdown table (``benchmarks/client_layouts_table.py``) is built from the same rows."""
    names = [layout.name for layout in LAYOUTS]
    assert len(set(names)) == len(names)
    lines = markdown().splitlines()
    assert len(lines) == 2 + len(LAYOUTS)
    assert all(f"`{layout.name}`" in line for layout, line in zip(LAYOUTS, lines[2:], strict=True))
    sources = [layout.source for layout in LAYOUTS]
    assert all(source.startswith(("test_", "utils/")) for source in sources), sources
