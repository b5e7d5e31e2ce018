"""The libraries people load models and data with, through the mirror: transformers and datasets.

Each runs in its own process with ``HF_ENDPOINT`` set before import, as on a GPU server; both
are optional test dependencies (skipped where not installed).
"""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from builders import cache_repo
from mirror import running
from standin_hub import StandinHub

TOKENIZER = {
    "version": "1.0",
    "truncation": None,
    "padding": None,
    "added_tokens": [{"id": 0, "content": "[UNK]", "single_word": False, "lstrip": False, "rstrip": False,
                      "normalized": False, "special": True}],
    "normalizer": None,
    "pre_tokenizer": {"type": "Whitespace"},
    "post_processor": None,
    "decoder": None,
    "model": {"type": "WordLevel", "vocab": {"[UNK]": 0, "hello": 1, "mirror": 2}, "unk_token": "[UNK]"},
}  # fmt: skip


def _client(code: str, url: str, home: Path, *, offline: bool = False) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "HF_ENDPOINT": url,
        "HF_HOME": str(home),
        "HF_HUB_CACHE": str(home / "hub"),
        "HF_HUB_DISABLE_XET": "1",
        "DISABLE_SAFETENSORS_CONVERSION": "1",
        "HF_HUB_DISABLE_TELEMETRY": "1",
        "HF_DATASETS_CACHE": str(home / "datasets"),
    }
    for name in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", "HF_DATASETS_OFFLINE", "HF_TOKEN"):
        env.pop(name, None)
    if offline:
        env["HF_HUB_OFFLINE"] = "1"
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=300)


def test_transformers_config_and_tokenizer(hub: StandinHub, tmp_path: Path, hf_env: Path) -> None:
    pytest.importorskip("transformers")
    pytest.importorskip("tokenizers")
    repo_id = hub.unique_repo_id("acme/bert")
    config = {"architectures": ["BertModel"], "model_type": "bert", "hidden_size": 8, "num_hidden_layers": 1,
              "num_attention_heads": 2, "intermediate_size": 16, "vocab_size": 3}  # fmt: skip
    files = {
        "config.json": json.dumps(config).encode(),
        "tokenizer.json": json.dumps(TOKENIZER).encode(),
        "tokenizer_config.json": json.dumps({"tokenizer_class": "PreTrainedTokenizerFast"}).encode(),
    }
    hub.add_commit(repo_id, files)
    cache_repo(hub, tmp_path / "served", repo_id)
    code = (
        "from transformers import AutoConfig, AutoTokenizer\n"
        f"c = AutoConfig.from_pretrained({repo_id!r})\n"
        f"t = AutoTokenizer.from_pretrained({repo_id!r})\n"
        "print(c.model_type, c.hidden_size, t('hello mirror')['input_ids'])\n"
    )
    with running(tmp_path / "served", state=tmp_path / "state") as m:
        run = _client(code, m.url, tmp_path / "client")
    assert run.returncode == 0, run.stderr[-3000:]
    assert run.stdout.split("\n")[-2] == "bert 8 [1, 2]"


def test_datasets_load_dataset(hub: StandinHub, tmp_path: Path, hf_env: Path) -> None:
    pytest.importorskip("datasets")
    pq = pytest.importorskip("pyarrow.parquet")
    import pyarrow as pa

    repo_id = hub.unique_repo_id("acme/tiny-ds")
    files = {"README.md": b"---\nlicense: mit\n---\n# tiny\n"}
    for k in range(3):
        buf = io.BytesIO()
        pq.write_table(
            pa.table({"id": list(range(k * 10, k * 10 + 10)), "text": [f"row {i}" for i in range(10)]}), buf
        )
        files[f"data/train-{k:05d}-of-00003.parquet"] = buf.getvalue()
    hub.add_commit(repo_id, files, repo_type="dataset")
    cache_repo(hub, tmp_path / "served", repo_id, repo_type="dataset")
    code = (
        "from datasets import load_dataset\n"
        f"ds = load_dataset({repo_id!r}, split='train')\n"
        "print(len(ds), sorted(ds['id'])[:3], sorted(ds['id'])[-1])\n"
    )
    with running(tmp_path / "served", state=tmp_path / "state") as m:
        run = _client(code, m.url, tmp_path / "client")
    assert run.returncode == 0, run.stderr[-3000:]
    assert run.stdout.split("\n")[-2] == "30 [0, 1, 2] 29"


_EMBED = """
import json, torch
from transformers import AutoModel, AutoTokenizer
tok = AutoTokenizer.from_pretrained({repo!r})
model = AutoModel.from_pretrained({repo!r}).eval()
with torch.no_grad():
    out = model(**tok("hello mirror", return_tensors="pt")).last_hidden_state
print(json.dumps(out.flatten().tolist()))
"""


def test_a_real_embedding_equals_the_offline_one(hub: StandinHub, tmp_path: Path, hf_env: Path) -> None:
    """A BERT with real weights: loaded through the mirror it computes what it computes offline."""
    torch = pytest.importorskip("torch")
    transformers = pytest.importorskip("transformers")
    torch.manual_seed(0)
    config = transformers.BertConfig(
        hidden_size=16, num_hidden_layers=2, num_attention_heads=2, intermediate_size=32, vocab_size=3
    )
    saved = tmp_path / "saved"
    transformers.BertModel(config).save_pretrained(saved, safe_serialization=True)
    files = {p.name: p.read_bytes() for p in saved.iterdir() if p.is_file()}
    files["tokenizer.json"] = json.dumps(TOKENIZER).encode()
    files["tokenizer_config.json"] = json.dumps({"tokenizer_class": "PreTrainedTokenizerFast"}).encode()
    repo_id = hub.unique_repo_id("acme/tiny-bert")
    hub.add_commit(repo_id, files)
    cache_repo(hub, tmp_path / "served" / "hub", repo_id)
    code = _EMBED.format(repo=repo_id)
    offline = _client(code, "http://127.0.0.1:9", tmp_path / "served", offline=True)
    assert offline.returncode == 0, offline.stderr[-3000:]
    with running(tmp_path / "served", state=tmp_path / "state") as m:
        mirrored = _client(code, m.url, tmp_path / "client")
    assert mirrored.returncode == 0, mirrored.stderr[-3000:]
    expected = json.loads(offline.stdout.splitlines()[-1])
    assert len(expected) == 2 * 16 and json.loads(mirrored.stdout.splitlines()[-1]) == expected
