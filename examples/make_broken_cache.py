"""Rebuild ``examples/broken-cache``: a real cache, made by huggingface_hub, then broken the ways
caches break in transit. The Quick start runs ``hfcache doctor`` on it.

Run from the repository root: ``python examples/make_broken_cache.py``. It needs the test
dependencies (it reuses the stand-in Hub of the test suite) and no network.
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

import damage  # noqa: E402
from builders import cache_repo, sharded_model_files  # noqa: E402
from standin_hub import StandinHub  # noqa: E402

OUT = ROOT / "examples" / "broken-cache"


def main() -> None:
    shutil.rmtree(OUT, ignore_errors=True)
    hub_dir = OUT / "hub"
    with StandinHub() as hub:
        # No .gitattributes: git would try to read the committed copy as its own.
        files = {k: v for k, v in sharded_model_files().items() if k != ".gitattributes"}
        hub.add_commit("hfcache-demo/tiny-llama", files)
        hub.add_commit("hfcache-demo/clean-config", {"config.json": b'{"model_type": "bert"}\n'})
        broken = cache_repo(hub, hub_dir, "hfcache-demo/tiny-llama")
        cache_repo(hub, hub_dir, "hfcache-demo/clean-config")
    damage.backslash_link(broken, "config.json")
    damage.git_link_text(broken, "README.md")
    damage.lfs_pointer(broken, "model-00001-of-00002.safetensors")
    damage.drop_blob(broken, "model-00002-of-00002.safetensors")
    damage.full_copy(broken, "tokenizer.json")
    damage.lnk_shortcut(broken, "sub/dir/extra.txt")
    damage.ref_with_newline(broken)
    shutil.rmtree(hub_dir / ".locks", ignore_errors=True)
    print(f"wrote {OUT}")


if __name__ == "__main__":
    main()
