"""``hfcache fit``'s weight bytes against ``accelerate estimate-memory`` and what transformers allocates.

For a few models made here with transformers (an untied and a tied Llama in bf16, a BERT in fp32),
one run prints: the bytes ``hfcache fit --json`` predicts for the weights at the checkpoint's
dtype; what ``accelerate estimate-memory`` prints for that dtype (it needs the Hub API, so it
talks to ``hfcache serve`` over ``HF_ENDPOINT``; it builds ``AutoModel`` in fp32 and divides);
and the bytes of the parameters and buffers transformers really allocates when it loads the model
with the kwargs fit printed (``model.get_memory_footprint()``, CPU). The KV-cache and GPU figures
need a GPU: see ``fit_gpu_check.py``.

    python benchmarks/fit_vs_accelerate.py            # needs torch, transformers, accelerate
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

COMMIT = "0" * 39 + "1"
_UNITS = ["bytes", "KB", "MB", "GB", "TB"]


def _git_sha1(data: bytes) -> str:
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()  # noqa: S324 - git's blob id


def _models(root: Path) -> dict[str, tuple[str, str]]:
    """Save the models with transformers; repo id -> (folder, dtype)."""
    import torch
    import transformers

    torch.manual_seed(0)
    llama = dict(hidden_size=512, intermediate_size=1408, num_hidden_layers=4, num_attention_heads=8,
                 num_key_value_heads=2, vocab_size=32000, max_position_embeddings=2048)  # fmt: skip
    made = {
        "bench/llama-untied": (transformers.LlamaForCausalLM(transformers.LlamaConfig(**llama, tie_word_embeddings=False)), "bfloat16"),
        "bench/llama-tied": (transformers.LlamaForCausalLM(transformers.LlamaConfig(**llama, tie_word_embeddings=True)), "bfloat16"),
        "bench/bert": (transformers.BertForMaskedLM(transformers.BertConfig(hidden_size=256, num_hidden_layers=4, num_attention_heads=4, intermediate_size=1024)), "float32"),
    }  # fmt: skip
    out = {}
    for repo_id, (model, dtype) in made.items():
        folder = root / repo_id.replace("/", "--")
        model.to(getattr(torch, dtype)).save_pretrained(folder, safe_serialization=True)
        out[repo_id] = (str(folder), dtype)
    return out


def _cache(hub: Path, repo_id: str, folder: str) -> None:
    """Lay the saved files out as huggingface_hub's cache does (blobs, a snapshot, refs/main)."""
    repo = hub / ("models--" + repo_id.replace("/", "--"))
    for sub in ("blobs", "refs", f"snapshots/{COMMIT}"):
        (repo / sub).mkdir(parents=True, exist_ok=True)
    for path in Path(folder).iterdir():
        data = path.read_bytes()
        etag = hashlib.sha256(data).hexdigest() if path.suffix == ".safetensors" else _git_sha1(data)
        (repo / "blobs" / etag).write_bytes(data)
        os.symlink(f"../../blobs/{etag}", repo / "snapshots" / COMMIT / path.name)
    (repo / "refs" / "main").write_text(COMMIT)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _accelerate(repo_id: str, dtype: str, env: dict[str, str]) -> float | None:
    """accelerate's 'Total Size' for ``dtype`` (its float16 row for bf16 checkpoints), in bytes."""
    run = subprocess.run(
        [sys.executable, "-m", "accelerate.commands.accelerate_cli", "estimate-memory", repo_id,
         "--dtypes", "float32", "float16"],
        capture_output=True, text=True, env=env, check=False,
    )  # fmt: skip
    want = "float16" if dtype in ("bfloat16", "float16") else "float32"
    for line in run.stdout.splitlines():
        cells = [c.strip() for c in line.strip("│|").split("│" if "│" in line else "|")]
        if cells and cells[0] == want and len(cells) >= 3:
            match = re.match(r"([\d.]+)\s*(bytes|KB|MB|GB|TB)", cells[2])
            if match:  # accelerate's convert_bytes: powers of 1024, labelled KB, MB, GB
                return float(match.group(1)) * 1024 ** _UNITS.index(match.group(2))
    print(f"accelerate on {repo_id}: {run.stdout[-400:]} {run.stderr[-400:]}", file=sys.stderr)
    return None


def _measured(folder: str, kwargs: dict[str, Any], auto: str) -> int:
    code = (
        "import json, sys, transformers\n"
        f"m = getattr(transformers, {auto!r}).from_pretrained({folder!r}, **json.loads(sys.argv[1]))\n"
        "print(m.get_memory_footprint())\n"
    )
    run = subprocess.run(
        [sys.executable, "-c", code, json.dumps(kwargs)], capture_output=True, text=True, check=True
    )
    return int(run.stdout.split()[-1])


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        models = _models(root / "saved")
        hub = root / "hf" / "hub"
        for repo_id, (folder, _) in models.items():
            _cache(hub, repo_id, folder)
        port = _free_port()
        server = subprocess.Popen(
            [sys.executable, "-m", "hfcache", "serve", str(hub), "--port", str(port)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        try:
            time.sleep(2)
            env = {**os.environ, "HF_ENDPOINT": f"http://127.0.0.1:{port}", "HF_HOME": str(root / "client")}
            print(
                "| model | dtype | hfcache fit weights_bytes | accelerate estimate-memory | transformers allocates | fit / allocated |"
            )
            print("| --- | --- | ---: | ---: | ---: | ---: |")
            for repo_id, (folder, dtype) in models.items():
                fit = subprocess.run(
                    [sys.executable, "-m", "hfcache", "fit", repo_id, "--cache-dir", str(hub), "--no-gpu",
                     "--ram", "64GiB", "--json"],
                    capture_output=True, text=True, check=False,
                )  # fmt: skip
                plan = json.loads(fit.stdout)
                acc = _accelerate(repo_id, dtype, env)
                real = _measured(folder, plan["kwargs"], plan["auto_class"])
                shown = f"{acc:,.0f}" if acc is not None else "n/a"
                ratio = plan["weights_bytes"] / real
                print(
                    f"| {repo_id} | {dtype} | {plan['weights_bytes']:,} | {shown} | {real:,} | {ratio:.3f} |"
                )
        finally:
            server.terminate()
            server.wait()


if __name__ == "__main__":
    main()
