"""``--fix --verify`` parks a corrupt blob; the cache it leaves must still scan in huggingface_hub.

A link left pointing at the parked blob would make ``scan_cache_dir`` drop the whole repo
("Blob missing (broken symlink)") and ``hf cache ls`` show nothing, worse than before the fix.
"""

from __future__ import annotations

import shutil

import pytest
from builders import CachedRepo
from checks import codes, loads_exactly
from huggingface_hub import scan_cache_dir
from huggingface_hub.utils import LocalEntryNotFoundError

from hfcache.doctor.hints import download_command
from hfcache.repair import fix


@pytest.mark.parametrize("listed", [True, False])
def test_a_blob_rewritten_through_its_link_is_parked_and_the_repo_still_scans(
    fresh_cache: CachedRepo, listed: bool
) -> None:
    c = fresh_cache
    if not listed:  # caches of clients before 1.x have no tree listing
        shutil.rmtree(c.repo_folder / "trees", ignore_errors=True)
    name = "config.json"
    (c.snapshot / name).write_bytes(b'{"edited": true}\n')  # an editor writing through the link
    assert len(scan_cache_dir(c.cache_dir).repos) == 1

    result = fix(c.cache_dir, verify_hashes=True)
    assert "blob-hash-mismatch" in codes(result.before)
    scan = scan_cache_dir(c.cache_dir)
    assert len(scan.repos) == 1, [str(w) for w in scan.warnings]
    assert scan.warnings == []
    left = [f for f in result.after.findings if f.path == str(c.snapshot / name)]
    assert left and all(f.info.refetch for f in left), [f.text for f in result.after.findings]
    assert "entry-parked" in codes(result.after)
    command = download_command(c.repo_id, c.repo_type, c.commit, [name])
    assert any(command in f.text for f in left), [f.text for f in left]
    with pytest.raises(LocalEntryNotFoundError):
        loads_exactly(c, [name])
    loads_exactly(c, [n for n in c.files if n != name])
