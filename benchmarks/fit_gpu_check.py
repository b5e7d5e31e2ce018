"""Predicted against measured: load cached models with the kwargs ``hfcache fit --json`` prints.

Not a test (it needs a CUDA GPU, torch, transformers and accelerate). For each model: run
``hfcache fit MODEL --json --context N``, load with its kwargs, then read
``torch.cuda.max_memory_allocated()`` after loading and after one forward pass of ``N`` tokens
(``logits_to_keep=1`` where the model takes it, as ``generate`` does), and print the plan's GPU 0
bytes beside them. Use models the plan puts wholly on one GPU for a like-for-like reading.

    python benchmarks/fit_gpu_check.py Qwen/Qwen2.5-0.5B HuggingFaceTB/SmolLM2-360M --context 2048
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from typing import Any


def _plan(model: str, context: int, extra: list[str]) -> dict[str, Any]:
    run = subprocess.run(
        [sys.executable, "-m", "hfcache", "fit", model, "--json", "--context", str(context), *extra],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    doc: dict[str, Any] = json.loads(run.stdout)
    if "error" in doc:
        raise SystemExit(f"{model}: {doc['error']['message']}")
    return doc


def _measure(plan: dict[str, Any], context: int) -> tuple[int, int]:
    import torch
    import transformers

    kwargs = dict(plan["kwargs"])
    if "max_memory" in kwargs:
        kwargs["max_memory"] = {int(k) if k.isdigit() else k: v for k, v in kwargs["max_memory"].items()}
    if "quantization_config" in kwargs:
        kwargs["quantization_config"] = transformers.BitsAndBytesConfig(**kwargs["quantization_config"])
    torch.cuda.empty_cache()
    torch.cuda.reset_peak_memory_stats(0)
    model = getattr(transformers, plan["auto_class"]).from_pretrained(plan["model"], **kwargs)
    loaded = torch.cuda.max_memory_allocated(0)
    ids = torch.randint(
        0, int(model.config.get_text_config().vocab_size), (plan["batch"], context), device="cuda:0"
    )
    with torch.no_grad():
        try:
            model(input_ids=ids, use_cache=True, logits_to_keep=1)
        except TypeError:  # a model without logits_to_keep
            model(input_ids=ids, use_cache=True)
    peak = torch.cuda.max_memory_allocated(0)
    del model
    torch.cuda.empty_cache()
    return loaded, peak


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("models", nargs="+", help="repo ids in the local cache, or model folders")
    parser.add_argument("--context", type=int, default=2048, help="tokens per forward pass")
    parser.add_argument("--fit-arg", action="append", default=[], help="passed to hfcache fit")
    args = parser.parse_args()
    mib = 1 << 20
    print(
        f"{'model':<40} {'verdict':<22} {'pred. weights':>13} {'pred. GPU 0':>11} {'loaded':>9} {'peak':>9}"
    )
    for name in args.models:
        plan = _plan(name, args.context, args.fit_arg)
        gpu0 = next((d for d in plan["per_device"] if d["device"] == 0), None)
        if gpu0 is None:
            print(f"{name:<40} {plan['verdict']:<22} nothing planned on GPU 0")
            continue
        loaded, peak = _measure(plan, args.context)
        print(
            f"{name:<40} {plan['verdict']:<22} {gpu0['weights'] // mib:>10}MiB {gpu0['total'] // mib:>8}MiB "
            f"{loaded // mib:>6}MiB {peak // mib:>6}MiB"
        )


if __name__ == "__main__":
    main()
