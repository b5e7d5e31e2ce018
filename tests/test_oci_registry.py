"""The registry client behind ``hfcache unpack oci://``.

What a registry does is tested against a real one: Debian's ``docker-registry`` (CNCF
distribution 2.8) on 127.0.0.1, holding a ModelPack artifact that ``skopeo`` pushed from an OCI
layout written here, over plain http and over TLS with a CA made for the test. What only a
hostile or broken registry does (a wrong digest, a manifest without end, an endless redirect,
a cut connection, a server that ignores ``Range``, a token realm) is tested against a server
written here (:mod:`threaded_server`). Nothing leaves the machine.
"""

from __future__ import annotations

import base64
import hashlib
import json
import logging
import os
import ssl
import time
import urllib.request
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from registry import (
    REGISTRY,
    SKOPEO,
    docker_registry,
    make_certificates,
    needs_openssl,
    needs_registry,
    needs_skopeo,
    skopeo,
)
from threaded_server import Handler, Server, cut_after

from hfcache.bundle.manifest import FileEntry
from hfcache.errors import ArtifactError, BadInputError, RegistryError
from hfcache.oci import mediatypes as mt
from hfcache.oci.artifact import Artifact, build, canonical, digest_of
from hfcache.oci.auth import ENV_PASSWORD, ENV_TOKEN, ENV_USERNAME, load_credentials, parse_challenges
from hfcache.oci.read import MAX_MANIFEST_BYTES, read_manifest
from hfcache.oci.reference import DEFAULT_TAG, parse_reference
from hfcache.oci.registry import RegistrySource
from hfcache.repoid import RepoName

USER, PASSWORD = "puller", "s3cret-Pa55word"
BASIC = base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()


@pytest.fixture(autouse=True)
def _no_real_credentials(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """No test reads the credentials of whoever runs it."""
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    for name in (ENV_TOKEN, ENV_USERNAME, ENV_PASSWORD, "REGISTRY_AUTH_FILE", "DOCKER_CONFIG"):
        monkeypatch.delenv(name, raising=False)


# --- artifacts ------------------------------------------------------------------------------------


@dataclass
class Model:
    artifact: Artifact
    blobs: dict[str, bytes]
    """Every blob by its sha256 hex: the config and one per file."""


def _model(repo_id: str, weights: bytes, commit: str = "c" * 40) -> Model:
    """A small revision's ModelPack artifact, as ``pack --format oci`` builds it."""
    files = {
        "config.json": b'{"model_type": "bert", "transformers_version": "4.40.0"}',
        "model.safetensors": weights,
        "README.md": b"# a model\n",
    }
    entries = []
    for path, data in files.items():
        sha = hashlib.sha256(data).hexdigest()
        git = hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()
        entries.append(FileEntry(path, len(data), sha, sha if path.endswith(".safetensors") else git))
    art = build(
        RepoName("model", repo_id), commit, ["main"], entries, config_json=json.loads(files["config.json"])
    )
    blobs = {hashlib.sha256(b).hexdigest(): b for b in (*files.values(), art.config)}
    return Model(art, blobs)


def _layout(path: Path, models: list[Model], index: list[dict[str, object]]) -> Path:
    """An OCI image layout by hand: ``oci-layout``, ``index.json`` listing ``index``, every blob."""
    blobs = path / "blobs" / "sha256"
    blobs.mkdir(parents=True)
    (path / "oci-layout").write_text('{"imageLayoutVersion":"1.0.0"}')
    (path / "index.json").write_bytes(
        canonical({"schemaVersion": 2, "mediaType": mt.OCI_INDEX, "manifests": index})
    )
    for m in models:
        for digest, data in {**m.blobs, m.artifact.digest[7:]: m.artifact.manifest}.items():
            (blobs / digest).write_bytes(data)
    return path


def _index_of(*models: Model) -> bytes:
    return canonical(
        {
            "schemaVersion": 2,
            "mediaType": mt.OCI_INDEX,
            "manifests": [m.artifact.descriptor() for m in models],
        }
    )


def _read_all(source: RegistrySource, digest: str, size: int, chunk: int = 1 << 20) -> bytes:
    out = bytearray()
    with source.open_blob(digest, size) as f:
        while block := f.read(chunk):
            out += block
    return bytes(out)


# --- references, challenges, credentials ------------------------------------------------------------


def test_references_are_parsed_part_by_part() -> None:
    r = parse_reference("oci://registry.example:5000/org/name:v1")
    assert (r.host, r.port, r.name, r.tag, r.digest) == ("registry.example", 5000, "org/name", "v1", None)
    assert parse_reference("oci://127.0.0.1/org/name").tag == DEFAULT_TAG == "main"
    d = "sha256:" + "a" * 64
    r = parse_reference(f"oci://[::1]:8443/a/b/c@{d}")
    assert (r.host, r.port, r.name, r.tag, r.reference) == ("[::1]", 8443, "a/b/c", None, d)
    assert str(r) == f"oci://[::1]:8443/a/b/c@{d}"
    assert parse_reference(f"oci://h/n:t@{d}").reference == d  # the digest decides
    for bad, part in [
        ("docker://h/n:t", "oci://"),
        ("oci://h", "no repository"),
        ("oci://h:0/n", "port"),
        ("oci://h:99999999999999999999999/n", "port"),
        ("oci://bad_host!/n", "host"),
        ("oci://h/Org/Name", "repository name"),
        ("oci://h/n:-bad", "tag"),
        ("oci://h/n@sha256:abc", "digest"),
        ("oci://h/n:" + "x" * 129, "tag"),
    ]:
        with pytest.raises(BadInputError, match=part) as e:
            parse_reference(bad)
        assert "\n" not in str(e.value)


def test_challenges_are_parsed_as_rfc_9110_writes_them() -> None:
    (c,) = parse_challenges(
        [
            'Bearer realm="https://auth.example/token",service="registry.example",scope="repository:a/b:pull,push"'
        ]
    )
    assert c.scheme == "bearer" and c.params["scope"] == "repository:a/b:pull,push"
    assert c.params["realm"] == "https://auth.example/token"
    two = parse_challenges(['Basic realm="x, y", Bearer realm=https://t.example/,service=s', "Negotiate"])
    assert [(c.scheme, c.params) for c in two] == [
        ("basic", {"realm": "x, y"}),
        ("bearer", {"realm": "https://t.example/", "service": "s"}),
        ("negotiate", {}),
    ]


def test_credentials_come_from_the_environment_then_a_file(tmp_path: Path) -> None:
    authfile = tmp_path / "auth.json"
    entry = {"auth": base64.b64encode(b"fileuser:filepass").decode()}
    authfile.write_text(json.dumps({"auths": {"https://reg.example:5000/v1/": entry, "other.example": {}}}))
    c = load_credentials("reg.example:5000", authfile=str(authfile), environ={})
    assert c is not None and (c.username, c.password, c.source) == ("fileuser", "filepass", str(authfile))
    assert "filepass" not in repr(c) and BASIC not in repr(c)
    assert load_credentials("reg.example", authfile=str(authfile), environ={}) is None  # the port is part
    env = {ENV_USERNAME: USER, ENV_PASSWORD: PASSWORD, "REGISTRY_AUTH_FILE": str(authfile)}
    c = load_credentials("reg.example:5000", environ=env)
    assert c is not None and (c.username, c.source) == (USER, f"{ENV_USERNAME}/{ENV_PASSWORD}")
    c = load_credentials("reg.example:5000", environ={**env, ENV_TOKEN: "tok"})
    assert c is not None and c.token == "tok" and c.basic is None
    c = load_credentials("reg.example:5000", environ={"REGISTRY_AUTH_FILE": str(authfile)})
    assert c is not None and c.username == "fileuser"
    home = tmp_path / "home" / ".docker"
    home.mkdir(parents=True)
    (home / "config.json").write_text(
        json.dumps({"auths": {"reg.example:5000": {"username": "u", "password": "p"}}})
    )
    c = load_credentials("reg.example:5000", environ={"HOME": str(tmp_path / "home")})
    assert c is not None and (c.username, c.password) == ("u", "p")
    with pytest.raises(BadInputError, match="set both"):
        load_credentials("h", environ={ENV_USERNAME: USER})
    with pytest.raises(BadInputError, match="no such credentials file"):
        load_credentials("h", authfile=str(tmp_path / "missing.json"), environ={})
    authfile.write_text(json.dumps({"auths": {"h": {"auth": "!!" + PASSWORD}}}))
    with pytest.raises(BadInputError) as e:
        load_credentials("h", authfile=str(authfile), environ={})
    assert PASSWORD not in str(e.value)


# --- a real registry ------------------------------------------------------------------------------


@dataclass
class Pushed:
    host: str
    model: Model
    other: Model


@pytest.fixture(scope="module")
def pushed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Pushed]:
    """A registry holding ``org/name``: ``main`` (the model), ``idx`` (an index of it) and
    ``two`` (an index of it and another model), each pushed by skopeo from a layout."""
    if REGISTRY is None or SKOPEO is None:
        pytest.skip("docker-registry and skopeo are needed (.ci/run installs them)")
    work = tmp_path_factory.mktemp("registry")
    model, other = _model("Org/Name", os.urandom(3 << 20)), _model("Org/Other", os.urandom(4096), "d" * 40)
    idx, two = _index_of(model), _index_of(model, other)  # each entry says artifactType
    index = [
        model.artifact.descriptor("main"),
        {
            "mediaType": mt.OCI_INDEX,
            "digest": digest_of(idx),
            "size": len(idx),
            "annotations": {mt.REF_NAME: "idx"},
        },
        {
            "mediaType": mt.OCI_INDEX,
            "digest": digest_of(two),
            "size": len(two),
            "annotations": {mt.REF_NAME: "two"},
        },
    ]
    layout = _layout(work / "layout", [model, other], index)
    for data in (idx, two):
        (layout / "blobs" / "sha256" / digest_of(data)[7:]).write_bytes(data)
    with docker_registry(work) as host:
        for tag in ("main", "idx", "two"):
            skopeo("copy", "--all", "--dest-tls-verify=false",
                   f"oci:{layout}:{tag}", f"docker://{host}/org/name:{tag}")  # fmt: skip
        for tag, data in (("typed", idx), ("typed-two", two)):  # as pushed by a client that keeps
            request = urllib.request.Request(  # artifactType in the index (skopeo 1.9 drops it)
                f"http://{host}/v2/org/name/manifests/{tag}",
                data=data,
                method="PUT",
                headers={"Content-Type": mt.OCI_INDEX},
            )
            with urllib.request.urlopen(request, timeout=30) as r:
                assert r.status == 201
        yield Pushed(host, model, other)


@needs_registry
@needs_skopeo
def test_a_pushed_model_comes_back_byte_exact(pushed: Pushed) -> None:
    art = pushed.model.artifact
    source = RegistrySource(f"oci://{pushed.host}/org/name:main", plain_http=True)
    (named,) = source.manifests()
    assert named.data == art.manifest and (named.name, named.tag) == ("org/name", "main")
    assert art.digest[:19] in named.where and read_manifest(named.data, named.where).repo == art.repo
    wanted = {d: b for d, b in pushed.model.blobs.items()}
    with ThreadPoolExecutor(source.concurrency) as pool:  # several at once, as the unpacker reads
        got = dict(zip(wanted, pool.map(lambda d: _read_all(source, d, len(wanted[d])), wanted), strict=True))
    assert got == wanted
    small = next(d for d, b in wanted.items() if len(b) > 1 << 20)
    assert _read_all(source, small, len(wanted[small]), chunk=1000) == wanted[small]


@needs_registry
@needs_skopeo
def test_by_digest_by_default_tag_and_through_an_index(pushed: Pushed) -> None:
    art = pushed.model.artifact
    refs = [
        (f"org/name@{art.digest}", None),
        ("org/name", "main"),
        ("org/name:idx", "idx"),
        ("org/name:typed", "typed"),
    ]
    for ref, tag in refs:
        (named,) = RegistrySource(f"oci://{pushed.host}/{ref}", plain_http=True).manifests()
        assert named.data == art.manifest and named.tag == tag, ref
    for tag in ("two", "typed-two"):
        with pytest.raises(ArtifactError, match="of 2 manifests, 2 of them models") as e:
            RegistrySource(f"oci://{pushed.host}/org/name:{tag}", plain_http=True).manifests()
        assert art.digest in str(e.value) and pushed.other.artifact.digest in str(e.value)


@needs_registry
@needs_skopeo
def test_what_the_registry_does_not_have_is_one_clear_line(pushed: Pushed) -> None:
    host = pushed.host
    cases = [
        ("org/name:nope", f"{host}/org/name has no tag 'nope' (tags: idx, main, two, typed, typed-two)"),
        ("org/absent:main", f"{host} has no repository 'org/absent'"),
        (f"org/name@sha256:{'0' * 64}", f"{host}/org/name has no manifest sha256:{'0' * 64}"),
    ]
    for ref, said in cases:
        with pytest.raises(BadInputError) as e:
            RegistrySource(f"oci://{host}/{ref}", plain_http=True).manifests()
        assert str(e.value).startswith(said), str(e.value)
    source = RegistrySource(f"oci://{host}/org/name:main", plain_http=True)
    with pytest.raises(ArtifactError, match="is not in the registry"), source.open_blob("0" * 64, 10):
        pass
    with pytest.raises(RegistryError, match=f"{host}: TLS failed .*--plain-http"):
        RegistrySource(f"oci://{host}/org/name:main").manifests()  # https is the default


def test_an_unreachable_registry_says_so(tmp_path: Path) -> None:
    with Server(_never) as s:
        port = s.port
    with pytest.raises(RegistryError, match=f"127.0.0.1:{port}: cannot connect"):
        RegistrySource(f"oci://127.0.0.1:{port}/org/name", plain_http=True).manifests()


async def _never(request: web.Request, server: Server) -> web.StreamResponse:
    raise AssertionError("no request was expected")


@needs_registry
@needs_skopeo
@needs_openssl
def test_tls_is_verified_against_the_given_ca(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    ca, cert, key = make_certificates(tmp_path)
    model = _model("Org/Tls", os.urandom(5000))
    layout = _layout(tmp_path / "layout", [model], [model.artifact.descriptor("main")])
    with docker_registry(tmp_path, tls=(cert, key)) as host:
        skopeo("copy", "--dest-tls-verify=false", f"oci:{layout}:main", f"docker://{host}/org/tls:main")
        ref = f"oci://{host}/org/tls"
        with pytest.raises(RegistryError, match=f"{host}: its TLS certificate is not trusted .*--ca-file"):
            RegistrySource(ref).manifests()
        source = RegistrySource(ref, ca_file=str(ca))
        assert source.manifests()[0].data == model.artifact.manifest
        digest = hashlib.sha256(model.artifact.config).hexdigest()
        assert _read_all(source, digest, len(model.artifact.config)) == model.artifact.config
        monkeypatch.setenv("SSL_CERT_FILE", str(ca))
        assert RegistrySource(ref).manifests()[0].data == model.artifact.manifest
        with pytest.raises(
            RegistryError,
            match=r"got 400 Bad Request: Client sent an HTTP request to an HTTPS server\.; .* --plain-http",
        ):
            RegistrySource(ref, plain_http=True).manifests()


# --- a hostile registry ---------------------------------------------------------------------------

MODEL = _model("Org/Name", os.urandom(200_000))
WEIGHTS = next(b for b in MODEL.blobs.values() if len(b) == 200_000)
WEIGHTS_HEX = hashlib.sha256(WEIGHTS).hexdigest()


def _manifest_answer(data: bytes, **headers: str) -> web.Response:
    return web.Response(
        body=data,
        headers={"Content-Type": mt.OCI_MANIFEST, "Docker-Content-Digest": digest_of(data), **headers},
    )


def _source(server: Server, ref: str = "org/name:main", **kwargs: Any) -> RegistrySource:
    source = RegistrySource(f"oci://{server.netloc}/{ref}", plain_http=True, timeout=10, **kwargs)
    source.client.retry_delay = 0.01
    return source


def test_a_manifest_that_is_not_what_it_is_named_is_refused() -> None:
    other = b'{"schemaVersion":2}'

    async def handler(request: web.Request, server: Server) -> web.StreamResponse:
        if request.path.endswith("/wrong-header"):
            return _manifest_answer(MODEL.artifact.manifest, **{"Docker-Content-Digest": digest_of(other)})
        return _manifest_answer(other)  # whatever was asked for

    with Server(handler) as s:
        with pytest.raises(ArtifactError, match=r"registry says .* but its bytes hash to"):
            _source(s, "org/name:wrong-header").manifests()
        with pytest.raises(ArtifactError, match=f"hash to {digest_of(other)}, not {MODEL.artifact.digest}"):
            _source(s, f"org/name@{MODEL.artifact.digest}").manifests()


def test_an_oversized_manifest_is_refused_with_or_without_its_length() -> None:
    async def handler(request: web.Request, server: Server) -> web.StreamResponse:
        resp = web.StreamResponse(headers={"Content-Type": mt.OCI_MANIFEST})
        if request.path.endswith("/says"):
            resp.content_length = MAX_MANIFEST_BYTES + 1
            await resp.prepare(request)
            await resp.write(b"{" * 1000)
            await server.held()  # the rest never comes: refused from the header alone
            return resp
        await resp.prepare(request)  # chunked, no length: refused once past the bound
        for _ in range(MAX_MANIFEST_BYTES // (1 << 20) + 2):
            await resp.write(b" " * (1 << 20))
        return resp

    with Server(handler) as s:
        start = time.monotonic()
        with pytest.raises(ArtifactError, match=f"is {MAX_MANIFEST_BYTES + 1} bytes, more than"):
            _source(s, "org/name:says").manifests()
        assert time.monotonic() - start < 5
        with pytest.raises(ArtifactError, match=f"more than the {MAX_MANIFEST_BYTES} bytes hfcache reads"):
            _source(s, "org/name:chunked").manifests()


def test_an_endless_redirect_stops() -> None:
    async def handler(request: web.Request, server: Server) -> web.StreamResponse:
        raise web.HTTPFound(f"/v2/org/name/manifests/loop{server.count('hops')}")

    with Server(handler) as s:
        with pytest.raises(ArtifactError, match=r"redirected more than 5 times.*nothing was installed"):
            _source(s).manifests()
        assert len(s.seen) == 6


def _token_registry(blob_url: str | None = None, *, echo: bool = False) -> Handler:
    """A registry that wants a bearer token from its own ``/token`` (Basic credentials
    required there), serving ``MODEL``; its blob redirects to ``blob_url`` if given. With
    ``echo``, every refusal repeats the ``Authorization`` it was sent."""

    async def handler(request: web.Request, server: Server) -> web.StreamResponse:
        auth = request.headers.get("Authorization", "")
        if request.path == "/token":
            if auth != f"Basic {BASIC}" or request.query.get("scope") != "repository:org/name:pull":
                raise web.HTTPUnauthorized(
                    text=json.dumps({"errors": [{"code": "UNAUTHORIZED", "message": auth}]})
                )
            return web.json_response({"token": "earned-token-123", "expires_in": 300})
        if auth != "Bearer earned-token-123":
            challenge = f'Bearer realm="{server.url}/token",service="test",scope="repository:org/name:pull"'
            body = json.dumps(
                {"errors": [{"code": "UNAUTHORIZED", "message": f"not {auth}" if echo else "no"}]}
            )
            raise web.HTTPUnauthorized(headers={"WWW-Authenticate": challenge}, text=body)
        if "/manifests/" in request.path:
            return _manifest_answer(MODEL.artifact.manifest)
        if blob_url is not None:
            raise web.HTTPTemporaryRedirect(blob_url)
        return web.Response(body=WEIGHTS)

    return handler


def test_the_token_flow_and_a_redirect_that_leaves_the_credentials_behind(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv(ENV_USERNAME, USER)
    monkeypatch.setenv(ENV_PASSWORD, PASSWORD)
    caplog.set_level(logging.DEBUG)

    async def storage(request: web.Request, server: Server) -> web.StreamResponse:
        return web.Response(body=WEIGHTS)

    with Server(storage) as store, Server(_token_registry(f"{store.url}/bucket/weights?sig=1")) as s:
        source = _source(s)
        assert source.manifests()[0].data == MODEL.artifact.manifest
        assert _read_all(source, WEIGHTS_HEX, len(WEIGHTS)) == WEIGHTS
    said = [(x.path.split("?")[0], x.header("Authorization")) for x in s.seen]
    assert said == [
        ("/v2/org/name/manifests/main", None),  # anonymous first
        ("/token", f"Basic {BASIC}"),  # the credentials go to the realm
        ("/v2/org/name/manifests/main", "Bearer earned-token-123"),  # the token to the registry
        ("/v2/org/name/blobs/sha256:" + WEIGHTS_HEX, "Bearer earned-token-123"),  # earned once
    ]
    assert "service=test" in s.seen[1].path
    assert [(x.path, x.header("Authorization")) for x in store.seen] == [("/bucket/weights?sig=1", None)]
    assert PASSWORD not in caplog.text and BASIC not in caplog.text and "earned-token" not in caplog.text


def test_refused_credentials_appear_in_no_message(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(ENV_USERNAME, USER)
    monkeypatch.setenv(ENV_PASSWORD, "wrong-" + PASSWORD)
    with Server(_token_registry(echo=True)) as s, pytest.raises(RegistryError) as e:
        _source(s).manifests()
    text = str(e.value)
    assert f"its token server {s.netloc} refused the credentials from {ENV_USERNAME}/{ENV_PASSWORD}" in text
    wrong = base64.b64encode(f"{USER}:wrong-{PASSWORD}".encode()).decode()
    assert PASSWORD not in text and wrong not in text and "***" in text  # the server echoed it
    monkeypatch.setenv(ENV_TOKEN, "ready-token-xyz")  # a ready token, refused: echoed, redacted
    with (
        Server(_token_registry(echo=True)) as s,
        pytest.raises(RegistryError, match="refused the credentials from HFCACHE_REGISTRY_TOKEN") as e,
    ):
        _source(s).manifests()
    assert "ready-token-xyz" not in str(e.value) and [x.path for x in s.seen if x.path == "/token"] == []


def test_basic_auth_from_a_credentials_file(tmp_path: Path) -> None:
    async def handler(request: web.Request, server: Server) -> web.StreamResponse:
        if request.headers.get("Authorization") != f"Basic {BASIC}":
            raise web.HTTPUnauthorized(headers={"WWW-Authenticate": 'Basic realm="registry"'})
        return _manifest_answer(MODEL.artifact.manifest)

    with Server(handler) as s:
        with pytest.raises(
            RegistryError, match=f"{s.netloc} needs credentials to read org/name .*{ENV_USERNAME}"
        ):
            _source(s).manifests()
        authfile = tmp_path / "auth.json"
        authfile.write_text(json.dumps({"auths": {s.netloc: {"auth": BASIC}}}))
        assert _source(s, authfile=str(authfile)).manifests()[0].data == MODEL.artifact.manifest


@needs_openssl
def test_credentials_never_go_over_plain_http_unasked(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ca, cert, key = make_certificates(tmp_path)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    monkeypatch.setenv(ENV_USERNAME, USER)
    monkeypatch.setenv(ENV_PASSWORD, PASSWORD)

    async def handler(request: web.Request, server: Server) -> web.StreamResponse:
        if "/manifests/" in request.path:
            realm = 'Bearer realm="http://auth.example/token",service="x"'
            raise web.HTTPUnauthorized(headers={"WWW-Authenticate": realm})
        raise web.HTTPFound("http://mirror.example/blob")

    with Server(handler, ssl_context=context) as s:
        source = RegistrySource(f"oci://{s.netloc}/org/name", ca_file=str(ca))
        with pytest.raises(RegistryError, match=r"token server auth\.example is plain http"):
            source.manifests()
        with (
            pytest.raises(ArtifactError, match="from https to plain http"),
            source.open_blob(WEIGHTS_HEX, len(WEIGHTS)),
        ):
            pass


def test_a_cut_download_resumes_with_range() -> None:
    async def handler(request: web.Request, server: Server) -> web.StreamResponse:
        wanted = request.headers.get("Range")
        if wanted is None:
            return await cut_after(request, WEIGHTS, 70_000)
        start = int(wanted.removeprefix("bytes=").removesuffix("-"))
        headers = {"Content-Range": f"bytes {start}-{len(WEIGHTS) - 1}/{len(WEIGHTS)}"}
        return web.Response(status=206, body=WEIGHTS[start:], headers=headers)

    with Server(handler) as s:
        assert _read_all(_source(s), WEIGHTS_HEX, len(WEIGHTS)) == WEIGHTS
    assert [x.header("Range") for x in s.seen] == [None, "bytes=70000-"]


def test_a_server_that_ignores_range_is_read_again_from_the_start() -> None:
    async def handler(request: web.Request, server: Server) -> web.StreamResponse:
        if server.count("blob") == 1:
            return await cut_after(request, WEIGHTS, 50_000)
        return web.Response(body=WEIGHTS)  # Range or not: all of it

    with Server(handler) as s:
        assert _read_all(_source(s), WEIGHTS_HEX, len(WEIGHTS)) == WEIGHTS
    assert [x.header("Range") for x in s.seen] == [None, "bytes=50000-"]


def test_a_wrong_length_is_refused() -> None:
    """Each digest names one wrong answer; the unpacker would read ``size`` bytes of each."""
    size = len(WEIGHTS)
    short_header, long, short, partial = ("a" * 64, "b" * 64, "c" * 64, "d" * 64)

    async def handler(request: web.Request, server: Server) -> web.StreamResponse:
        digest = request.path.rsplit(":", 1)[1]
        if digest == short_header:
            return web.Response(body=WEIGHTS[:-1])
        if digest == partial:
            return web.Response(
                status=206, body=WEIGHTS, headers={"Content-Range": f"bytes 0-{size - 1}/{size}"}
            )
        resp = web.StreamResponse()  # no length: chunked
        await resp.prepare(request)
        await resp.write(WEIGHTS + b"more" if digest == long else WEIGHTS[:1000])
        return resp

    cases = [
        (short_header, f"is {size - 1} bytes as the registry sends it, {size} as its descriptor says"),
        (long, f"goes on past the {size} bytes"),
        (short, f"ended after 1000 of its {size} bytes, 6 times"),
        (partial, "came as a part"),
    ]
    with Server(handler) as s:
        for digest, said in cases:
            with pytest.raises(ArtifactError, match=said):
                _read_all(_source(s), digest, size)
    assert [x.header("Range") for x in s.seen[-7:-1]] == [None] + ["bytes=1000-"] * 5


def test_busy_and_failing_registries() -> None:
    async def handler(request: web.Request, server: Server) -> web.StreamResponse:
        if request.path.endswith("/manifests/flaky") and server.count("flaky") < 2:
            raise web.HTTPServiceUnavailable()
        if "/manifests/flaky" in request.path:
            return _manifest_answer(MODEL.artifact.manifest)
        if "/blobs/" in request.path:
            raise web.HTTPForbidden(
                text=json.dumps({"errors": [{"code": "DENIED", "message": "no pulls today"}]})
            )
        raise web.HTTPInternalServerError(text="it broke")

    with Server(handler) as s:
        assert _source(s, "org/name:flaky").manifests()[0].data == MODEL.artifact.manifest
        s.seen.clear()
        with pytest.raises(
            RegistryError,
            match=f"{s.netloc}: the request for manifest main got 500 Internal Server Error: it broke, 3 ti",
        ):
            _source(s).manifests()
        assert len(s.seen) == 3
        with (
            pytest.raises(RegistryError, match=f"{s.netloc} denies access .*DENIED: no pulls today"),
            _source(s).open_blob(WEIGHTS_HEX, len(WEIGHTS)),
        ):
            pass


def test_an_index_with_no_model_is_refused() -> None:
    image = canonical(
        {"schemaVersion": 2, "mediaType": mt.OCI_MANIFEST, "config": {
            "mediaType": "application/vnd.oci.image.config.v1+json", "digest": digest_of(b"{}"), "size": 2},
         "layers": []}
    )  # fmt: skip
    entry = {"mediaType": mt.OCI_MANIFEST, "digest": digest_of(image), "size": len(image)}
    index = canonical({"schemaVersion": 2, "mediaType": mt.OCI_INDEX, "manifests": [entry, entry]})

    async def handler(request: web.Request, server: Server) -> web.StreamResponse:
        if request.path.endswith("/main"):
            return web.Response(body=index, headers={"Content-Type": mt.OCI_INDEX})
        return _manifest_answer(image)

    with (
        Server(handler) as s,
        pytest.raises(ArtifactError, match=r"image index .* of 2 manifests, 0 of them models; nothing"),
    ):
        _source(s).manifests()


def test_a_hostile_registry_installs_nothing_through_the_command_line(tmp_path: Path) -> None:
    """``hfcache unpack oci://`` against a registry whose manifest is right and one of whose
    layers is not what its digest says: exit 2, one line, and the target never created."""
    from test_cli import hfcache

    model = _model("acme/hostile", WEIGHTS)
    bad = bytearray(WEIGHTS)
    bad[len(bad) // 2] ^= 0xFF

    async def handler(request: web.Request, server: Server) -> web.StreamResponse:
        path = request.path
        if path.endswith("/manifests/main"):
            headers = {"Content-Type": mt.OCI_MANIFEST, "Docker-Content-Digest": model.artifact.digest}
            return web.Response(body=model.artifact.manifest, headers=headers)
        digest = path.rsplit("sha256:", 1)[-1]
        if "/blobs/" in path and digest in model.blobs:
            body = bytes(bad) if digest == WEIGHTS_HEX else model.blobs[digest]
            return web.Response(body=body, headers={"Docker-Content-Digest": f"sha256:{digest}"})
        return web.Response(status=404)

    target = tmp_path / "target" / "hub"
    with Server(handler) as s:
        run = hfcache("unpack", f"oci://{s.netloc}/acme/hostile:main", "--plain-http", "--cache-dir", target)
    assert run.returncode == 2, (run.stdout, run.stderr)
    assert run.stderr.count("\n") == 1 and "hashes to" in run.stderr and "nothing was installed" in run.stderr
    assert not (tmp_path / "target").exists()
