"""The one grammar agrees with its owners: huggingface_hub's ``validate_repo_id`` for repo ids,
git's ``check-ref-format`` for ref names; and every entry point (pack, serve, inspect) uses it."""

from __future__ import annotations

import shutil
import subprocess

import pytest
from huggingface_hub.utils import HFValidationError, validate_repo_id
from hypothesis import given, settings
from hypothesis import strategies as st

from hfcache.errors import BadInputError
from hfcache.repoid import (
    RepoName,
    check_revision,
    is_repo_id,
    looks_like_repo_id,
    parse_repo_ref,
    revision_problem,
)
from hfcache.serve import protocol, routes

# ASCII only: huggingface_hub before 1.x let \w match any Unicode letter; the Hub (and 2.x) do not.
_ID_CHARS = "abcXYZ019_-./"


def _hub_accepts(repo_id: str) -> bool:
    try:
        validate_repo_id(repo_id)
    except HFValidationError:
        return False
    return True


@pytest.mark.parametrize(
    ("repo_id", "ok"),
    [
        ("org/_private", True),
        ("org/name-", False),
        ("gpt2", True),
        ("a/b", True),
        ("-org/name", False),
        ("org/na--me", False),
        ("org/name.git", False),
        ("org/.name", False),
        ("org/" + "x" * 96, True),
        ("org/" + "x" * 97, False),
        ("a/b/c", False),
        ("", False),
    ],
)
def test_known_verdicts(repo_id: str, ok: bool) -> None:
    assert is_repo_id(repo_id) is ok
    assert _hub_accepts(repo_id) is ok


@settings(max_examples=600, deadline=None)
@given(st.text(alphabet=_ID_CHARS, min_size=0, max_size=12) | st.text(alphabet=_ID_CHARS, max_size=110))
def test_repo_ids_exactly_as_huggingface_hub(repo_id: str) -> None:
    assert is_repo_id(repo_id) is _hub_accepts(repo_id)


def _git_accepts(ref: str) -> bool:
    done = subprocess.run(["git", "check-ref-format", "--allow-onelevel", ref], capture_output=True)
    return done.returncode == 0


@pytest.mark.skipif(shutil.which("git") is None, reason="needs git")
@settings(max_examples=150, deadline=None)
@given(st.text(alphabet="ab1./-@{}~^:?*[\\ \tk", min_size=1, max_size=14))
def test_ref_names_as_git_allows_them(ref: str) -> None:
    # hfcache also refuses a leading '-' (it would read as an option on every command line).
    if ref.startswith("-"):
        assert revision_problem(ref) is not None
    else:
        assert (revision_problem(ref) is None) is _git_accepts(ref)


def test_revisions_people_use() -> None:
    for rev in ("main", "v1.0", "refs/pr/3", "a" * 40, "release/2024-01", "v1.0+cu118"):
        assert check_revision(rev) == rev
    for rev in ("", "../x", "a//b", ".hidden", "x.lock", "a b", "-rf", "x" * 256):
        with pytest.raises(BadInputError):
            check_revision(rev)


def test_typed_ids_and_revisions() -> None:
    assert parse_repo_ref("datasets/acme/ds@refs/pr/1").name == RepoName("dataset", "acme/ds")
    assert str(parse_repo_ref("spaces/acme/app@v1")) == "spaces/acme/app@v1"
    assert looks_like_repo_id("datasets/acme/ds@main")
    assert not looks_like_repo_id("acme/ds-")
    with pytest.raises(BadInputError, match="not a repo id"):
        parse_repo_ref("acme/ds-")


def test_the_mirror_uses_the_same_grammar() -> None:
    found = routes.match("/api/models/org/_private")
    assert found is not None and found.repo_id == "org/_private"
    with pytest.raises(protocol.BadRequest) as e:
        routes.match("/api/models/org/name-")
    assert e.value.status == 404
    with pytest.raises(protocol.BadRequest):
        routes.match("/org/name/resolve/a..b/config.json")
