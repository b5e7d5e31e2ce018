"""``/v2/`` for GGUF repos, as ollama and llama.cpp ask for it.

No ollama binary can be installed here, so :func:`ollama_pull` replays the exact requests its
pull code makes (ollama ``server/images.go`` and ``server/download.go``, read for
``../shared/OCI-NOTES.md`` §4.2): the manifest with only Docker's v2 type acceptable and an
``ollama/`` User-Agent; for the config and each layer a HEAD for ``Content-Length``, a GET whose
headers alone are read (it must answer 200 with a ``Location``, or 307), then ranged GETs of
parts against that location without ``Authorization`` and without checking the status, and
last the sha256 of the whole. llama.cpp's probe is one GET with ``User-Agent: llama-cpp``.
"""

from __future__ import annotations

import hashlib
import http.client
import json
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urljoin, urlsplit

import damage
import ggufgen
import pytest
from builders import CachedRepo, cache_repo
from mirror import InProcess, running
from standin_hub import StandinHub

from hfcache.bundle.pack import pack
from hfcache.oci.mediatypes import MODEL_MANIFEST
from hfcache.serve import ggufquant
from hfcache.serve.ollama import human_number

DOCKER = "application/vnd.docker.distribution.manifest.v2+json"
AGENT = "ollama/0.33.0 (amd64 linux) Go/go1.24.1"
OLLAMA = {"Accept": DOCKER, "User-Agent": AGENT}
LLAMA = {"Accept": "application/json", "User-Agent": "llama-cpp"}


def gguf(file_type: int, seed: int, arch: str = "llama") -> bytes:
    """A real GGUF file: architecture, file type and one F32 tensor of 16x64 (1K parameters)."""
    kvs = [ggufgen.kv_str("general.architecture", arch), ggufgen.kv_u32("general.file_type", file_type)]
    kvs.append(ggufgen.kv_str("general.name", f"test model {seed}"))
    body = ggufgen.build(kvs, [("token_embd.weight", 0, (16, 64))])
    return body + struct.pack("<I", seed) * 8  # distinct bytes per file; llama.cpp ignores a tail


PARAMS = b'{"stop": ["<|im_end|>"], "temperature": 0.7}\n'
TEMPLATE = b"{{ if .System }}<|im_start|>system\n{{ .System }}<|im_end|>\n{{ end }}{{ .Prompt }}"


def gguf_repo(extra: dict[str, bytes] | None = None) -> dict[str, bytes]:
    files = {
        "README.md": b"# a GGUF repo\n",
        "LICENSE": b"Apache-2.0\n",
        "template": TEMPLATE,
        "system": b"You are a test.\n",
        "params": PARAMS,
        "model-Q4_K_M.gguf": gguf(15, 1),
        "model-Q8_0.gguf": gguf(7, 2),
        "model-IQ4_XS.gguf": gguf(30, 3),
        "mmproj-model-f16.gguf": gguf(1, 4, "clip"),
        "model-Q2_K-00001-of-00002.gguf": gguf(10, 5),
        "model-Q2_K-00002-of-00002.gguf": gguf(10, 6),
    }
    return {**files, **(extra or {})}


@dataclass(frozen=True)
class Ggufs:
    cache: Path
    repo: CachedRepo
    plain: CachedRepo
    bad_params: CachedRepo


@pytest.fixture(scope="module")
def ggufs(hub: StandinHub, tmp_path_factory: pytest.TempPathFactory) -> Ggufs:
    cache = tmp_path_factory.mktemp("gguf") / "hub"
    repo_id = hub.unique_repo_id("Acme/Model-GGUF")
    hub.add_commit(repo_id, gguf_repo())
    plain_id = hub.unique_repo_id("acme/plain")
    hub.add_commit(plain_id, {"config.json": b"{}\n", "model.safetensors": b"S" * 2000})
    odd_id = hub.unique_repo_id("acme/odd-params-GGUF")
    hub.add_commit(odd_id, {"params": b"not json", "x-Q4_K_M.gguf": gguf(15, 9)})
    return Ggufs(
        cache,
        cache_repo(hub, cache, repo_id),
        cache_repo(hub, cache, plain_id),
        cache_repo(hub, cache, odd_id),
    )


@pytest.fixture
def mirror(ggufs: Ggufs, tmp_path: Path) -> InProcess:
    return InProcess([ggufs.cache], tmp_path / "state")


def sha256(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


# --- ollama's pull, replayed ----------------------------------------------------------------------------


def _send(url: str, method: str, headers: dict[str, str]) -> http.client.HTTPResponse:
    u = urlsplit(url)
    conn = http.client.HTTPConnection(u.hostname or "127.0.0.1", u.port, timeout=30)
    conn.request(method, u.path + (f"?{u.query}" if u.query else ""), headers=headers)
    return conn.getresponse()


def _download(base: str, path: str, digest: str, parts: int) -> bytes:
    blob = f"{base}{path}/blobs/{digest}"
    head = _send(blob, "HEAD", {"User-Agent": AGENT})
    assert head.status == 200, head.status
    size = int(head.getheader("Content-Length") or -1)
    head.close()
    probe = _send(blob, "GET", {"User-Agent": AGENT})  # ollama reads the headers, then hangs up
    assert probe.status in (200, 307), probe.status
    location = probe.getheader("Location")
    assert location, "ollama fails with 'http: no Location header in response'"
    probe.close()
    direct = urljoin(blob, location)
    assert urlsplit(direct).netloc == urlsplit(blob).netloc
    out = bytearray(size)
    step = max(1, -(-size // parts))
    for start in range(0, size, step):
        end = min(start + step, size) - 1
        r = _send(direct, "GET", {"Range": f"bytes={start}-{end}", "User-Agent": AGENT})  # no Authorization
        out[start : end + 1] = r.read()  # the status is not checked: only the bytes
        r.close()
    assert sha256(bytes(out)) == digest, f"{digest}: the sha256 ollama checks"
    return bytes(out)


def ollama_pull(base: str, path: str, tag: str, parts: int = 3) -> tuple[dict[str, Any], dict[str, bytes]]:
    """What ``ollama pull --insecure HOST/PATH:TAG`` does over HTTP: the manifest, then every blob."""
    r = _send(f"{base}/v2/{path}/manifests/{tag}", "GET", OLLAMA)
    body = r.read()
    assert r.status == 200, (r.status, body[:300])
    manifest = json.loads(body)
    blobs = {}
    for layer in [manifest["config"], *manifest["layers"]]:
        blobs[layer["digest"]] = _download(base, f"/v2/{path}", layer["digest"], parts)
        assert len(blobs[layer["digest"]]) == layer["size"]
    return manifest, blobs


def test_ollama_pull_replayed(ggufs: Ggufs, tmp_path: Path) -> None:
    c = ggufs.repo
    files = c.files
    with running(ggufs.cache, state=tmp_path / "state") as m:
        manifest, blobs = ollama_pull(m.url, c.repo_id, "Q4_K_M")
        again, _ = ollama_pull(m.url, c.repo_id.lower(), "q4_k_m", parts=1)  # its OCI name, any case of tag
        latest, _ = ollama_pull(m.url, c.repo_id, "latest")
        named, _ = ollama_pull(m.url, c.repo_id, "model-Q8_0.gguf", parts=5)
    assert manifest == again == latest
    assert manifest["schemaVersion"] == 2 and manifest["mediaType"] == DOCKER
    assert manifest["config"]["mediaType"] == "application/vnd.docker.container.image.v1+json"
    kinds = [layer["mediaType"].rsplit(".", 1)[1] for layer in manifest["layers"]]
    assert kinds == ["model", "projector", "template", "system", "params", "license"]
    by_kind = dict(zip(kinds, manifest["layers"], strict=True))
    assert by_kind["model"]["digest"] == f"sha256:{c.blob('model-Q4_K_M.gguf').name}"  # the LFS blob id
    for kind, file in (("model", "model-Q4_K_M.gguf"), ("projector", "mmproj-model-f16.gguf"),
                       ("template", "template"), ("system", "system"), ("params", "params"),
                       ("license", "LICENSE")):  # fmt: skip
        assert blobs[by_kind[kind]["digest"]] == files[file], kind
    config = json.loads(blobs[manifest["config"]["digest"]])
    assert config["model_format"] == "gguf" and config["file_type"] == "Q4_K_M"
    assert config["model_family"] == "llama" and config["model_families"] == ["llama"]
    assert config["model_type"] == "1K"  # 16 x 64 parameters, as ollama writes a count
    assert config["rootfs"]["diff_ids"] == [layer["digest"] for layer in manifest["layers"]]
    q8 = named["layers"][0]
    assert q8["digest"] == sha256(files["model-Q8_0.gguf"])


def test_the_same_digests_on_every_mirror_and_after_a_restart(ggufs: Ggufs, tmp_path: Path) -> None:
    c = ggufs.repo
    one = InProcess([ggufs.cache], tmp_path / "one")
    two = InProcess([ggufs.cache], tmp_path / "two")
    first = one.get(f"/v2/{c.repo_id}/manifests/Q8_0", **OLLAMA)
    config = json.loads(first.body)["config"]["digest"]
    # the other mirror never built this manifest: it still knows the config blob by its digest
    blob = two.get(f"/v2/{c.repo_id}/blobs/{config}", **{"User-Agent": AGENT})
    assert blob.status == 200 and sha256(blob.body) == config
    assert two.get(f"/v2/{c.repo_id}/manifests/Q8_0", **OLLAMA).body == first.body
    assert first.header("Docker-Content-Digest") == sha256(first.body)
    assert first.header("Content-Type") == DOCKER


def test_a_bundle_in_volumes_gives_the_same_manifest(ggufs: Ggufs, tmp_path: Path) -> None:
    """GGUF headers read across volume boundaries: the same config, so the same digests."""
    c = ggufs.repo
    bundle = pack([c.repo_id], str(tmp_path / "g.tar"), cache_dir=str(c.cache_dir), split_size=3000)
    assert len(bundle.paths) > 3
    from_cache = InProcess([ggufs.cache], tmp_path / "one").get(f"/v2/{c.repo_id}/manifests/latest", **OLLAMA)
    from_bundle = InProcess([bundle.paths[0]], tmp_path / "two")
    manifest = from_bundle.get(f"/v2/{c.repo_id}/manifests/latest", **OLLAMA)
    assert manifest.status == 200 and manifest.body == from_cache.body
    model = json.loads(manifest.body)["layers"][0]["digest"]
    assert sha256(from_bundle.get(f"/v2/{c.repo_id}/blobs/{model}").body) == model


def test_tags_the_hub_way(ggufs: Ggufs, mirror: InProcess) -> None:
    c = ggufs.repo
    base = f"/v2/{c.repo_id}/manifests"

    def model(tag: str) -> str:
        r = mirror.get(f"{base}/{tag}", **OLLAMA)
        assert r.status == 200, (tag, r.body[:300])
        return str(json.loads(r.body)["layers"][0]["digest"])

    expect = {name: sha256(data) for name, data in c.files.items()}
    assert model("latest") == model("Q4_K_M") == model("q4_k_m") == expect["model-Q4_K_M.gguf"]
    assert model("iq4_xs") == model("model-IQ4_XS.gguf") == expect["model-IQ4_XS.gguf"]
    assert model("q8") == expect["model-Q8_0.gguf"]  # a label prefix
    split = mirror.get(f"{base}/Q2_K", **OLLAMA)
    assert split.status == 400 and json.loads(split.body)["errors"][0]["code"] == "UNSUPPORTED"
    message = json.loads(split.body)["errors"][0]["message"]
    assert "split in 2 files" in message and "model-Q2_K-00001-of-00002.gguf" in message
    unknown = mirror.get(f"{base}/Q3_K_S", **OLLAMA)
    assert unknown.status == 404 and json.loads(unknown.body)["errors"][0]["code"] == "MANIFEST_UNKNOWN"
    assert "Q4_K_M" in json.loads(unknown.body)["errors"][0]["message"]


def test_dialects_by_accept_and_user_agent(ggufs: Ggufs, mirror: InProcess) -> None:
    c, plain = ggufs.repo, ggufs.plain
    docker_only = {"Accept": DOCKER}
    oci = mirror.get(f"/v2/{c.repo_id}/manifests/main")  # no Accept: the ModelPack artifact
    assert oci.status == 200 and json.loads(oci.body)["artifactType"] == MODEL_MANIFEST
    docker = mirror.get(f"/v2/{c.repo_id}/manifests/Q8_0", **docker_only)
    assert json.loads(docker.body)["mediaType"] == DOCKER
    no_gguf = mirror.get(f"/v2/{plain.repo_id}/manifests/latest", **OLLAMA)
    assert no_gguf.status == 404 and "no GGUF" in no_gguf.body.decode()
    other = mirror.get(f"/v2/{plain.repo_id}/manifests/main", **docker_only)  # not ollama: the artifact
    assert other.status == 200 and "artifactType" in json.loads(other.body)
    odd = ggufs.bad_params
    layers = json.loads(mirror.get(f"/v2/{odd.repo_id}/manifests/latest", **OLLAMA).body)["layers"]
    kinds = [layer["mediaType"].rsplit(".", 1)[1] for layer in layers]
    assert kinds == ["model"]  # params that are not a JSON object are left out


def test_llama_cpp_probe(ggufs: Ggufs, mirror: InProcess) -> None:
    c = ggufs.repo
    base = f"/v2/{c.repo_id}/manifests"
    latest, q2, head = mirror.ask(("GET", f"{base}/latest", LLAMA), ("GET", f"{base}/q2_k", LLAMA),
                                  ("HEAD", f"{base}/latest", LLAMA))  # fmt: skip
    assert latest.status == 200 and latest.header("Content-Type") == "application/json"
    size = len(c.files["model-Q4_K_M.gguf"])
    mmproj = {"rfilename": "mmproj-model-f16.gguf", "size": len(c.files["mmproj-model-f16.gguf"])}
    assert latest.json() == {
        "ggufFile": {"rfilename": "model-Q4_K_M.gguf", "size": size},
        "mmprojFile": mmproj,
    }
    # a split file: llama.cpp is named the first part and fetches the others itself
    assert q2.json()["ggufFile"]["rfilename"] == "model-Q2_K-00001-of-00002.gguf"
    assert head.status == 200 and head.body == b""
    file = mirror.get(f"/{c.repo_id}/resolve/{c.commit}/{latest.json()['ggufFile']['rfilename']}")
    assert file.body == c.files["model-Q4_K_M.gguf"]


def test_a_corrupt_gguf_is_never_served_to_ollama(hub: StandinHub, tmp_path: Path) -> None:
    repo_id = hub.unique_repo_id("acme/bad-GGUF")
    hub.add_commit(repo_id, {"m-Q4_K_M.gguf": gguf(15, 1) + bytes(4096)})
    c = cache_repo(hub, tmp_path / "hub", repo_id)
    damage.flip_byte(Path(c.blob("m-Q4_K_M.gguf")).resolve(), 5000)
    m = InProcess([c.cache_dir], tmp_path / "state")
    manifest = m.get(f"/v2/{repo_id}/manifests/latest", **OLLAMA)
    digest = json.loads(manifest.body)["layers"][0]["digest"]
    first, again, ranged, later = m.ask(
        ("GET", f"/v2/{repo_id}/blobs/{digest}"),
        ("GET", f"/v2/{repo_id}/blobs/{digest}"),
        ("GET", f"/v2/{repo_id}/blobs/{digest}", {"Range": "bytes=0-99"}),
        ("GET", f"/v2/{repo_id}/manifests/latest", OLLAMA),
    )
    assert first.cut and sha256(first.body) != digest
    assert again.status == ranged.status == later.status == 503


# --- the tag rules on their own ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "label"),
    [
        ("Meta-Llama-3.1-8B-Instruct-Q4_K_M.gguf", "Q4_K_M"),
        ("qwen2.5-7b-instruct-q5_k_m.gguf", "Q5_K_M"),
        ("gemma-2-2b-it-IQ3_M.gguf", "IQ3_M"),
        ("Model-UD-Q4_K_XL.gguf", "UD-Q4_K_XL"),
        ("Model-Q6_K_L.gguf", "Q6_K_L"),
        ("Q8_0/Model-Q8_0-00001-of-00003.gguf", "Q8_0"),
        ("mmproj-model-f16.gguf", "F16"),
        ("model-bf16.gguf", "BF16"),
        ("Model-55IQ2_XXS-34Q2_K-07Q8_0-03F16.gguf", "IQ2_XXS"),  # a mix: its dominant part
        ("Q2_K-named-but-Q4_K_M.gguf", "Q4_K_M"),  # the last match wins
        ("no-quant-here.gguf", None),
    ],
)
def test_quant_labels_as_the_hub_reads_them(name: str, label: str | None) -> None:
    assert ggufquant.quant_label(name) == label


def test_latest_is_q4_k_m_else_the_nearest_below() -> None:
    def pick(*names: str) -> str:
        choice = ggufquant.choose([(n, 1) for n in names], "latest")
        assert choice is not None
        return choice.model.path

    assert pick("m-Q8_0.gguf", "m-Q4_K_M.gguf", "m-Q2_K.gguf") == "m-Q4_K_M.gguf"
    assert pick("m-Q8_0.gguf", "m-Q4_K_S.gguf", "m-Q2_K.gguf") == "m-Q4_K_S.gguf"
    assert pick("m-Q8_0.gguf", "m-Q6_K.gguf") == "m-Q6_K.gguf"  # nothing below: the smallest above
    assert pick("b.gguf", "a.gguf") == "a.gguf"  # no labels: the first by path
    assert pick("sub/m-Q4_K_M.gguf", "m-Q4_K_M.gguf") == "m-Q4_K_M.gguf"  # root files first
    assert ggufquant.choose([("mmproj-f16.gguf", 1)], "latest") is None  # a projector is no model


@pytest.mark.parametrize(("n", "text"), [(7_615_616_512, "7.6B"), (500_000_000, "500M"), (1024, "1K"),
                                         (3 * 10**12, "3T"), (999, "999")])  # fmt: skip
def test_parameter_counts_as_ollama_writes_them(n: int, text: str) -> None:
    assert human_number(n) == text
