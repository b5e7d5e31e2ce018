"""The mirror's HTTP protocol, in-process: every route of the table against a real cache, behind
aiohttp's test server, with raw paths sent exactly as written. Unknown paths, wrong methods,
ranges, conditional requests, refs, trees, paths-info, ``%2F`` revisions and hostile paths."""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from pathlib import Path

import pytest
from builders import SHARDED_REPO_ID, CachedRepo, cache_repo
from mirror import InProcess
from standin_hub import StandinHub

from hfcache.serve import routes
from hfcache.serve.protocol import BadRequest
from hfcache.serve.routes import ROUTES, Scope

DOCS = Path(__file__).resolve().parent.parent / "docs" / "serve.md"
SMALL = {"config.json": b'{"model_type": "bert"}', "README.md": b"# small\n"}
FORM = {"Content-Type": "application/x-www-form-urlencoded"}


@dataclass(frozen=True)
class Served:
    """One cache holding: the sharded model (main), a repo held only by a tag, a repo with a PR ref
    and an older commit, a dataset, and a repo whose name starts with ``_``."""

    cache: Path
    sharded: CachedRepo
    tag_only: CachedRepo
    pr_main: CachedRepo
    pr_old: CachedRepo
    dataset: CachedRepo
    private: CachedRepo


@pytest.fixture(scope="module")
def served(hub: StandinHub, tmp_path_factory: pytest.TempPathFactory) -> Served:
    cache = tmp_path_factory.mktemp("served") / "hub"
    sharded = cache_repo(hub, cache, SHARDED_REPO_ID)
    tag_id = hub.unique_repo_id("acme/tagged")
    hub.add_commit(tag_id, SMALL, branch="v1")
    tag_only = cache_repo(hub, cache, tag_id, revision="v1")
    pr_id = hub.unique_repo_id("acme/with-pr")
    old = hub.add_commit(pr_id, SMALL)
    hub.add_commit(pr_id, {**SMALL, "README.md": b"# v2\n"})
    hub.add_ref(pr_id, "refs/pr/1", old)
    pr_main = cache_repo(hub, cache, pr_id)
    pr_old = cache_repo(hub, cache, pr_id, revision="refs/pr/1")
    ds_id = hub.unique_repo_id("acme/ds")
    hub.add_commit(ds_id, {"data/train.csv": b"a,b\n1,2\n", "README.md": b"# ds\n"}, repo_type="dataset")
    dataset = cache_repo(hub, cache, ds_id, repo_type="dataset")
    private_id = hub.unique_repo_id("acme/_private")
    hub.add_commit(private_id, SMALL)
    private = cache_repo(hub, cache, private_id)
    return Served(cache, sharded, tag_only, pr_main, pr_old, dataset, private)


@pytest.fixture
def mirror(served: Served, tmp_path: Path) -> InProcess:
    return InProcess([served.cache], tmp_path / "state")


# --- the table, without a server -------------------------------------------------------------------


def test_every_route_is_documented_and_answered() -> None:
    text = DOCS.read_text()
    for route in ROUTES:
        assert f"`{route.pattern}`" in text, f"{route.pattern} is not in docs/serve.md"
    from hfcache.serve.server import Handler

    assert all(callable(getattr(Handler, r.handler, None)) for r in ROUTES)
    assert {r.scope for r in ROUTES} == set(Scope)
    assert [r.pattern for r in ROUTES if r.methods != routes.READ] == ["/api/{type}/{repo}/paths-info/{rev}"]


@pytest.mark.parametrize(
    ("path", "handler", "parts"),
    [
        ("/", "index", ("model", "", "main", "")),
        ("/api/models/gpt2/refs", "refs", ("model", "gpt2", "main", "")),
        ("/api/models/org/name/refs", "refs", ("model", "org/name", "main", "")),
        ("/api/datasets/org/name", "repo_info", ("dataset", "org/name", "main", "")),
        ("/api/spaces/org/name/revision/v1.0", "repo_info", ("space", "org/name", "v1.0", "")),
        ("/api/models/org/name/tree/refs%2Fpr%2F1/a%2Fb", "tree", ("model", "org/name", "refs/pr/1", "a/b")),
        ("/api/models/org/name/tree/main/a/b?recursive=1", "tree", ("model", "org/name", "main", "a/b")),
        ("/api/models/org/name/tree/main", "tree", ("model", "org/name", "main", "")),
        ("/api/models/org/name/paths-info/main", "paths_info", ("model", "org/name", "main", "")),
        ("/api/models/org/name/commits/main", "commits", ("model", "org/name", "main", "")),
        ("/org/name/resolve/main/sub/dir/x.txt", "resolve", ("model", "org/name", "main", "sub/dir/x.txt")),
        ("/gpt2/resolve/refs%2Fpr%2F1/config.json", "resolve", ("model", "gpt2", "refs/pr/1", "config.json")),
        ("/datasets/org/ds/resolve/main/d.csv", "resolve", ("dataset", "org/ds", "main", "d.csv")),
        ("/spaces/org/app/resolve/main/app.py", "resolve", ("space", "org/app", "main", "app.py")),
        ("/org/_private/resolve/main/a%20b.txt", "resolve", ("model", "org/_private", "main", "a b.txt")),
    ],
)
def test_the_table_matches(path: str, handler: str, parts: tuple[str, str, str, str]) -> None:
    m = routes.match(path)
    assert m is not None and m.route.handler == handler
    assert (m.repo_type, m.repo_id, m.revision, m.path) == parts


@pytest.mark.parametrize(
    "path",
    [
        "/api/models/org/name/unknown/main",  # once answered with commits
        "/api/models/org/name/discussions",
        "/api/models/org/name/commits",  # no revision
        "/api/models/org/name/refs/extra",
        "/api/models/org/name/tree",
        "/api/kernels/org/name",
        "/api/repos/create",
        "/api",
        "/org/name/blob/main/config.json",
        "/org/name/resolve/main",  # no path
        "/org/name/x/y/resolve/main/f",  # three-part repo id
        "/healthz/x",
        "/favicon.ico",
    ],
)
def test_paths_not_in_the_table(path: str) -> None:
    assert routes.match(path) is None


@pytest.mark.parametrize(
    ("path", "status"),
    [
        ("/org/name/resolve/main/../../etc/passwd", 400),
        ("/org/name/resolve/main/%2e%2e/%2e%2e/etc/passwd", 400),
        ("/org/name/resolve/main/..%2F..%2Fetc%2Fpasswd", 400),
        ("/org/name/resolve/..%2F..%2F/config.json", 400),
        ("/org/name/resolve/main//etc/passwd", 400),
        ("/org/name/resolve/main/C:%5Cwin.ini", 400),
        ("/org/name/resolve/main/a\\b", 400),
        ("/org/name/resolve/main/config.json%00.txt", 400),
        ("/org/name/resolve/main/%ff.txt", 400),
        ("/org/name/resolve/a..b/config.json", 400),
        ("/..%2F..%2Fetc/passwd/resolve/main/x", 404),
        ("/api/models/..%2F..%2Fetc/tree/main", 404),
        ("/api/models/org/name-", 404),
        ("/api/models/org/na--me/refs", 404),
    ],
)
def test_hostile_parts_are_refused_by_the_table(path: str, status: int) -> None:
    with pytest.raises(BadRequest) as e:
        routes.match(path)
    assert e.value.status == status


# --- every route, through the server -----------------------------------------------------------------


def test_every_route_answers(served: Served, mirror: InProcess) -> None:
    c, d = served.sharded, served.dataset
    api = f"/api/models/{c.repo_id}"
    replies = mirror.ask(
        ("GET", "/"),
        ("GET", "/healthz"),
        ("GET", "/metrics"),
        ("GET", "/api/whoami-v2"),
        ("GET", "/api/whoami"),
        ("GET", "/api/agent-harnesses"),
        ("GET", f"{api}/refs"),
        ("GET", f"{api}/revision/main"),
        ("GET", f"{api}/tree/main"),
        ("POST", f"{api}/paths-info/main", FORM, b"paths=config.json"),
        ("GET", f"{api}/commits/main"),
        ("GET", f"{api}/xet-read-token/main"),
        ("GET", f"{api}/xet-write-token/main"),
        ("GET", api),
        ("GET", f"/datasets/{d.repo_id}/resolve/main/data/train.csv"),
        ("GET", f"/{c.repo_id}/resolve/main/config.json"),
        ("GET", f"/{c.repo_id}/resolve/{c.commit}/config.json"),
    )
    expected = [200, 200, 200, 401, 401, 200, 200, 200, 200, 200, 200, 404, 404, 200, 307, 307, 200]
    assert [r.status for r in replies] == expected
    assert replies[-1].body == c.files["config.json"]
    assert replies[-2].header("Location") == f"/{c.repo_id}/resolve/{c.commit}/config.json"
    assert replies[-3].header("Location") == f"/datasets/{d.repo_id}/resolve/{d.commit}/data/train.csv"
    assert replies[10].json()[0]["id"] == c.commit
    assert replies[13].json()["sha"] == c.commit and replies[13].json()["id"] == c.repo_id


def test_unknown_paths_and_actions_are_404(served: Served, mirror: InProcess) -> None:
    c = served.sharded
    api = f"/api/models/{c.repo_id}"
    unknown = [f"{api}/unknown/main", f"{api}/discussions", f"{api}/commits", "/favicon.ico"]
    for path in [*unknown, f"/{c.repo_id}/blob/main/config.json"]:
        r = mirror.get(path)
        assert r.status == 404 and r.header("X-Error-Code") is None, path
        assert r.json() == {"error": "Not found"}, path
    assert mirror.get(f"/{c.repo_id}/resolve/main/no-such.json").header("X-Error-Code") == "EntryNotFound"
    assert mirror.get("/api/models/nobody/nothing/refs").header("X-Error-Code") == "RepoNotFound"
    assert mirror.get("/api/models/nobody/nothing/tree/main").header("X-Error-Code") == "RepoNotFound"
    missing = mirror.get(f"/api/models/{c.repo_id}/revision/no-such-branch")
    assert missing.status == 404 and missing.header("X-Error-Code") == "RevisionNotFound"


def test_methods(served: Served, mirror: InProcess) -> None:
    c = served.sharded
    resolve = f"/{c.repo_id}/resolve/{c.commit}/config.json"
    api = f"/api/models/{c.repo_id}"
    writes = [("PUT", resolve), ("DELETE", resolve), ("PATCH", resolve), ("POST", resolve)]
    wrong = [("GET", f"{api}/paths-info/main"), ("POST", f"{api}/tree/main"), ("OPTIONS", "/")]
    unknown = [("POST", "/api/repos/create"), ("PUT", "/nothing/here")]
    asked = [*writes, *wrong, *unknown, ("HEAD", "/api/repos/create"), ("HEAD", resolve)]
    replies = mirror.ask(*asked)
    assert [r.status for r in replies] == [405] * 9 + [404, 200]
    assert all("read-only" in (r.header("X-Error-Message") or "") for r in replies[:9])
    head = replies[-1]
    assert head.body == b"" and head.header("Content-Length") == str(len(c.files["config.json"]))


def test_ranges_and_conditional_requests(served: Served, mirror: InProcess) -> None:
    c = served.sharded
    name = "tokenizer.json"
    data, url = c.files[name], f"/{c.repo_id}/resolve/{c.commit}/{name}"
    size = len(data)
    etag = f'"{c.blob(name).name}"'
    first, suffix, open_end, past, multi, bad, head, same, other, whole = mirror.ask(
        ("GET", url, {"Range": "bytes=10-19"}),  # not yet verified: hashed whole first, then sent
        ("GET", url, {"Range": "bytes=-5"}),
        ("GET", url, {"Range": f"bytes={size - 3}-"}),
        ("GET", url, {"Range": f"bytes={size}-"}),
        ("GET", url, {"Range": "bytes=0-1,4-5"}),
        ("GET", url, {"Range": "lines=1-2"}),
        ("HEAD", url, {"Range": "bytes=0-1"}),
        ("GET", url, {"If-None-Match": etag}),
        ("GET", url, {"If-None-Match": '"0000"'}),
        ("GET", url, {"Range": f"bytes=0-{size * 2}"}),
    )
    assert first.status == 206 and first.body == data[10:20]
    assert first.header("Content-Range") == f"bytes 10-19/{size}" and first.header("Content-Length") == "10"
    assert suffix.status == 206 and suffix.body == data[-5:]
    assert open_end.status == 206 and open_end.body == data[-3:]
    for refused in (past, multi, bad):
        assert refused.status == 416 and refused.header("Content-Range") == f"bytes */{size}"
    assert head.status == 200 and head.body == b"" and head.header("Content-Length") == str(size)
    assert same.status == 304 and same.body == b"" and same.header("ETag") == etag
    assert other.status == 200 and other.body == data
    assert whole.status == 206 and whole.body == data


def test_refs_are_repo_scoped(served: Served, mirror: InProcess) -> None:
    """A repo held only by a tag has refs (no ``main`` is resolved first), and PRs when asked."""
    tag, prm, old = served.tag_only, served.pr_main, served.pr_old
    tagged, tag_info, by_tag, with_prs, without = mirror.ask(
        ("GET", f"/api/models/{tag.repo_id}/refs"),
        ("GET", f"/api/models/{tag.repo_id}"),
        ("GET", f"/api/models/{tag.repo_id}/revision/v1"),
        ("GET", f"/api/models/{prm.repo_id}/refs?include_prs=1"),
        ("GET", f"/api/models/{prm.repo_id}/refs"),
    )
    assert tagged.status == 200
    assert tagged.json()["branches"] == [{"name": "v1", "ref": "refs/heads/v1", "targetCommit": tag.commit}]
    assert tag_info.status == 404 and tag_info.header("X-Error-Code") == "RevisionNotFound"
    assert by_tag.status == 200 and by_tag.json()["sha"] == tag.commit
    assert with_prs.json()["branches"] == [
        {"name": "main", "ref": "refs/heads/main", "targetCommit": prm.commit}
    ]
    assert with_prs.json()["pullRequests"] == [{"name": "1", "ref": "refs/pr/1", "targetCommit": old.commit}]
    assert "pullRequests" not in without.json()
    assert with_prs.header("Cache-Control") == "public, max-age=10, must-revalidate"


def test_encoded_revisions_tree_and_paths_info(served: Served, mirror: InProcess) -> None:
    c, prm, old = served.sharded, served.pr_main, served.pr_old
    api = f"/api/models/{c.repo_id}"
    pr_info, pr_resolve, top, sub, deep, nothing, by_commit, info = mirror.ask(
        ("GET", f"/api/models/{prm.repo_id}/revision/refs%2Fpr%2F1"),
        ("GET", f"/{prm.repo_id}/resolve/refs%2Fpr%2F1/README.md"),
        ("GET", f"{api}/tree/main"),
        ("GET", f"{api}/tree/main/sub%2Fdir"),
        ("GET", f"{api}/tree/main?recursive=true"),
        ("GET", f"{api}/tree/main/nothing-here"),
        ("GET", f"{api}/tree/{c.commit}/sub"),
        (
            "POST",
            f"{api}/paths-info/{c.commit}",
            FORM,
            b"paths=config.json&paths=sub&paths=x.bin&expand=False",
        ),
    )
    assert pr_info.json()["sha"] == old.commit and old.commit != prm.commit
    assert pr_resolve.status == 307 and pr_resolve.header("X-Repo-Commit") == old.commit
    assert {e["path"]: e["type"] for e in top.json()}["sub"] == "directory"
    assert "sub/dir/extra.txt" not in {e["path"] for e in top.json()}
    assert [e["path"] for e in sub.json()] == ["sub/dir/extra.txt"]
    assert {"sub", "sub/dir", "sub/dir/extra.txt", "词表.txt"} <= {e["path"] for e in deep.json()}
    assert nothing.status == 404 and nothing.header("X-Error-Code") == "EntryNotFound"
    assert nothing.header("X-Repo-Commit") == c.commit
    assert by_commit.header("Cache-Control") == "public, max-age=31536000, immutable"
    assert top.header("Cache-Control") == "public, max-age=10, must-revalidate"
    assert sorted(e["path"] for e in info.json()) == ["config.json", "sub"]


def test_hostile_paths_get_nothing(served: Served, mirror: InProcess) -> None:
    c = served.sharded
    paths = [
        f"/{c.repo_id}/resolve/main/../../../../etc/passwd",
        f"/{c.repo_id}/resolve/main/%2e%2e/%2e%2e/%2e%2e/etc/passwd",
        f"/{c.repo_id}/resolve/main/%2E%2E%2F%2E%2E%2Fetc%2Fpasswd",
        f"/{c.repo_id}/resolve/..%2F..%2F/config.json",
        f"/{c.repo_id}/resolve/main//etc/passwd",
        f"/{c.repo_id}/resolve/main/C:%5Cwin.ini",
        f"/{c.repo_id}/resolve/main/sub\\dir\\extra.txt",
        f"/{c.repo_id}/resolve/main/config.json%00.txt",
        f"/{c.repo_id}/resolve/main/config.json%00",
        "/..%2F..%2Fetc/passwd/resolve/main/x",
        "/api/models/..%2F..%2Fetc/tree/main",
        f"/api/models/{c.repo_id}/tree/main/..%2F..%2F..",
        f"/api/models/{c.repo_id}/tree/%2e%2e",
    ]
    replies = mirror.ask(*[("GET", p) for p in paths])
    for path, r in zip(paths, replies, strict=True):
        assert r.status in (400, 404), (path, r.status)
        assert b"root:" not in r.body and b"model_type" not in r.body, path


def test_repo_ids_by_the_one_grammar(served: Served, mirror: InProcess) -> None:
    p = served.private
    assert p.repo_id.split("/")[1].startswith("_")
    info, got, bad, bad_resolve = mirror.ask(
        ("GET", f"/api/models/{p.repo_id}"),
        ("GET", f"/{p.repo_id}/resolve/{p.commit}/config.json"),
        ("GET", "/api/models/org/name-"),
        ("GET", "/org/name-/resolve/main/config.json"),
    )
    assert info.status == 200 and info.json()["id"] == p.repo_id
    assert got.status == 200 and got.body == p.files["config.json"]
    for r in (bad, bad_resolve):
        assert r.status == 404 and r.header("X-Error-Code") == "RepoNotFound"


def test_a_unicode_name(served: Served, mirror: InProcess) -> None:
    c = served.sharded
    r = mirror.get(f"/{c.repo_id}/resolve/{c.commit}/%E8%AF%8D%E8%A1%A8.txt")
    assert r.status == 200 and r.body == c.files["词表.txt"]


def test_tokens_guard_everything_but_health(served: Served, tmp_path: Path) -> None:
    c = served.sharded
    m = InProcess([served.cache], tmp_path / "state", tokens=frozenset({"s3cret"}))
    good = {"Authorization": "Bearer s3cret"}
    replies = m.ask(("GET", "/"), ("GET", "/metrics"), ("GET", "/nothing"), ("PUT", "/nothing"),
                    ("GET", f"/api/models/{c.repo_id}/refs"), ("GET", "/healthz"),
                    ("GET", f"/api/models/{c.repo_id}/refs", good),
                    ("GET", f"/{c.repo_id}/resolve/main/config.json", good))  # fmt: skip
    assert [r.status for r in replies] == [401] * 5 + [200, 200, 200]  # with tokens: no redirect
    assert replies[-1].body == c.files["config.json"]
    assert "s3cret" not in "\n".join(m.log)


# --- what the log and /metrics count -----------------------------------------------------------------


def _logged(log: list[str]) -> list[tuple[str, str, int, int]]:
    """(method, path, status, bytes) of each access-log line."""
    found = [re.match(r"\S+ \S+ (\S+) (\S+) (\d+) (\d+) [\d.]+ms$", line) for line in log]
    return [(m[1], m[2], int(m[3]), int(m[4])) for m in found if m]


def test_the_access_log_counts_the_bytes_really_sent(served: Served, mirror: InProcess) -> None:
    c = served.sharded
    name = "model-00001-of-00002.safetensors"
    url, size = f"/{c.repo_id}/resolve/{c.commit}/{name}", len(c.files[name])
    etag = f'"{c.blob(name).name}"'
    replies = mirror.ask(
        ("GET", url),  # first read: hashed while it is sent
        ("GET", url),  # verified: by sendfile
        ("GET", url, {"Range": "bytes=100-199"}),
        ("HEAD", url),
        ("GET", url, {"If-None-Match": etag}),
        ("GET", url, {"Range": f"bytes={size}-"}),
        ("GET", f"/{c.repo_id}/resolve/main/{name}"),
        ("GET", f"/{c.repo_id}/resolve/{c.commit}/nothing.bin"),
        ("GET", f"/api/models/{c.repo_id}/refs"),
        ("GET", "/metrics"),
    )
    lines = _logged(mirror.log)
    assert [(status, sent) for _, _, status, sent in lines[:9]] == [
        (200, size), (200, size), (206, 100), (200, 0), (304, 0), (416, 0), (307, 0),
        (404, len(replies[7].body)), (200, len(replies[8].body)),
    ]  # fmt: skip
    assert replies[0].body == replies[1].body == c.files[name]
    metrics = replies[-1].body.decode()
    assert f"hfcache_bytes_sent_total {sum(sent for *_, sent in lines[:9])}" in metrics


def test_a_corrupt_first_read_is_logged_as_cut_short(fresh_cache: CachedRepo, tmp_path: Path) -> None:
    import damage

    c = fresh_cache
    name = "model-00002-of-00002.safetensors"
    damage.flip_byte(Path(c.blob(name)).resolve(), 10)
    m = InProcess([c.cache_dir], tmp_path / "state")
    cut, refused = m.ask(("GET", f"/{c.repo_id}/resolve/{c.commit}/{name}"),
                         ("GET", f"/{c.repo_id}/resolve/{c.commit}/{name}"))  # fmt: skip
    assert cut.cut and len(cut.body) < len(c.files[name])
    assert hashlib.sha256(cut.body).digest() != hashlib.sha256(c.files[name]).digest()
    assert refused.status == 503 and "blob-hash-mismatch" in (refused.header("X-Error-Message") or "")
    (first, second) = _logged(m.log)
    assert first[2:] == (200, len(cut.body)) and second[2:] == (503, len(refused.body))
    assert any(line.startswith(f"refused {name}: ") and "cut short" in line for line in m.log)


def test_a_client_that_hangs_up_is_logged_499_with_the_bytes_sent(
    hub: StandinHub, tmp_path: Path, hf_env: Path
) -> None:
    """More than loopback's socket buffers hold, so the mirror is still sending when the client
    goes; on the first read (hashed while sent) and on a verified one (sendfile) alike."""
    import random

    repo_id = hub.unique_repo_id("acme/big")
    data = random.Random(5).randbytes(32 * 1024 * 1024)
    hub.add_commit(repo_id, {"big.safetensors": data})
    c = cache_repo(hub, tmp_path / "hub", repo_id)
    m = InProcess([c.cache_dir], tmp_path / "state")
    url = f"/{repo_id}/resolve/{c.commit}/big.safetensors"
    first, whole, second = m.ask(
        ("GET", url, {}, None, 1 << 16), ("GET", url), ("GET", url, {}, None, 1 << 16)
    )
    assert first.cut and second.cut and whole.body == data
    logged = [(status, sent) for method, path, status, sent in _logged(m.log) if path == url]
    assert sorted(status for status, _ in logged) == [200, 499, 499]  # a hung-up handler may end later
    for status, sent in logged:
        assert sent == len(data) if status == 200 else 1 << 16 <= sent < len(data)


def test_metrics_are_described_and_count_repos_and_uptime(served: Served, mirror: InProcess) -> None:
    (r,) = mirror.ask(("GET", "/metrics"))
    text = r.body.decode()
    names = re.findall(r"^# TYPE (\S+) (\S+)$", text, flags=re.MULTILINE)
    assert dict(names) == {
        "hfcache_requests_total": "counter",
        "hfcache_bytes_sent_total": "counter",
        "hfcache_refused_total": "counter",
        "hfcache_repos": "gauge",
        "hfcache_uptime_seconds": "gauge",
    }
    assert {n for n, _ in names} == set(re.findall(r"^# HELP (\S+) \S", text, flags=re.MULTILINE))
    samples = {line.split()[0].split("{")[0] for line in text.splitlines() if not line.startswith("#")}
    assert samples <= {n for n, _ in names}
    assert "hfcache_repos 5\n" in text
    uptime = float(re.findall(r"^hfcache_uptime_seconds (\S+)$", text, flags=re.MULTILINE)[0])
    assert 0 <= uptime < 600
    assert (r.header("Content-Type") or "").startswith("text/plain")


def test_the_page_lists_each_repo_once(served: Served, mirror: InProcess) -> None:
    prm = served.pr_main
    url = f"/{prm.repo_id}/resolve/{prm.commit}/config.json"
    _, page = mirror.ask(("GET", url), ("GET", "/"))
    text = page.body.decode()
    assert text.count(f"<td>{prm.repo_id}</td>") == 1  # two revisions, one row
    row = text.split(f"<td>{prm.repo_id}</td>")[1].split("</tr>")[0]
    assert prm.commit[:12] in row and served.pr_old.commit[:12] in row and "refs/pr/1" in row
    assert "1 of 2" in row and str(served.cache) in row  # README.md not read yet; the answering source
    assert "href='healthz'" in text and "href='metrics'" in text
    assert not re.search(r"<script|src=|@import|href='?\"?(https?:|//)", text)  # no external assets
    assert "export HF_ENDPOINT=http://mirror.test:8080" in text


# --- refs across revisions and sources -------------------------------------------------------------


def test_refs_of_two_revisions_in_one_bundle_and_of_several_sources(
    hub: StandinHub, tmp_path: Path, hf_env: Path
) -> None:
    """A bundle holding two revisions of a repo lists both revisions' refs; with several sources,
    each ref comes from the first source holding it, which is also the one that answers for it."""
    from hfcache.bundle.pack import pack

    repo_id = hub.unique_repo_id("acme/two")
    first = hub.add_commit(repo_id, SMALL)
    hub.add_ref(repo_id, "v1", first)
    second = hub.add_commit(repo_id, {**SMALL, "README.md": b"# two\n"})
    cache = tmp_path / "hub"
    cache_repo(hub, cache, repo_id, revision="v1")
    latest = cache_repo(hub, cache, repo_id)
    bundle = pack(
        [f"{repo_id}@v1", f"{repo_id}@main"], str(tmp_path / "two.tar"), cache_dir=str(cache)
    ).paths[0]
    stale = cache_repo(hub, tmp_path / "stale", repo_id, revision="v1")  # a mirror where main is still v1
    (stale.repo_folder / "refs" / "main").write_text(first)

    def refs(*sources: str | Path) -> tuple[dict[str, str], str]:
        got, info = InProcess(list(sources), tmp_path / "state").ask(
            ("GET", f"/api/models/{repo_id}/refs"), ("GET", f"/api/models/{repo_id}")
        )
        return {b["name"]: b["targetCommit"] for b in got.json()["branches"]}, info.json()["sha"]

    assert refs(bundle) == ({"v1": first, "main": second}, second)
    assert refs(stale.cache_dir, bundle) == ({"v1": first, "main": first}, first)
    assert refs(bundle, stale.cache_dir) == ({"v1": first, "main": second}, second)
    m = InProcess([bundle, latest.cache_dir], tmp_path / "state")
    (_, page) = m.ask(("GET", f"/{repo_id}/resolve/{second}/README.md"), ("GET", "/"))
    text = page.body.decode()
    assert text.count(f"<td>{repo_id}</td>") == 1  # two sources, two revisions: one row
    row = text.split(f"<td>{repo_id}</td>")[1].split("</tr>")[0]
    assert f"{bundle}<br><small>also in {latest.cache_dir}</small>" in row
    assert "1 of 2" in row and first[:12] in row and second[:12] in row
