"""One truth about a copied cache, across huggingface_hub releases: a table, run by hand.

For each huggingface_hub release below, in its own virtual environment under ``--venvs``
(default ``/tmp/hfcache-matrix``; created with pip on first use, with this checkout installed
editable, so a rerun sees the checkout as it is now), a worker in that venv:

1. serves the sharded test model (``tests/builders.py``) from the stand-in hub and downloads it
   with that release's own ``snapshot_download`` (the cache exactly as that client writes it:
   with a tree listing only where the client writes one);
2. copies the cache each way of ``tests/copies.py`` (real ``rsync -r``, a Windows zip unpacked
   by real ``unzip``, real ``cp -rL``, the client's own no-symlink download);
3. asks the client, offline, whether the copy loads (``tests/checks.py:client_loads``:
   huggingface_hub's ``snapshot_download``/``hf_hub_download`` with ``local_files_only``, the
   config, tokenizer, index and safetensors headers read; transformers is not installed in
   these venvs), then runs the real ``hfcache doctor``, ``inspect``, ``fit`` and ``pack``, and
   ``hfcache doctor <snapshot> --fix`` followed by the client once more.

One row per (release, copy).  Columns: ``loads`` the client's verdict; ``doctor`` exit code and
error/warning/info counts; ``inspect`` exit code and finding count (``clean`` marks exit 0 with
no finding); ``fit`` exit code and verdict (or the error code of an exit 2); ``pack`` exit code;
``delete`` how many doctor findings advise deleting or pruning the only copy of a file of the
revision; ``fixed`` whether the client loads after ``doctor <snapshot> --fix``, with doctor's exit
code on the cache afterwards.  Needs network access to PyPI for the first run, rsync and unzip.

    python3 benchmarks/one_truth_matrix.py                  # all four releases
    python3 benchmarks/one_truth_matrix.py --only 0.20.3 2.4.0
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent

# release -> pip constraints: CI's file where a CI job pins that release, so the venv is the job's.
RELEASES: dict[str, str | Path] = {
    "0.20.3": ROOT / ".ci" / "constraints-floors.txt",
    "0.36": ROOT / ".ci" / "constraints-transformers.txt",
    "1.33": ROOT / ".ci" / "constraints-hub1.txt",
    "2.4.0": "huggingface_hub==2.4.0\n",
}
COLUMNS = [
    ("hub", 8), ("listing", 7), ("copy", 19), ("loads", 5), ("doctor e/w/i", 13), ("inspect", 12),
    ("fit", 22), ("pack", 4), ("delete", 6), ("fixed", 10),
]  # fmt: skip


def venv_python(venvs: Path, release: str) -> Path:
    """The venv of ``release``, made on first use: this checkout (editable) and pytest, with the
    release pinned by its constraints."""
    venv = venvs / f"hub-{release}"
    python = venv / "bin" / "python"
    if python.exists() and _imports_this_checkout(python):
        return python
    constraints = RELEASES[release]
    if isinstance(constraints, str):
        venvs.mkdir(parents=True, exist_ok=True)
        path = venvs / f"constraints-{release}.txt"
        path.write_text(constraints)
        constraints = path
    print(f"# creating {venv} (huggingface_hub {release})", file=sys.stderr, flush=True)
    if not python.exists():
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    pip = [str(python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check", "--no-input"]
    subprocess.run([*pip, "-c", str(constraints), "-e", str(ROOT), "pytest"], check=True)
    return python


def _imports_this_checkout(python: Path) -> bool:
    """Does the venv's editable hfcache lead here (not to a checkout since moved or removed)?"""
    probe = "import hfcache, os; print(os.path.dirname(os.path.dirname(hfcache.__file__)))"
    done = subprocess.run([str(python), "-c", probe], capture_output=True, text=True, cwd="/")
    return done.returncode == 0 and Path(done.stdout.strip()).resolve() == ROOT


def run_worker(python: Path) -> list[dict[str, Any]]:
    with tempfile.NamedTemporaryFile(suffix=".json") as out:
        subprocess.run([str(python), __file__, "--worker", out.name], check=True, cwd=ROOT)
        return list(json.loads(Path(out.name).read_text()))


def row(cells: list[str]) -> str:
    return "  ".join(str(c).ljust(w) for c, (_, w) in zip(cells, COLUMNS, strict=True)).rstrip()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--venvs", type=Path, default=Path("/tmp/hfcache-matrix"))
    parser.add_argument("--only", nargs="+", choices=list(RELEASES), default=list(RELEASES))
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        return worker(Path(args.worker))
    start = time.monotonic()
    print(row([name for name, _ in COLUMNS]))
    print(row(["-" * w for _, w in COLUMNS]))
    for release in args.only:
        for r in run_worker(venv_python(args.venvs, release)):
            print(row([r[name] for name, _ in COLUMNS]), flush=True)
    print(f"# {time.monotonic() - start:.0f} s", file=sys.stderr)
    return 0


# --- the worker: runs inside a release's venv -------------------------------------------------


def worker(out: Path) -> int:
    sys.path.insert(0, str(ROOT / "tests"))
    import pytest
    from builders import (
        HAS_TREES,
        SHARDED_REPO_ID,
        VERSION,
        cache_repo,
        isolate_hf_env,
        publish_sharded_model,
    )
    from checks import client_loads, delete_advice
    from copies import COPIES, moved
    from standin_hub import StandinHub, allow_only_loopback

    def hfcache(*args: str | Path) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "hfcache", *map(str, args)], capture_output=True, text=True, timeout=300
        )

    def as_json(run: subprocess.CompletedProcess[str]) -> dict[str, Any]:
        try:
            return dict(json.loads(run.stdout))
        except json.JSONDecodeError:
            return {}

    rows = []
    with tempfile.TemporaryDirectory(prefix="one-truth-") as tmp, pytest.MonkeyPatch.context() as mp:
        work = Path(tmp)
        allow_only_loopback(mp)
        mp.setenv("HFCACHE_STATE_DIR", str(work / "state"))
        with StandinHub() as hub:
            publish_sharded_model(hub)
            isolate_hf_env(mp, work / "home", hub_cache=work / "hub", endpoint=hub.url)
            original = cache_repo(hub, work / "hub", SHARDED_REPO_ID)
            for method, copy in COPIES.items():
                c = moved(original, copy(original, work / method))
                loads, _ = client_loads(c.cache_dir, c.repo_id)
                run = hfcache("doctor", c.cache_dir, "--json")
                doc = as_json(run)
                counts = "/".join(str(doc.get("summary", {}).get(k)) for k in ("errors", "warnings", "infos"))
                inspect = hfcache("inspect", c.repo_id, "--cache-dir", c.cache_dir, "--json")
                found = as_json(inspect).get("findings")
                clean = inspect.returncode == 0 and found == []
                fit = hfcache(
                    "fit", c.repo_id, "--cache-dir", c.cache_dir, "--no-gpu", "--ram", "64GiB", "--json"
                )
                plan = as_json(fit)
                verdict = plan.get("verdict") or plan.get("error", {}).get("code", "?")
                pack = hfcache("pack", c.repo_id, "--cache-dir", c.cache_dir, "-o", work / f"{method}.tar")
                advice = delete_advice(c, doc) if doc else []
                hfcache("doctor", c.snapshot, "--fix", "--json")
                after, _ = client_loads(c.cache_dir, c.repo_id)
                again = hfcache("doctor", c.cache_dir, "--json")
                rows.append({
                    "hub": VERSION,
                    "listing": "yes" if HAS_TREES else "no",
                    "copy": method,
                    "loads": "yes" if loads else "NO",
                    "doctor e/w/i": f"{run.returncode} {counts}",
                    "inspect": f"{inspect.returncode} {'clean' if clean else len(found or [])}",
                    "fit": f"{fit.returncode} {verdict}",
                    "pack": str(pack.returncode),
                    "delete": str(len(advice)),
                    "fixed": f"{'yes' if after else 'NO'} d={again.returncode}",
                })  # fmt: skip
    out.write_text(json.dumps(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
