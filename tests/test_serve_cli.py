"""``hfcache serve`` at the command line: bad options are one line and exit 2 (checked by the
library, before any source is read), ``--port 0`` says the port it really took, and ``--help``
shows plain metavars and the exit codes docs/serve.md documents."""

from __future__ import annotations

import json
import re
import urllib.request
from pathlib import Path

import pytest
from builders import CachedRepo
from mirror import running
from test_cli import hfcache

from hfcache.errors import BadInputError
from hfcache.serve import Started, build, check_port, check_public_url, serve
from hfcache.serve.server import Settings

DOCS = Path(__file__).resolve().parent.parent / "docs" / "serve.md"


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (("--port", "99999"), "--port 99999 is not a port"),
        (("--port", "-1"), "--port -1 is not a port"),
        (("--port", "65536"), "--port 65536 is not a port"),
        (("--public-url", "ftp://mirror.lan"), "http:// or https://"),
        (("--public-url", "mirror.lan:8080"), "http:// or https://"),
        (("--public-url", "http://"), "http:// or https://"),
        (("--public-url", "http://mirror.lan:port"), "http:// or https://"),
        (("--public-url", "http://user:secret@mirror.lan"), "user or password"),
        (("--public-url", "http://user:secret@mirror.lan:port/"), "http:// or https://"),
        (("--public-url", "http://mirror.lan/?x=1"), "query"),
    ],
)
def test_bad_options_are_one_line_and_exit_2(args: tuple[str, ...], says: str, tmp_path: Path) -> None:
    run = hfcache("serve", "/no/such/cache", *args)  # the option is judged before the source is read
    assert run.returncode == 2, run.stderr
    assert run.stdout == "" and "Traceback" not in run.stderr
    (line,) = run.stderr.splitlines()
    assert line.startswith("hfcache: error: ") and says in line
    assert "secret" not in run.stderr  # a password given by mistake is never echoed
    doc = json.loads(hfcache("serve", *args, "--json").stdout)
    assert doc["error"]["code"] == "bad-input" and says in doc["error"]["message"]


def test_the_library_checks_options_too(tmp_path: Path) -> None:
    assert check_port(0) == 0 and check_port(65535) == 65535
    assert check_public_url("https://mirror.lan:8443/") == "https://mirror.lan:8443"
    assert check_public_url("http://[::1]:8080") == "http://[::1]:8080"
    with pytest.raises(BadInputError, match="not a port"):
        serve(["/no/such/cache"], port=70000)
    with pytest.raises(BadInputError, match="--public-url"):
        serve(["/no/such/cache"], public_url="file:///etc")
    with pytest.raises(BadInputError, match="--public-url"):
        build([str(tmp_path)], settings=Settings(public_url="javascript:alert(1)"))


def test_started_is_a_result() -> None:
    s = Started("http://127.0.0.1:8080", "127.0.0.1", 8080, ("/data/hf",), 3)
    assert s.exit_code == 0 and s.loopback_only
    assert s.to_json() == {
        "url": "http://127.0.0.1:8080",
        "host": "127.0.0.1",
        "port": 8080,
        "sources": ["/data/hf"],
        "repos": 3,
        "client_settings": s.client_settings,
    }
    assert s.client_settings[0] == "HF_ENDPOINT=http://127.0.0.1:8080"


def test_port_0_says_the_port_it_listens_on(fresh_cache: CachedRepo, tmp_path: Path) -> None:
    with running(fresh_cache.cache_dir, state=tmp_path / "state", port=0) as m:
        port = m.started["port"]
        assert isinstance(port, int) and port > 0
        assert m.started["url"] == f"http://127.0.0.1:{port}" == m.url
        assert f"HF_ENDPOINT=http://127.0.0.1:{port}" in m.started["client_settings"]  # type: ignore[operator]
        with urllib.request.urlopen(f"{m.url}/") as r:
            assert f"HF_ENDPOINT=http://127.0.0.1:{port}" in r.read().decode()  # the page too


def test_help_metavars_and_exit_codes_match_the_docs() -> None:
    text = hfcache("serve", "--help", env={"COLUMNS": "100"}).stdout
    for option in (
        "--host ADDRESS",
        "--port PORT",
        "--public-url URL",
        "--token-file FILE",
        "--state-dir DIR",
    ):
        assert option in text
    assert not re.search(r"--[a-z-]+ [A-Z]+_[A-Z]+", text)  # no PUBLIC_URL, TOKEN_FILE
    said = " ".join(text.split("Exit codes:")[1].split("Arguments:")[0].split())
    in_help = [int(n) for n in re.findall(r"(?:^|, )(\d+) ", said)]
    table = DOCS.read_text().split("## Exit codes")[1].split("##")[0]
    in_docs = [int(n) for n in re.findall(r"^\| (\d+) \|", table, flags=re.MULTILINE)]
    assert in_help == in_docs == [0, 1, 2]
