"""``hfcache serve`` with the real client: exact bytes under the Hub's blob names, the client's own
errors, hostile URLs refused, corrupt blobs never delivered whole, bundles served in place, and a
model installed while the mirror runs served within seconds."""

from __future__ import annotations

import hashlib
import re
import shutil
import time
from pathlib import Path

import damage
import pytest
from builders import (
    CachedRepo,
    SilentTqdm,
    cache_repo,
    move_lfs_blobs_to_shared_store,
    requires_shared_store,
    sharded_model_files,
)
from checks import scan_warnings
from huggingface_hub import hf_hub_download, snapshot_download
from huggingface_hub.utils import (
    EntryNotFoundError,
    LocalEntryNotFoundError,
    RepositoryNotFoundError,
    RevisionNotFoundError,
)
from mirror import request, running
from standin_hub import StandinHub

from hfcache.bundle.pack import pack
from hfcache.bundle.unpack import unpack


def _fetch(url: str, c: CachedRepo, dest: Path, revision: str = "main", **kw: object) -> Path:
    path = snapshot_download(
        c.repo_id, revision=revision, cache_dir=dest, endpoint=url, token=False, tqdm_class=SilentTqdm, **kw
    )
    return Path(path)


def _same_as_hub(c: CachedRepo, dest: Path) -> None:
    """Every file has the hub's bytes, under the blob name the real client gives it from the real hub."""
    client = dest / c.repo_folder.name
    for name, data in c.files.items():
        entry = client / "snapshots" / c.commit / name
        assert entry.read_bytes() == data, name
        assert entry.resolve().name == c.blob(name).name, name
    assert scan_warnings(dest) == []


def test_snapshot_download_through_the_mirror(fresh_cache: CachedRepo, tmp_path: Path) -> None:
    c = fresh_cache
    with running(c.cache_dir, state=tmp_path / "state") as m:
        assert m.started["repos"] == 1 and "HF_HUB_DISABLE_XET=1" in m.started["client_settings"]
        _fetch(m.url, c, tmp_path / "client")
        _same_as_hub(c, tmp_path / "client")
        again = _fetch(m.url, c, tmp_path / "client2", revision=c.commit)  # now from verified blobs
        assert again.name == c.commit
        _same_as_hub(c, tmp_path / "client2")
        one = hf_hub_download(
            c.repo_id, "config.json", cache_dir=tmp_path / "one", endpoint=m.url, token=False
        )
        assert Path(one).read_bytes() == c.files["config.json"]


def test_the_clients_own_errors(fresh_cache: CachedRepo, tmp_path: Path) -> None:
    c = fresh_cache
    with running(c.cache_dir, state=tmp_path / "state") as m:
        kw = {"cache_dir": tmp_path / "client", "endpoint": m.url, "token": False}
        with pytest.raises(EntryNotFoundError):
            hf_hub_download(c.repo_id, "no-such-file.json", **kw)  # type: ignore[arg-type]
        with pytest.raises(RepositoryNotFoundError):
            hf_hub_download("nobody/nothing", "config.json", **kw)  # type: ignore[arg-type]
        with pytest.raises(RevisionNotFoundError):
            hf_hub_download(c.repo_id, "config.json", revision="no-such-branch", **kw)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "path",
    [
        "/standin/tiny-sharded/resolve/main/../../../../etc/passwd",
        "/standin/tiny-sharded/resolve/main/%2e%2e/%2e%2e/%2e%2e/etc/passwd",
        "/standin/tiny-sharded/resolve/main/..%2F..%2F..%2Fetc%2Fpasswd",
        "/standin/tiny-sharded/resolve/..%2F..%2F/config.json",
        "/standin/tiny-sharded/resolve/main//etc/passwd",
        "/standin/tiny-sharded/resolve/main/C:%5Cwin.ini",
        "/standin/tiny-sharded/resolve/main/config.json%00.txt",
        "/..%2F..%2Fetc/passwd/resolve/main/x",
        "/api/models/..%2F..%2Fetc/tree/main",
        "/api/models/standin/tiny-sharded/tree/main/..%2F..%2F..",
    ],
)
def test_hostile_urls_get_nothing(fresh_cache: CachedRepo, tmp_path: Path, path: str) -> None:
    with running(fresh_cache.cache_dir, state=tmp_path / "state") as m:
        status, _, body = _raw(m.url, path)
        assert status in (400, 404), (status, body[:200])
        assert b"root:" not in body


def _raw(url: str, path: str) -> tuple[int, dict[str, str], bytes]:
    """Send ``path`` exactly as written (urllib would not normalise it, but be explicit)."""
    import http.client
    from urllib.parse import urlsplit

    u = urlsplit(url)
    conn = http.client.HTTPConnection(u.hostname or "127.0.0.1", u.port, timeout=10)
    conn.putrequest("GET", path, skip_accept_encoding=True)
    conn.endheaders()
    r = conn.getresponse()
    return r.status, dict(r.getheaders()), r.read()


def test_read_only(fresh_cache: CachedRepo, tmp_path: Path) -> None:
    with running(fresh_cache.cache_dir, state=tmp_path / "state") as m:
        for method in ("PUT", "DELETE", "PATCH"):
            status, headers, _ = request(
                f"{m.url}/standin/tiny-sharded/resolve/main/config.json", method, data=b"x"
            )
            assert status == 405 and "read-only" in headers["X-Error-Message"]
        status, _, _ = request(f"{m.url}/api/repos/create", "POST", data=b"{}")
        assert status in (404, 405)


def test_corrupt_blob_is_never_delivered_whole(fresh_cache: CachedRepo, tmp_path: Path) -> None:
    c = fresh_cache
    name = "model-00001-of-00002.safetensors"
    damage.flip_byte(Path(c.blob(name)).resolve(), 100)
    url_path = f"/{c.repo_id}/resolve/{c.commit}/{name}"
    with running(c.cache_dir, state=tmp_path / "state") as m:
        status, _, body = request(m.url + url_path)
        assert status != 200 or len(body) < len(c.files[name])  # cut short before the last bytes
        assert hashlib.sha256(body).hexdigest() != hashlib.sha256(c.files[name]).hexdigest()
        status, headers, _ = request(m.url + url_path)
        assert status == 503 and "blob-hash-mismatch" in headers["X-Error-Message"]
        status, _, _ = request(m.url + url_path, headers={"Range": "bytes=0-9"})
        assert status == 503
        with pytest.raises(Exception):  # noqa: B017 - whichever error the client raises, never the file
            hf_hub_download(c.repo_id, name, cache_dir=tmp_path / "client", endpoint=m.url, token=False)
    assert not list((tmp_path / "client").rglob(name))


def test_ranges_and_conditional_requests(fresh_cache: CachedRepo, tmp_path: Path) -> None:
    c = fresh_cache
    name = "tokenizer.json"
    data = c.files[name]
    url = f"/{c.repo_id}/resolve/{c.commit}/{name}"
    with running(c.cache_dir, state=tmp_path / "state") as m:
        status, headers, body = request(m.url + url, headers={"Range": "bytes=10-19"})
        assert (
            status == 206 and body == data[10:20] and headers["Content-Range"] == f"bytes 10-19/{len(data)}"
        )
        status, _, body = request(m.url + url, headers={"Range": "bytes=-5"})
        assert status == 206 and body == data[-5:]
        status, _, _ = request(m.url + url, headers={"Range": f"bytes={len(data)}-"})
        assert status == 416
        status, headers, _ = request(m.url + url, "HEAD")
        assert status == 200 and headers["X-Linked-Etag"] == f'"{c.blob(name).name}"'
        assert headers["Cache-Control"].startswith("public, max-age=31536000")
        status, _, body = request(m.url + url, headers={"If-None-Match": headers["ETag"]})
        assert status == 304 and body == b""


def test_tree_lists_directories_like_the_hub(fresh_cache: CachedRepo, tmp_path: Path) -> None:
    import json

    c = fresh_cache
    with running(c.cache_dir, state=tmp_path / "state") as m:
        _, _, body = request(f"{m.url}/api/models/{c.repo_id}/tree/main")
        top = {e["path"]: e["type"] for e in json.loads(body)}
        assert top["sub"] == "directory" and "sub/dir/extra.txt" not in top and top["config.json"] == "file"
        _, _, body = request(f"{m.url}/api/models/{c.repo_id}/tree/main/sub%2Fdir")
        assert [e["path"] for e in json.loads(body)] == ["sub/dir/extra.txt"]
        _, _, body = request(f"{m.url}/api/models/{c.repo_id}/tree/main?recursive=true")
        every = {e["path"] for e in json.loads(body)}
        assert {"sub", "sub/dir", "sub/dir/extra.txt"} <= every
        assert all("xetHash" not in e for e in json.loads(body))
        status, headers, _ = request(f"{m.url}/api/models/{c.repo_id}/tree/main/nothing-here")
        assert status == 404 and headers["X-Error-Code"] == "EntryNotFound"


def test_bundle_served_in_place(fresh_cache: CachedRepo, tmp_path: Path) -> None:
    c = fresh_cache
    result = pack([c.repo_id], str(tmp_path / "b.tar"), cache_dir=str(c.cache_dir), split_size=20000)
    bundle = Path(result.paths[0])
    shutil.rmtree(c.cache_dir)  # only the bundle is left
    with running(bundle, state=tmp_path / "state") as m:
        _fetch(m.url, c, tmp_path / "client")
        _same_as_hub(c, tmp_path / "client")


def test_a_model_installed_while_serving_is_served(
    hub: StandinHub, fresh_cache: CachedRepo, tmp_path: Path, hf_env: Path
) -> None:
    c = fresh_cache
    repo_id = hub.unique_repo_id()
    hub.add_commit(repo_id, sharded_model_files(seed=3))
    later = cache_repo(hub, tmp_path / "elsewhere", repo_id)
    bundle = pack([repo_id], str(tmp_path / "later.tar"), cache_dir=str(later.cache_dir)).paths[0]
    with running(c.cache_dir, state=tmp_path / "state") as m:
        unpack(bundle, cache_dir=str(c.cache_dir))  # what an admin runs on the mirror while it serves
        deadline = time.monotonic() + 15
        while request(f"{m.url}/api/models/{repo_id}")[0] != 200:
            assert time.monotonic() < deadline, "the new repo was not served within 15 s"
            time.sleep(0.2)
        moved = CachedRepo(later.hub, c.cache_dir, repo_id, later.repo_type, later.commit, later.files)
        _fetch(m.url, moved, tmp_path / "client")
        _same_as_hub(moved, tmp_path / "client")


def test_tokens(fresh_cache: CachedRepo, tmp_path: Path) -> None:
    c = fresh_cache
    tokens = tmp_path / "tokens"
    tokens.write_text("# mirror tokens\nsecret-1\n")
    with running(c.cache_dir, state=tmp_path / "state", extra=("--token-file", str(tokens))) as m:
        status, headers, _ = request(f"{m.url}/api/models/{c.repo_id}")
        assert status == 401 and headers["X-Error-Message"] == "Invalid credentials in Authorization header"
        status, _, _ = request(
            f"{m.url}/api/models/{c.repo_id}", headers={"Authorization": "Bearer secret-1"}
        )
        assert status == 200
        path = hf_hub_download(
            c.repo_id, "config.json", cache_dir=tmp_path / "cl", endpoint=m.url, token="secret-1"
        )
        assert Path(path).read_bytes() == c.files["config.json"]
        assert request(f"{m.url}/healthz")[0] == 200
    assert "secret-1" not in m.log()


@requires_shared_store
def test_shared_store_cache_served_without_xet(fresh_cache: CachedRepo, tmp_path: Path) -> None:
    """Blobs that are links into the cache-wide Xet store are served over plain HTTP; no Xet leaks out."""
    import json

    c = fresh_cache
    moved = move_lfs_blobs_to_shared_store(c.cache_dir, c.repo_folder)
    assert moved
    with running(c.cache_dir, state=tmp_path / "state") as m:
        name = next(n for n in c.files if c.blob(n).name == moved[0].etag)
        status, headers, _ = request(f"{m.url}/{c.repo_id}/resolve/{c.commit}/{name}", "HEAD")
        assert status == 200 and headers["X-Linked-Etag"] == f'"{moved[0].etag}"'
        assert not any(h.lower().startswith("x-xet") for h in headers)
        _, _, body = request(f"{m.url}/api/models/{c.repo_id}/tree/{c.commit}?recursive=true")
        assert "xetHash" not in body.decode()
        assert json.loads(body)
        _fetch(m.url, c, tmp_path / "client")
        _same_as_hub(c, tmp_path / "client")


def test_refusals_name_the_doctors_finding(fresh_cache: CachedRepo, tmp_path: Path) -> None:
    c = fresh_cache
    damage.drop_blob(c, "config.json")
    with running(c.cache_dir, state=tmp_path / "state") as m:
        status, headers, _ = request(f"{m.url}/{c.repo_id}/resolve/{c.commit}/config.json")
        assert status == 503 and "X-Error-Code" not in headers  # never EntryNotFound for a listed file
        with pytest.raises(Exception) as caught:
            hf_hub_download(c.repo_id, "config.json", cache_dir=tmp_path / "cl", endpoint=m.url, token=False)
        # "cannot reach it, not cached" (a subclass), never the Hub's "no such file in this revision"
        assert isinstance(caught.value, LocalEntryNotFoundError) or not isinstance(
            caught.value, EntryNotFoundError
        )
        assert not list((tmp_path / "cl").rglob(".no_exist"))  # the client recorded no absence
    assert "refused config.json: link-missing-blob" in m.log()


def test_a_blob_being_written_is_not_served(fresh_cache: CachedRepo, tmp_path: Path) -> None:
    from filelock import FileLock

    c = fresh_cache
    lock = c.cache_dir / ".locks" / c.repo_folder.name / f"{c.blob('README.md').name}.lock"
    lock.parent.mkdir(parents=True, exist_ok=True)
    with running(c.cache_dir, state=tmp_path / "state") as m, FileLock(str(lock)):
        status, headers, _ = request(f"{m.url}/{c.repo_id}/resolve/{c.commit}/README.md")
        assert status == 503 and "being written" in headers["X-Error-Message"]
    with running(c.cache_dir, state=tmp_path / "state") as m:
        assert request(f"{m.url}/{c.repo_id}/resolve/{c.commit}/README.md")[2] == c.files["README.md"]


def test_page_and_metrics(fresh_cache: CachedRepo, tmp_path: Path) -> None:
    c = fresh_cache
    with running(c.cache_dir, state=tmp_path / "state") as m:
        request(f"{m.url}/{c.repo_id}/resolve/{c.commit}/README.md")
        status, headers, body = request(f"{m.url}/")
        page = body.decode()
        assert status == 200 and headers["Content-Type"].startswith("text/html")
        assert c.repo_id in page and c.commit[:12] in page and f"HF_ENDPOINT={m.url}" in page
        assert f"1 of {len(c.files)}" in page  # README.md verified on its first read
        assert not any(tag in page for tag in ("<script", "src=", "@import"))  # no external assets
        assert re.findall(r"href=(\S+?)>", page) == ["'healthz'", "'metrics'"]  # links to its own pages
        _, _, metrics = request(f"{m.url}/metrics")
        assert 'hfcache_requests_total{status="200"}' in metrics.decode()
        assert "# TYPE hfcache_bytes_sent_total counter" in metrics.decode()
        assert "hfcache_repos 1\n" in metrics.decode()


def test_repo_ids_and_refs_through_the_real_client(hub: StandinHub, tmp_path: Path, hf_env: Path) -> None:
    """``org/_private`` is served, ``org/name-`` is RepoNotFound, a repo held by a tag alone lists it."""
    from huggingface_hub import HfApi

    private = hub.unique_repo_id("acme/_private")
    hub.add_commit(private, {"config.json": b"{}"})
    tagged = hub.unique_repo_id("acme/tagged")
    tag_commit = hub.add_commit(tagged, {"config.json": b"{}"}, branch="v1")
    served = tmp_path / "served"
    c = cache_repo(hub, served, private)
    cache_repo(hub, served, tagged, revision="v1")
    with running(served, state=tmp_path / "state") as m:
        _fetch(m.url, c, tmp_path / "client")
        _same_as_hub(c, tmp_path / "client")
        status, headers, _ = _raw(m.url, "/api/models/org/name-")
        assert status == 404 and headers["X-Error-Code"] == "RepoNotFound"
        refs = HfApi(endpoint=m.url, token=False).list_repo_refs(tagged)
        assert [(b.name, b.target_commit) for b in refs.branches] == [("v1", tag_commit)]


def _hf_cli() -> list[str] | None:
    """The installed client's own download command: ``hf`` (0.34 on), else ``huggingface-cli``."""
    import sys

    for name in ("hf", "huggingface-cli"):
        path = Path(sys.executable).parent / name
        if path.exists():
            return [str(path), "download"]
    return None


def test_hf_download_cli_through_the_mirror(fresh_cache: CachedRepo, tmp_path: Path) -> None:
    import os
    import subprocess

    c = fresh_cache
    cli = _hf_cli()
    if cli is None:
        pytest.skip("this huggingface_hub has no download command")
    with running(c.cache_dir, state=tmp_path / "state") as m:
        env = {**os.environ, "HF_ENDPOINT": m.url, "HF_HUB_CACHE": str(tmp_path / "client")}
        env["HF_HUB_DISABLE_XET"] = "1"
        env.pop("HF_TOKEN", None)
        run = subprocess.run([*cli, c.repo_id], capture_output=True, text=True, env=env, timeout=300)
    assert run.returncode == 0, run.stderr[-2000:]
    _same_as_hub(c, tmp_path / "client")


def test_big_shards_older_revisions_and_pr_refs(hub: StandinHub, tmp_path: Path, hf_env: Path) -> None:
    """Shards of several MiB (hashed in many pieces on first read), every revision by commit, a PR ref."""
    import random

    repo_id = hub.unique_repo_id("acme/big")
    rng = random.Random(7)
    files = {f"model-{k}.safetensors": rng.randbytes(6 * 1024 * 1024 + k) for k in range(2)}
    first = hub.add_commit(repo_id, {**files, "config.json": b"{}"})
    second = hub.add_commit(repo_id, {**files, "config.json": b'{"v": 2}'})
    hub.add_ref(repo_id, "refs/pr/1", first)
    served = tmp_path / "served"
    c1 = cache_repo(hub, served, repo_id, revision=first)
    c2 = cache_repo(hub, served, repo_id, revision="main")
    cache_repo(hub, served, repo_id, revision="refs/pr/1")
    with running(served, state=tmp_path / "state") as m:
        _fetch(m.url, c2, tmp_path / "main")
        _same_as_hub(c2, tmp_path / "main")
        _fetch(m.url, c1, tmp_path / "old", revision=first)
        _same_as_hub(c1, tmp_path / "old")
        pr = _fetch(m.url, c1, tmp_path / "pr", revision="refs/pr/1")
        assert pr.name == first and (pr / "config.json").read_bytes() == b"{}"
        assert second != first


def test_api_side_routes_like_the_hub(fresh_cache: CachedRepo, tmp_path: Path) -> None:
    """paths-info (form POST), refs, commits, and the quick answers clients expect on the side."""
    import json

    from huggingface_hub import HfApi

    c = fresh_cache
    with running(c.cache_dir, state=tmp_path / "state") as m:
        api = HfApi(endpoint=m.url, token=False)
        infos = api.get_paths_info(c.repo_id, ["config.json", "sub", "nothing.bin"], revision=c.commit)
        assert sorted(i.path for i in infos) == ["config.json", "sub"]
        refs = api.list_repo_refs(c.repo_id)
        assert [(b.name, b.target_commit) for b in refs.branches] == [("main", c.commit)]
        assert [commit.commit_id for commit in api.list_repo_commits(c.repo_id)] == [c.commit]
        assert sorted(api.list_repo_files(c.repo_id)) == sorted(c.files)
        info = api.model_info(c.repo_id, files_metadata=True)
        assert info.sha == c.commit and {s.rfilename for s in info.siblings or []} == set(c.files)
        status, _, _ = request(f"{m.url}/api/models/{c.repo_id}/paths-info/{c.commit}")  # a GET
        assert status == 405
        status, _, body = request(f"{m.url}/api/agent-harnesses")
        assert status == 200 and json.loads(body) == {"standardEnvVars": [], "harnesses": {}}
        assert request(f"{m.url}/api/whoami-v2")[0] == 401
        assert request(f"{m.url}/api/models/{c.repo_id}/xet-read-token/{c.commit}")[0] == 404
        status, _, _ = request(
            f"{m.url}/api/models/{c.repo_id}/paths-info/{c.commit}", "POST", data=b"x" * (2 << 20)
        )
        assert status in (400, 413)


def test_a_blob_changed_after_it_was_verified_is_hashed_again(
    fresh_cache: CachedRepo, tmp_path: Path
) -> None:
    c = fresh_cache
    name = "model-00002-of-00002.safetensors"
    url = f"/{c.repo_id}/resolve/{c.commit}/{name}"
    with running(c.cache_dir, state=tmp_path / "state") as m:
        assert request(m.url + url)[2] == c.files[name]  # verified on this read
        assert request(m.url + url)[2] == c.files[name]  # from the page cache, by sendfile
        damage.flip_byte(Path(c.blob(name)).resolve(), 64)
        _, _, body = request(m.url + url)
        assert body != c.files[name] and len(body) < len(c.files[name])
        assert request(m.url + url)[0] == 503
