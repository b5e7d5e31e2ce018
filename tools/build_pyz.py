#!/usr/bin/env python3
"""Build hfcache.pyz: hfcache and its libraries in one file that runs on a stock Python.

    python tools/build_pyz.py                 # offline, from this environment: runs on this
                                              # Python version and platform only
    python tools/build_pyz.py --release       # from the package index: CPython 3.10-3.14 on
                                              # Linux x86_64 and aarch64 (the release artifact)
    python tools/build_pyz.py --release --pip-arg=--no-index --pip-arg=--find-links=wheels/

Run it with the Python of a development environment of this checkout (pip and setuptools
installed; ``--release`` also needs the package index, or a wheel folder). It builds hfcache
from this checkout, whatever hfcache that Python has installed. Prints what it wrote on stdout
(``--json``: one JSON document) and exits 0; 1 when the build fails, with pip's last lines.
See docs/pyz.md for what the pyz holds and how it runs.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))  # this checkout's hfcache, not whichever one is installed

from hfcache.pyz.build import build_pyz  # noqa: E402
from hfcache.pyz.policy import BuildError  # noqa: E402
from hfcache.units import human_size  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("-o", "--output", default="hfcache.pyz", help="file to write (default: hfcache.pyz)")
    parser.add_argument("--release", action="store_true", help="from the package index, every platform")
    parser.add_argument("--pip-arg", action="append", default=[], help="extra argument for pip (repeatable)")
    parser.add_argument("--json", action="store_true", help="print one JSON document")
    args = parser.parse_args(argv)
    try:
        result = build_pyz(args.output, release=args.release, repo=REPO, pip_args=args.pip_arg)
    except BuildError as e:
        sys.stderr.write(f"build_pyz: error: {e}\n")
        return 1
    if args.json:
        sys.stdout.write(json.dumps(result.to_json(), indent=2) + "\n")
        return 0
    info = result.info
    print(f"wrote {result.path}: {human_size(result.size)} ({result.size} bytes), {result.entries} entries")
    print(f"sha256 {result.sha256}")
    print(f"hfcache {info.hfcache_version}, {len(info.distributions)} libraries; runs on {info.platforms()}")
    print(f"compiled, per platform: {', '.join(info.native_dists) or 'nothing'}")
    print(f"pure-Python, C speed-ups left out: {', '.join(info.pure_fallbacks) or 'none'}")
    print(f"left out: {', '.join(info.left_out) or 'nothing'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
