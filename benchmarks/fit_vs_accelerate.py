"""``hfcache fit``'s weight bytes against ``accelerate estimate-memory`` and what transformers allocates.

For a few models made here with transformers (an untied and a tied Llama in bf16, a BERT in fp32),
one run prints: the bytes ``hfcache fit --json`` predicts for the weights at the checkpoint's
dtype; what ``accelerate estimate-memory`` computes for that dtype (``AutoModel`` in fp32 on the
meta device, then divided; run on the local config, since the command needs the Hub's API);
and the bytes of the parameters and buffers transformers really allocates when it loads the model
with the kwargs fit printed (``model.get_memory_footprint()``, CPU). The KV-cache and GPU figures
need a GPU: see ``fit_gpu_check.py``.

    python benchmarks/fit_vs_accelerate.py            # needs torch, transformers, accelerate
"""

from __future__ import annotations

import hashlib
import json
import os
import socket
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

COMMIT = "0" * 39 + "1"
_UNITS = ["bytes", "KB", "MB", "GB", "TB"]


def _git_sha1(data: bytes) -> str:
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


def _models(root: Path) -> dict[str, tuple[str, str]]:
    """Save the models with transformers; repo id -> (folder, dtype)."""
    import torch
    import transformers

    torch.manual_seed(0)
    llama = dict(hidden_size=512, intermediate_size=1408, num_hidden_layers=4, num_attention_heads=8,
                 num_key_value_heads=2, vocab_size=32000, max_position_embeddings=2048)  # fmt: skip
    llama_cfg = transformers.LlamaConfig
    bert_cfg = transformers.BertConfig(
        hidden_size=256, num_hidden_layers=4, num_attention_heads=4, intermediate_size=1024
    )
    made = {
        "bench/llama-untied": (
            transformers.LlamaForCausalLM(llama_cfg(**llama, tie_word_embeddings=False)),
            "bfloat16",
        ),
        "bench/llama-tied": (
            transformers.LlamaForCausalLM(llama_cfg(**llama, tie_word_embeddings=True)),
            "bfloat16",
        ),
        "bench/bert": (transformers.BertForMaskedLM(bert_cfg), "float32"),
    }
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


def _accelerate(folder: str, dtype: str) -> int:
    """What ``accelerate estimate-memory`` computes, on the local config.

    The command itself refuses a local path and, offline, calls every repo "gated" (it asks the
    Hub's API for the model's metadata first), so its computation is run here as it runs there
    (``commands/estimate.py``): ``AutoModel.from_config`` in fp32 on the meta device,
    ``calculate_maximum_sizes``, and the fp32 total divided by 2 for 16-bit dtypes.
    """
    code = (
        "import torch, transformers\n"
        "from accelerate import init_empty_weights\n"
        "from accelerate.utils import calculate_maximum_sizes\n"
        f"config = transformers.AutoConfig.from_pretrained({folder!r})\n"
        "with init_empty_weights():\n"
        "    model = transformers.AutoModel.from_config(config, dtype=torch.float32)\n"
        "print(calculate_maximum_sizes(model)[0])\n"
    )
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    fp32 = int(run.stdout.split()[-1])
    return fp32 // 2 if dtype in ("bfloat16", "float16") else fp32


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
        print(
            "| model | dtype | hfcache fit (/ allocated) | accelerate's estimate (/ allocated) "
            "| transformers allocates |"
        )
        print("| --- | --- | ---: | ---: | ---: |")
        for repo_id, (folder, dtype) in models.items():
            fit = subprocess.run(
                [sys.executable, "-m", "hfcache", "fit", repo_id, "--cache-dir", str(hub), "--no-gpu",
                 "--ram", "64GiB", "--json"],
                capture_output=True, text=True, check=False,
            )  # fmt: skip
            plan = json.loads(fit.stdout)
            acc = _accelerate(folder, dtype)
            real = _measured(folder, plan["kwargs"], plan["auto_class"])
            fit_ratio, acc_ratio = plan["weights_bytes"] / real, acc / real
            print(
                f"| {repo_id} | {dtype} | {plan['weights_bytes']:,} ({fit_ratio:.3f}) "
                f"| {acc:,} ({acc_ratio:.3f}) | {real:,} |"
            )


if __name__ == "__main__":
    main()
