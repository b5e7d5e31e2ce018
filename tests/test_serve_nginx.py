"""nginx in front of the mirror, with the configuration docs/serve.md gives, run for real: a second
client's downloads are cache hits, and the bytes are exact."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import time
import urllib.request
from pathlib import Path

import pytest
from builders import CachedRepo, SilentTqdm
from huggingface_hub import snapshot_download
from mirror import free_port, request, running

DOCS = Path(__file__).resolve().parent.parent / "docs" / "serve.md"
NGINX = shutil.which("nginx") or ("/usr/sbin/nginx" if Path("/usr/sbin/nginx").exists() else None)


def _config(tmp: Path, listen: int, upstream: int) -> Path:
    """The documented block, pointed at this test's ports and folders, inside a minimal nginx.conf."""
    block = re.search(r"```nginx\n(.*?)```", DOCS.read_text(), re.S)
    assert block is not None, "docs/serve.md has no nginx configuration"
    http = block.group(1)
    http = http.replace("/var/cache/nginx/hfcache", str(tmp / "cache"))
    http = http.replace("server 127.0.0.1:8080;", f"server 127.0.0.1:{upstream};")
    http = http.replace("listen 80;", f"listen 127.0.0.1:{listen};")
    temp = " ".join(f"{k}_temp_path {tmp / k};" for k in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"))
    conf = tmp / "nginx.conf"
    user = "user root;" if os.geteuid() == 0 else ""  # workers must reach this test's private tmp dir
    conf.write_text(
        f"{user} daemon off; worker_processes 1; pid {tmp / 'nginx.pid'}; error_log {tmp / 'error.log'};\n"
        "events { worker_connections 256; }\n"
        f"http {{ access_log {tmp / 'access.log'}; {temp}\n{http}\n}}\n"
    )
    return conf


@pytest.mark.skipif(NGINX is None, reason="nginx is not installed (.ci/run installs Debian's nginx-light)")
def test_nginx_proxy_cache_in_front(fresh_cache: CachedRepo, tmp_path: Path) -> None:
    c = fresh_cache
    with running(c.cache_dir, state=tmp_path / "state") as m:
        port = free_port()
        conf = _config(tmp_path, port, int(m.url.rsplit(":", 1)[1]))
        assert NGINX is not None
        proc = subprocess.Popen(
            [NGINX, "-c", str(conf), "-p", str(tmp_path)], stderr=subprocess.PIPE, text=True
        )
        try:
            front = f"http://127.0.0.1:{port}"
            deadline = time.monotonic() + 10
            while True:
                try:
                    urllib.request.urlopen(f"{front}/healthz", timeout=2).close()
                    break
                except OSError:
                    assert time.monotonic() < deadline and proc.poll() is None, (
                        proc.stderr.read() if proc.stderr else ""
                    )
                    time.sleep(0.05)
            for client in ("first", "second"):
                snapshot_download(
                    c.repo_id, revision=c.commit, cache_dir=tmp_path / client, endpoint=front, token=False,
                    tqdm_class=SilentTqdm,
                )  # fmt: skip
                for name, data in c.files.items():
                    entry = tmp_path / client / c.repo_folder.name / "snapshots" / c.commit / name
                    assert entry.read_bytes() == data and entry.resolve().name == c.blob(name).name
            name = "model-00001-of-00002.safetensors"
            status, headers, body = request(f"{front}/{c.repo_id}/resolve/{c.commit}/{name}")
            assert status == 200 and headers["X-Cache-Status"] == "HIT" and body == c.files[name]
            assert headers["X-Linked-Etag"] == f'"{c.blob(name).name}"'
        finally:
            proc.terminate()
            proc.wait(timeout=10)
    log = (tmp_path / "access.log").read_text()
    assert log.count(f"GET /{c.repo_id}/resolve/{c.commit}/{name}") == 3  # two clients and the check above
    upstream_gets = [
        line for line in m.log().splitlines() if f"GET /{c.repo_id}/resolve/{c.commit}/{name}" in line
    ]
    assert len(upstream_gets) == 1, upstream_gets  # the rest were served from nginx's cache
