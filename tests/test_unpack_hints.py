"""What unpack tells the admin works when pasted: each printed line is run as printed, offline,
by the real libraries (transformers, datasets) in a process of its own."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from builders import cache_repo
from standin_hub import StandinHub
from test_cli import hfcache


def _tiny_bert(tmp_path: Path, seed: int) -> dict[str, bytes]:
    torch = pytest.importorskip("torch")
    transformers = pytest.importorskip("transformers")
    torch.manual_seed(seed)
    config = transformers.BertConfig(
        hidden_size=16, num_hidden_layers=1, num_attention_heads=2, intermediate_size=32, vocab_size=8
    )
    saved = tmp_path / f"saved-{seed}"
    transformers.BertModel(config).save_pretrained(saved, safe_serialization=True)
    return {p.name: p.read_bytes() for p in saved.iterdir() if p.is_file()}


def _tiny_dataset() -> dict[str, bytes]:
    pq = pytest.importorskip("pyarrow.parquet")
    import pyarrow as pa

    buf = io.BytesIO()
    pq.write_table(pa.table({"id": list(range(7))}), buf)
    return {"README.md": b"# d\n", "data/train-00000-of-00001.parquet": buf.getvalue()}


def _hints(stderr: str) -> list[str]:
    lines = stderr.splitlines()
    start = next(i for i, line in enumerate(lines) if line in ("On this server, set:", "Load it with:"))
    return [line.strip() for line in lines[start + 1 :] if line.startswith("  ")]


def _run_hints(hints: list[str], home: Path) -> list[str]:
    """Run the hints: ``export`` lines set the environment, the Python lines run with their imports."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HF_", "TRANSFORMERS_"))}
    env |= {"HF_HOME": str(home / "unused"), "HF_DATASETS_CACHE": str(home / "datasets")}
    code = []
    for line in hints:
        if line.startswith("export "):
            name, value = line.removeprefix("export ").split("=", 1)
            env[name] = value
        else:
            code += [line, f"print(repr({line.rsplit('; ', 1)[-1].split(' = ')[0]}))"]
    run = subprocess.run([sys.executable, "-c", "\n".join(code)], capture_output=True, text=True, env=env)
    assert run.returncode == 0, run.stderr[-3000:]
    return run.stdout.splitlines()


def test_cache_hints_load_an_old_revision_and_a_dataset(hub: StandinHub, tmp_path: Path) -> None:
    model = hub.unique_repo_id("acme/bert")
    old = hub.add_commit(model, _tiny_bert(tmp_path, 0))
    hub.add_commit(model, _tiny_bert(tmp_path, 1))
    data = hub.unique_repo_id("acme/data")
    hub.add_commit(data, _tiny_dataset(), repo_type="dataset")
    src = tmp_path / "laptop" / "hub"
    cache_repo(hub, src, model, revision=old)
    cache_repo(hub, src, data, repo_type="dataset")
    for args in ([model, "--revision", old[:7]], [f"datasets/{data}"]):
        name = "m.tar" if args[0] == model else "d.tar"
        packed = hfcache("pack", *args, "--cache-dir", src, "-o", tmp_path / name)
        assert packed.returncode == 0, packed.stderr
    server = tmp_path / "server"
    shown = []
    for name in ("m.tar", "d.tar"):
        done = hfcache("unpack", tmp_path / name, "--cache-dir", server / "hub")
        assert done.returncode == 0, done.stderr
        hints = _hints(done.stdout)
        assert f'revision="{old[:7]}"' not in done.stdout
        shown += [h for h in hints if not h.startswith("export ")]
        printed = _run_hints(hints, server)
        assert printed and "Error" not in printed[-1]
    assert any(f'revision="{old}"' in h for h in shown)
    assert any(f'load_dataset(snapshot_download("{data}", repo_type="dataset"))' in h for h in shown)


def test_local_dir_with_two_repos_makes_one_plain_folder_each_and_a_rerun_writes_nothing(
    hub: StandinHub, tmp_path: Path
) -> None:
    model = hub.unique_repo_id("acme/bert")
    hub.add_commit(model, _tiny_bert(tmp_path, 0))
    other = hub.unique_repo_id("acme/bert")
    hub.add_commit(other, _tiny_bert(tmp_path, 2))
    src = tmp_path / "laptop" / "hub"
    cache_repo(hub, src, model)
    cache_repo(hub, src, other)
    assert hfcache("pack", model, other, "--cache-dir", src, "-o", tmp_path / "two.tar").returncode == 0
    plain = tmp_path / "models"
    first = hfcache("unpack", tmp_path / "two.tar", "--local-dir", plain)
    assert first.returncode == 0, first.stderr
    hints = _hints(first.stdout)
    assert len(hints) == 2
    for repo_id, hint in zip((model, other), hints, strict=True):
        folder = plain.joinpath(*repo_id.split("/"))
        assert f'from_pretrained("{folder}")' in hint
        assert hfcache("doctor", folder).returncode == 0
    _run_hints(hints, tmp_path)
    before = {p: (p.stat().st_ino, p.stat().st_mtime_ns) for p in plain.rglob("*") if p.is_file()}
    again = hfcache("unpack", tmp_path / "two.tar", "--local-dir", plain, "--json")
    assert again.returncode == 0, again.stderr
    installed = json.loads(again.stdout)["installed"]
    assert installed["blobs_written"] == installed["bytes_written"] == 0
    assert not installed["quarantined"]
    after = {p: (p.stat().st_ino, p.stat().st_mtime_ns) for p in plain.rglob("*") if p.is_file()}
    assert after == before
