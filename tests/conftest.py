"""Shared fixtures: a stand-in Hub on 127.0.0.1 and real caches downloaded from it.

The whole session is hermetic: only loopback connections are allowed, and huggingface_hub
looks for its home, caches and token in a temporary directory.  Logic lives in
``standin_hub.py`` and ``builders.py``.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from builders import (
    SHARDED_REPO_ID,
    CachedRepo,
    cache_repo,
    isolate_hf_env,
    publish_sharded_model,
    with_tree_listing,
)
from standin_hub import StandinHub, allow_only_loopback

from hfcache.bundle import receive, stager


@pytest.fixture(scope="session", autouse=True)
def _hermetic_session(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """No internet and no real ~/.cache or token for any test (session-wide, so Hypothesis is happy)."""
    with pytest.MonkeyPatch.context() as mp:
        allow_only_loopback(mp)
        isolate_hf_env(mp, tmp_path_factory.mktemp("hf_home_session"))
        mp.setenv("HFCACHE_STATE_DIR", str(tmp_path_factory.mktemp("hfcache_state")))
        yield


@pytest.fixture(scope="session")
def hub() -> Iterator[StandinHub]:
    """The session's stand-in Hub, serving ``SHARDED_REPO_ID``; do not modify that repo in tests.

    Create your own repos with ``hub.unique_repo_id()`` so tests stay independent.
    """
    with StandinHub() as standin:
        publish_sharded_model(standin)
        yield standin


@pytest.fixture
def hf_env(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A private HF_HOME for this test; returns its hub cache dir (``HF_HUB_CACHE``)."""
    return isolate_hf_env(monkeypatch, tmp_path_factory.mktemp("hf_home"))


@pytest.fixture
def fresh_cache(
    tmp_path: Path, tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch, hub: StandinHub
) -> CachedRepo:
    """``SHARDED_REPO_ID`` downloaded by ``snapshot_download`` into ``tmp_path/"hub"``.

    That directory is also this test's ``HF_HUB_CACHE`` and ``HF_ENDPOINT`` is the stand-in hub.
    """
    cache_dir = tmp_path / "hub"
    isolate_hf_env(monkeypatch, tmp_path_factory.mktemp("hf_home"), hub_cache=cache_dir, endpoint=hub.url)
    return cache_repo(hub, cache_dir, SHARDED_REPO_ID)


@pytest.fixture
def listed_cache(fresh_cache: CachedRepo) -> CachedRepo:
    """``fresh_cache`` with its ``trees/<commit>.json``, on every huggingface_hub (see ``with_tree_listing``).

    For tests of what hfcache concludes from a tree listing; ``fresh_cache`` itself is exactly
    what the installed client wrote: no listing unless ``HAS_TREES``.
    """
    return with_tree_listing(fresh_cache)


@pytest.fixture(params=["direct", "in-stream", "staged"])
def blob_route(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """For bundle tests (``pytestmark = pytest.mark.usefixtures("blob_route")``): each test
    three times: blobs of a bundle file staged by the stager's workers (the default; here every
    one with O_DIRECT, in many small windows, small ones batched), small blobs hashed in the
    stream (the route from a pipe), and every blob copied out in small steps and hashed by a
    pool thread following the copy (the route of big blobs from a pipe)."""
    if request.param == "direct":
        monkeypatch.setattr(stager, "DIRECT_FROM", 0)
        monkeypatch.setattr(stager, "WINDOW", 8192)
        monkeypatch.setattr(stager, "CHUNK", 1000)
    else:
        monkeypatch.setattr(receive, "DIRECT_STAGE", False)
    if request.param == "staged":
        monkeypatch.setattr(receive, "STAGE_THEN_HASH_SIZE", 0)
        monkeypatch.setattr(receive, "_COPY_STEP", 4096)  # the hasher follows step by step
    return str(request.param)
