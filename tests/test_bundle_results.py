"""pack, unpack and unpack --list as library calls: each returns a result that knows its JSON
document and exit status, and raises the errors the CLI only shows."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from builders import CachedRepo

from hfcache.bundle.listing import list_bundle
from hfcache.bundle.pack import pack
from hfcache.bundle.unpack import unpack
from hfcache.errors import BadInputError
from hfcache.results import EXIT_OK


def test_pack_unpack_and_list_results_carry_their_documents(fresh_cache: CachedRepo, tmp_path: Path) -> None:
    c = fresh_cache
    bundle = tmp_path / "b.tar"
    packed = pack([c.repo_id], str(bundle), cache_dir=str(c.cache_dir))
    doc = packed.to_json()
    assert packed.exit_code == EXIT_OK
    assert doc["paths"] == [str(bundle)] and doc["bytes_written"] == bundle.stat().st_size
    (repo,) = doc["repos"]
    assert (repo["repo_id"], repo["commit"], repo["files"]) == (c.repo_id, c.commit, len(c.files))
    assert doc["checksum_file"] is None
    listed = list_bundle(str(bundle))
    assert listed.exit_code == EXIT_OK
    assert listed.to_json()["repos"] == json.loads(packed.manifest.to_bytes())["repos"]
    done = unpack(str(bundle), cache_dir=str(tmp_path / "server"))
    assert done.exit_code == EXIT_OK and done.to_json()["target"] == str(tmp_path / "server")


def test_an_existing_output_is_bad_input_from_the_library(fresh_cache: CachedRepo, tmp_path: Path) -> None:
    c = fresh_cache
    bundle = tmp_path / "b.tar"
    bundle.write_bytes(b"an earlier bundle")
    with pytest.raises(BadInputError, match=f"{bundle} exists; use --force to overwrite it"):
        pack([c.repo_id], str(bundle), cache_dir=str(c.cache_dir))
    assert bundle.read_bytes() == b"an earlier bundle"
    assert pack([c.repo_id], str(bundle), cache_dir=str(c.cache_dir), overwrite=True).paths == (str(bundle),)
