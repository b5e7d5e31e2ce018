"""``hfcache serve``'s ``/v2/``: the read-only OCI Distribution API over the same verified bytes as
``/resolve/``. In-process first (every header, error code, name rule and page, sent as raw
paths), then the real tools against a running mirror: skopeo copies the artifact into an OCI
layout (the manifest digest is ``artifact_of``'s, the layer digests the LFS blob ids), lists
tags and reads the raw manifest; oras pulls files by title; a docker-registry in proxy mode
replicates from the mirror and serves skopeo; tokens through the registry token flow."""

from __future__ import annotations

import base64
import hashlib
import json
import re
from dataclasses import dataclass
from pathlib import Path

import damage
import pytest
from builders import SHARDED_REPO_ID, CachedRepo, cache_repo
from mirror import InProcess, Reply, request, running
from registry import docker_registry, needs_registry, needs_skopeo, skopeo
from standin_hub import StandinHub

from hfcache.bundle.pack import pack
from hfcache.oci import mediatypes as mt
from hfcache.oci.artifact import Artifact
from hfcache.oci.names import oci_name
from hfcache.oci.revision import artifact_of, file_entries
from hfcache.repoid import RepoName
from hfcache.sources import CacheView

SMALL = {"config.json": b'{"model_type": "bert"}\n', "README.md": b"# small\n", "w.safetensors": b"W" * 3000}
V2 = "registry/2.0"


@dataclass(frozen=True)
class Served:
    """One cache: the sharded model; a repo with a PR ref and an older commit; a mixed-case id; an
    id the OCI grammar cannot hold; two ids that differ only in case; a dataset; a Hub repo of an
    org named ``v2``."""

    cache: Path
    sharded: CachedRepo
    pr_main: CachedRepo
    pr_old: CachedRepo
    mixed: CachedRepo
    odd: CachedRepo
    twin_lower: CachedRepo
    twin_upper: CachedRepo
    dataset: CachedRepo
    v2_org: CachedRepo


@pytest.fixture(scope="module")
def served(hub: StandinHub, tmp_path_factory: pytest.TempPathFactory) -> Served:
    cache = tmp_path_factory.mktemp("oci") / "hub"
    sharded = cache_repo(hub, cache, SHARDED_REPO_ID)
    pr_id = hub.unique_repo_id("acme/with-pr")
    old = hub.add_commit(pr_id, SMALL)
    hub.add_commit(pr_id, {**SMALL, "README.md": b"# newer\n"})
    hub.add_ref(pr_id, "refs/pr/3", old)
    pr_main, pr_old = cache_repo(hub, cache, pr_id), cache_repo(hub, cache, pr_id, revision="refs/pr/3")
    made = {}
    for key, prefix in (("mixed", "Acme/Mixed-Case"), ("odd", "acme/odd_-name"), ("v2", "v2/model")):
        repo_id = hub.unique_repo_id(prefix)
        hub.add_commit(repo_id, {**SMALL, "README.md": f"# {key}\n".encode()})
        made[key] = cache_repo(hub, cache, repo_id)
    twin = hub.unique_repo_id("acme/twin")
    for repo_id in (twin, twin.upper()):
        hub.add_commit(repo_id, {**SMALL, "README.md": f"# {repo_id}\n".encode()})
    lower, upper = cache_repo(hub, cache, twin), cache_repo(hub, cache, twin.upper())
    ds_id = hub.unique_repo_id("acme/ds")
    hub.add_commit(ds_id, {"data/train.csv": b"a,b\n1,2\n", "README.md": b"# ds\n"}, repo_type="dataset")
    dataset = cache_repo(hub, cache, ds_id, repo_type="dataset")
    return Served(
        cache, sharded, pr_main, pr_old, made["mixed"], made["odd"], lower, upper, dataset, made["v2"]
    )


@pytest.fixture
def mirror(served: Served, tmp_path: Path) -> InProcess:
    return InProcess([served.cache], tmp_path / "state")


def name(c: CachedRepo) -> str:
    return oci_name(RepoName(c.repo_type, c.repo_id))


def expected(c: CachedRepo, revision: str = "main") -> Artifact:
    """What ``pack --format oci`` makes of the revision: ``artifact_of`` over the cache's own
    view, every file's sha256 taken from the bytes the hub served."""
    rv = CacheView.open(c.cache_dir).revision(RepoName(c.repo_type, c.repo_id), revision)
    files = sorted(rv.files.values(), key=lambda f: f.name)
    sums = {path: hashlib.sha256(data).hexdigest() for path, data in c.files.items()}
    return artifact_of(rv, file_entries(files, sums, {}), files)


def errors(r: Reply) -> list[str]:
    assert r.header("Content-Type") == "application/json", r.headers
    assert r.header("Docker-Distribution-API-Version") == V2
    return [e["code"] for e in r.json()["errors"]]


# --- in-process: the protocol ---------------------------------------------------------------------


def test_the_base_answers_200_empty_json(mirror: InProcess) -> None:
    for r in mirror.ask(("GET", "/v2/"), ("GET", "/v2"), ("HEAD", "/v2/")):
        assert r.status == 200 and r.header("Docker-Distribution-API-Version") == V2
    assert mirror.get("/v2/").json() == {}


def test_manifests_by_tag_and_digest_get_and_head(served: Served, mirror: InProcess) -> None:
    c = served.sharded
    want = expected(c)
    base = f"/v2/{name(c)}/manifests"
    get, head, by_commit, by_digest, head_digest = mirror.ask(
        ("GET", f"{base}/main"),
        ("HEAD", f"{base}/main"),
        ("GET", f"{base}/{c.commit}"),
        ("GET", f"{base}/{want.digest}"),
        ("HEAD", f"{base}/{want.digest}"),
    )
    assert get.status == 200 and get.body == want.manifest
    assert get.header("Content-Type") == mt.OCI_MANIFEST  # exactly: no charset
    assert (
        get.header("Docker-Content-Digest") == want.digest == "sha256:" + hashlib.sha256(get.body).hexdigest()
    )
    assert get.header("Content-Length") == str(len(want.manifest))
    assert get.header("ETag") == f'"{want.digest}"'
    assert head.status == 200 and head.body == b""
    for k in ("Content-Type", "Docker-Content-Digest", "Content-Length", "ETag"):
        assert head.header(k) == get.header(k) == head_digest.header(k), k
    assert by_commit.body == want.manifest and by_digest.body == want.manifest
    assert "immutable" in (by_digest.header("Cache-Control") or "")
    assert "immutable" not in (get.header("Cache-Control") or "")
    manifest = json.loads(get.body)
    assert manifest["artifactType"] == mt.MODEL_MANIFEST
    lfs = {n for n in c.files if n.endswith(".safetensors") or n == "tokenizer.json"}
    digests = {layer["annotations"][mt.FILEPATH]: layer["digest"] for layer in manifest["layers"]}
    assert set(digests) == set(c.files)
    for n in lfs:
        assert digests[n] == f"sha256:{c.blob(n).name}"  # the LFS blob id, not re-hashed


def test_every_tag_of_every_revision(served: Served, mirror: InProcess) -> None:
    main, old = served.pr_main, served.pr_old
    base = f"/v2/{name(main)}"
    tags = mirror.get(f"{base}/tags/list").json()
    assert tags == {"name": name(main), "tags": sorted(["main", "pr-3", main.commit, old.commit])}
    for tag, c in (("main", main), ("pr-3", old), (old.commit, old), (main.commit, main)):
        r = mirror.get(f"{base}/manifests/{tag}")
        assert r.status == 200 and r.body == expected(c, c.commit).manifest, tag


def test_blobs_get_head_and_ranges(served: Served, mirror: InProcess) -> None:
    c = served.sharded
    want = expected(c)
    base = f"/v2/{name(c)}/blobs"
    config = mirror.get(f"{base}/{want.config_digest}")
    assert config.status == 200 and config.body == want.config
    for layer in want.layers:
        data = c.files[layer.file.path]
        get, head, part, tail, past = mirror.ask(
            ("GET", f"{base}/{layer.digest}"),
            ("HEAD", f"{base}/{layer.digest}"),
            ("GET", f"{base}/{layer.digest}", {"Range": "bytes=1-4"}),
            ("GET", f"{base}/{layer.digest}", {"Range": "bytes=-3"}),
            ("GET", f"{base}/{layer.digest}", {"Range": f"bytes={len(data)}-"}),
        )
        assert get.status == 200 and get.body == data, layer.file.path
        assert get.header("Docker-Content-Digest") == layer.digest
        assert get.header("Content-Type") == "application/octet-stream"
        assert get.header("Location") == f"{base}/{layer.digest}"
        assert get.header("Accept-Ranges") == "bytes"
        assert head.status == 200 and head.body == b"" and head.header("Content-Length") == str(len(data))
        assert head.header("Docker-Content-Digest") == layer.digest
        if len(data) >= 5:
            assert part.status == 206 and part.body == data[1:5]
            assert part.header("Content-Range") == f"bytes 1-4/{len(data)}"
        assert tail.status == 206 and tail.body == data[-3:]
        assert past.status == 416 and past.header("Content-Range") == f"bytes */{len(data)}"
    ranged = mirror.get(f"{base}/{want.config_digest}", Range="bytes=0-1")
    assert ranged.status == 206 and ranged.body == want.config[:2]
    layer = want.layers[0].digest
    cached = mirror.get(f"{base}/{layer}", **{"If-None-Match": f'"{layer}"'})
    assert cached.status == 304 and cached.body == b"" and cached.header("Docker-Content-Digest") == layer


def test_tags_and_catalog_pages(served: Served, mirror: InProcess) -> None:
    base = f"/v2/{name(served.pr_main)}/tags/list"
    every = mirror.get(base).json()["tags"]
    first = mirror.get(f"{base}?n=2")
    assert first.json()["tags"] == every[:2]
    link = first.header("Link")
    assert link is not None and link.endswith('; rel="next"')
    url = re.fullmatch(r"<(.+)>; rel=\"next\"", link)
    assert url is not None and url.group(1) == f"{base}?n=2&last={every[1]}"
    second = mirror.get(url.group(1))
    assert second.json()["tags"] == every[2:4] and second.header("Link") is None
    assert mirror.get(f"{base}?last={every[0]}").json()["tags"] == every[1:]
    none = mirror.get(f"{base}?n=0")
    assert none.json()["tags"] == [] and none.header("Link") is None
    catalog = mirror.get("/v2/_catalog").json()["repositories"]
    assert catalog == sorted(catalog) and name(served.sharded) in catalog
    assert f"datasets/{served.dataset.repo_id}" in catalog
    paged, seen, path = [], 0, "/v2/_catalog?n=3"
    while path and seen < 50:
        r = mirror.get(path)
        paged += r.json()["repositories"]
        link = r.header("Link")
        path = link[1 : link.index(">")] if link else ""
        seen += 1
    assert paged == catalog
    for bad in ("-1", "x", "1e3", "9999999999"):
        r = mirror.get(f"{base}?n={bad}")
        assert r.status == 400 and errors(r) == ["PAGINATION_NUMBER_INVALID"], bad
        assert errors(mirror.get(f"/v2/_catalog?n={bad}")) == ["PAGINATION_NUMBER_INVALID"]


@pytest.mark.parametrize(
    ("path", "status", "code"),
    [
        ("/v2/nobody/nothing/manifests/main", 404, "NAME_UNKNOWN"),
        ("/v2/nobody/nothing/tags/list", 404, "NAME_UNKNOWN"),
        ("/v2/{name}/manifests/no-such-tag", 404, "MANIFEST_UNKNOWN"),
        ("/v2/{name}/manifests/sha256:" + "0" * 64, 404, "MANIFEST_UNKNOWN"),
        ("/v2/{name}/blobs/sha256:" + "0" * 64, 404, "BLOB_UNKNOWN"),
        ("/v2/{name}/blobs/sha256:abc", 400, "DIGEST_INVALID"),
        ("/v2/{name}/blobs/md5:" + "0" * 32, 400, "DIGEST_INVALID"),
        ("/v2/{name}/manifests/-bad", 400, "TAG_INVALID"),
        ("/v2/{name}/manifests/" + "t" * 129, 400, "TAG_INVALID"),
        ("/v2/a/../b/manifests/main", 400, "NAME_INVALID"),
        ("/v2/a%2F..%2Fb/manifests/main", 400, "NAME_INVALID"),
        ("/v2/a//b/manifests/main", 400, "NAME_INVALID"),
        ("/v2/-a/b/manifests/main", 400, "NAME_INVALID"),
        ("/v2/a/b%00/manifests/main", 400, "NAME_INVALID"),
        ("/v2/a/b./manifests/main", 400, "NAME_INVALID"),
        ("/v2/a/b/c/d/manifests/main", 404, "NAME_UNKNOWN"),
        ("/v2/{name}/referrers/sha256:" + "0" * 64, 404, "UNSUPPORTED"),
        ("/v2/{name}/blobs/uploads/", 404, "UNSUPPORTED"),
        ("/v2/{name}", 404, "UNSUPPORTED"),
    ],
)
def test_every_error_in_the_spec_form(
    served: Served, mirror: InProcess, path: str, status: int, code: str
) -> None:
    r = mirror.get(path.replace("{name}", name(served.sharded)))
    assert r.status == status and errors(r) == [code], r.body[:300]


@pytest.mark.parametrize("method", ["PUT", "POST", "PATCH", "DELETE"])
def test_writes_are_unsupported(served: Served, mirror: InProcess, method: str) -> None:
    n = name(served.sharded)
    for path in (f"/v2/{n}/blobs/uploads/", f"/v2/{n}/manifests/main", f"/v2/{n}/blobs/sha256:{'0' * 64}"):
        r = mirror.ask((method, path, {}, b"{}"))[0]
        assert r.status == 405 and errors(r) == ["UNSUPPORTED"], path


def test_names_original_case_fallback_and_collisions(served: Served, mirror: InProcess) -> None:
    mixed, odd, low, up = served.mixed, served.odd, served.twin_lower, served.twin_upper
    assert name(mixed) == mixed.repo_id.lower()
    assert re.fullmatch(r"acme/odd-name-\d+-x[0-9a-f]{8}", name(odd)), name(odd)
    for path in (name(mixed), mixed.repo_id, name(odd), odd.repo_id):
        r = mirror.get(f"/v2/{path}/manifests/main")
        c = mixed if path in (name(mixed), mixed.repo_id) else odd
        assert r.status == 200 and r.body == expected(c).manifest, path
    # acme/twin-N and ACME/TWIN-N both map to acme/twin-n: the id that is the name keeps it, the
    # other is served under the name with its own hash suffix, and by its original case.
    catalog = mirror.get("/v2/_catalog").json()["repositories"]
    digest = hashlib.sha256(f"{up.repo_id}".encode()).hexdigest()[:8]
    assert name(low) in catalog and f"{name(low)}-x{digest}" in catalog
    for path, c in ((name(low), low), (f"{name(low)}-x{digest}", up), (up.repo_id, up), (low.repo_id, low)):
        assert mirror.get(f"/v2/{path}/manifests/main").body == expected(c).manifest, path
    ds = served.dataset
    r = mirror.get(f"/v2/datasets/{ds.repo_id}/manifests/main")
    assert r.status == 200 and r.body == expected(ds).manifest


def test_an_org_named_v2_keeps_its_hub_urls(served: Served, mirror: InProcess) -> None:
    c = served.v2_org
    hub_url = mirror.get(f"/{c.repo_id}/resolve/{c.commit}/config.json")
    assert hub_url.status == 200 and hub_url.body == SMALL["config.json"]
    oci = mirror.get(f"/v2/{name(c)}/manifests/main")
    assert oci.status == 200 and oci.body == expected(c).manifest


def test_tokens_apply_with_a_challenge_on_the_mirror(served: Served, tmp_path: Path) -> None:
    m = InProcess([served.cache], tmp_path / "state", tokens=frozenset({"s3cret"}))
    n = name(served.sharded)
    path = f"/v2/{n}/manifests/main"
    basic = "Basic " + base64.b64encode(b"anyone:s3cret").decode()
    wrong = "Basic " + base64.b64encode(b"anyone:nope").decode()
    base, bare, bearer, basic_ok, bad, token, no_token, health = m.ask(
        ("GET", "/v2/"),
        ("GET", path),
        ("GET", path, {"Authorization": "Bearer s3cret"}),
        ("GET", path, {"Authorization": basic}),
        ("GET", path, {"Authorization": wrong}),
        ("GET", f"/v2/token?service=hfcache&scope=repository:{n}:pull", {"Authorization": basic}),
        ("GET", "/v2/token?service=hfcache", {"Authorization": wrong}),
        ("GET", "/healthz"),
    )
    assert base.status == 401 and errors(base) == ["UNAUTHORIZED"]
    challenge = base.header("WWW-Authenticate") or ""
    assert challenge.startswith('Bearer realm="http://') and challenge.endswith(
        '/v2/token",service="hfcache"'
    )
    assert bare.status == 401 and f'scope="repository:{n}:pull"' in (bare.header("WWW-Authenticate") or "")
    assert bare.json()["errors"][0]["detail"] == [{"Type": "repository", "Name": n, "Action": "pull"}]
    assert bearer.status == 200 and basic_ok.status == 200 and bad.status == 401
    assert token.status == 200 and token.json()["token"] == "s3cret" and token.json()["expires_in"] >= 60
    assert no_token.status == 401 and errors(no_token) == ["UNAUTHORIZED"]
    assert health.status == 200
    assert not any("s3cret" in line for line in m.log)


def test_a_corrupt_blob_is_never_served_under_v2(
    hub: StandinHub, tmp_path: Path, tmp_path_factory: pytest.TempPathFactory
) -> None:
    repo_id = hub.unique_repo_id("acme/corrupt")
    hub.add_commit(repo_id, {**SMALL, "big.safetensors": bytes(range(256)) * 400})
    c = cache_repo(hub, tmp_path / "hub", repo_id)
    want = expected(c)
    damage.flip_byte(Path(c.blob("big.safetensors")).resolve(), 300)
    m = InProcess([c.cache_dir], tmp_path / "state")
    layer = f"/v2/{name(c)}/blobs/sha256:{c.blob('big.safetensors').name}"
    first, again, ranged, manifest, resolve = m.ask(
        ("GET", layer),
        ("GET", layer),
        ("GET", layer, {"Range": "bytes=0-9"}),
        ("GET", f"/v2/{name(c)}/manifests/main"),
        ("GET", f"/{repo_id}/resolve/{c.commit}/big.safetensors"),
    )
    good = c.files["big.safetensors"]
    assert first.cut and len(first.body) < len(good)
    for r in (again, ranged, manifest):
        assert r.status == 503 and errors(r) == ["UNAVAILABLE"], r.body
        assert "blob-hash-mismatch" in r.json()["errors"][0]["message"]
    assert resolve.status == 503  # the same verdict as /resolve/
    assert want.layers  # the artifact the mirror would have served, had the bytes been right


def test_a_corrupt_small_file_makes_the_revision_unavailable(hub: StandinHub, tmp_path: Path) -> None:
    repo_id = hub.unique_repo_id("acme/bad-small")
    hub.add_commit(repo_id, SMALL)
    c = cache_repo(hub, tmp_path / "hub", repo_id)
    damage.flip_byte(Path(c.blob("config.json")).resolve(), 2)
    m = InProcess([c.cache_dir], tmp_path / "state")
    manifest, resolve = m.ask(
        ("GET", f"/v2/{name(c)}/manifests/main"), ("GET", f"/{repo_id}/resolve/{c.commit}/config.json")
    )
    assert manifest.status == 503 and errors(manifest) == ["UNAVAILABLE"]
    assert "config.json" in manifest.json()["errors"][0]["message"]
    assert resolve.status == 503


def test_a_bundle_split_in_volumes_gives_the_same_artifact(served: Served, tmp_path: Path) -> None:
    """The same revision from a bundle read in place (files across volume boundaries) has the
    same manifest digest as from the cache, and every blob its file's bytes."""
    c = served.sharded
    bundle = pack([c.repo_id], str(tmp_path / "b.tar"), cache_dir=str(c.cache_dir), split_size=20000)
    assert len(bundle.paths) > 1
    want = expected(c)
    m = InProcess([bundle.paths[0]], tmp_path / "state")
    base = f"/v2/{name(c)}"
    manifest, config, *layers = m.ask(
        ("GET", f"{base}/manifests/main"),
        ("GET", f"{base}/blobs/{want.config_digest}"),
        *[("GET", f"{base}/blobs/{layer.digest}") for layer in want.layers],
    )
    assert manifest.body == want.manifest and config.body == want.config
    for layer, r in zip(want.layers, layers, strict=True):
        assert r.status == 200 and r.body == c.files[layer.file.path], layer.file.path


def test_the_access_log_never_shows_credentials(served: Served, tmp_path: Path) -> None:
    m = InProcess([served.cache], tmp_path / "state", tokens=frozenset({"s3cret"}))
    basic = "Basic " + base64.b64encode(b"me:s3cret").decode()
    m.ask(("GET", "/v2/token?service=hfcache", {"Authorization": basic}), ("GET", "/v2/"))
    assert len(m.log) == 2 and not any("s3cret" in line or basic[6:] in line for line in m.log)


# --- real tools against a running mirror --------------------------------------------------------------


def _layout_manifest(layout: Path, tag: str) -> tuple[str, bytes]:
    index = json.loads((layout / "index.json").read_text())
    (entry,) = [m for m in index["manifests"] if m["annotations"][mt.REF_NAME] == tag]
    digest = entry["digest"]
    return digest, (layout / "blobs" / "sha256" / digest.removeprefix("sha256:")).read_bytes()


def _check_layout(c: CachedRepo, layout: Path, tag: str) -> None:
    """The layout holds the mirror's artifact: its digest is ``artifact_of``'s, every layer's
    bytes are the file's, and an LFS file's layer digest is its blob id."""
    want = expected(c)
    digest, data = _layout_manifest(layout, tag)
    assert digest == want.digest and data == want.manifest
    assert (layout / "blobs" / "sha256" / want.config_digest[7:]).read_bytes() == want.config
    for layer in json.loads(data)["layers"]:
        path = layer["annotations"][mt.FILEPATH]
        blob = layout / "blobs" / "sha256" / layer["digest"][7:]
        assert blob.read_bytes() == c.files[path], path
        if layer["annotations"]["io.hfcache.file.lfs"] == "true":
            assert layer["digest"] == f"sha256:{c.blob(path).name}"


@needs_skopeo
def test_skopeo_copies_inspects_and_lists_tags(served: Served, tmp_path: Path) -> None:
    c = served.sharded
    with running(served.cache, state=tmp_path / "state") as m:
        host = m.url.removeprefix("http://")
        src = f"docker://{host}/{name(c)}"
        skopeo(
            "copy",
            "--src-tls-verify=false",
            "--preserve-digests",
            f"{src}:main",
            f"oci:{tmp_path / 'l'}:main",
        )
        _check_layout(c, tmp_path / "l", "main")
        raw = skopeo("inspect", "--raw", "--tls-verify=false", f"{src}:{c.commit}").stdout
        assert raw.encode() == expected(c).manifest
        listed = json.loads(skopeo("list-tags", "--tls-verify=false", src).stdout)
        assert listed["Tags"] == sorted(["main", c.commit])
        mixed = served.mixed
        skopeo(
            "copy", "--src-tls-verify=false", f"docker://{host}/{name(mixed)}:main", f"oci:{tmp_path / 'x'}:m"
        )
        _check_layout(mixed, tmp_path / "x", "m")


@needs_skopeo
def test_skopeo_with_tokens(served: Served, tmp_path: Path) -> None:
    c = served.pr_main
    tokens = tmp_path / "tokens"
    tokens.write_text("# mirror tokens\ns3cret\n")
    with running(served.cache, state=tmp_path / "state", extra=("--token-file", str(tokens))) as m:
        src = f"docker://{m.url.removeprefix('http://')}/{name(c)}:main"
        for i, creds in enumerate((("--src-creds", "me:s3cret"), ("--src-registry-token", "s3cret"))):
            skopeo("copy", "--src-tls-verify=false", *creds, src, f"oci:{tmp_path / f'l{i}'}:main")
            _check_layout(c, tmp_path / f"l{i}", "main")
        status, headers, _ = request(f"{m.url}/v2/")
        assert status == 401 and headers["WWW-Authenticate"].startswith("Bearer realm=")
    assert "s3cret" not in m.log()


def test_oras_pulls_files_by_title(served: Served, tmp_path: Path) -> None:
    oras_client = pytest.importorskip("oras.client")
    c = served.sharded
    with running(served.cache, state=tmp_path / "state") as m:
        host = m.url.removeprefix("http://")
        client = oras_client.OrasClient(hostname=host, insecure=True)
        target = f"{host}/{name(c)}:main"
        assert client.get_manifest(target) == json.loads(expected(c).manifest)
        client.pull(target=target, outdir=str(tmp_path / "out"))
        for path, data in c.files.items():
            assert (tmp_path / "out" / path).read_bytes() == data, path
        assert client.get_tags(f"{host}/{name(c)}") == sorted(["main", c.commit])


def test_oras_with_a_token(served: Served, tmp_path: Path) -> None:
    oras_client = pytest.importorskip("oras.client")
    c = served.odd
    tokens = tmp_path / "tokens"
    tokens.write_text("s3cret\n")
    with running(served.cache, state=tmp_path / "state", extra=("--token-file", str(tokens))) as m:
        host = m.url.removeprefix("http://")
        basic = oras_client.OrasClient(hostname=host, insecure=True)
        basic.auth.set_basic_auth("me", "s3cret")  # asks the mirror's realm for a token
        bearer = oras_client.OrasClient(hostname=host, insecure=True)
        bearer.auth.set_token_auth("s3cret")  # sends it straight away
        for i, client in enumerate((basic, bearer)):
            client.pull(target=f"{host}/{name(c)}:main", outdir=str(tmp_path / f"out{i}"))
            for path, data in c.files.items():
                assert (tmp_path / f"out{i}" / path).read_bytes() == data, path
        # Without credentials oras-py retries with growing sleeps: the 401s are checked in-process.


@needs_registry
@needs_skopeo
def test_a_distribution_registry_replicates_from_the_mirror(served: Served, tmp_path: Path) -> None:
    c = served.sharded
    with (
        running(served.cache, state=tmp_path / "state") as m,
        docker_registry(tmp_path / "reg", proxy=m.url) as registry,
    ):
        src = f"docker://{registry}/{name(c)}:main"
        skopeo("copy", "--src-tls-verify=false", "--preserve-digests", src, f"oci:{tmp_path / 'l'}:main")
        _check_layout(c, tmp_path / "l", "main")
        raw = skopeo("inspect", "--raw", "--tls-verify=false", src).stdout
        assert raw.encode() == expected(c).manifest
