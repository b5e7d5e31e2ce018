"""Print the table of huggingface_hub's own cache layouts: the client's verdict and hfcache's.

The rows are ``tests/client_layouts.py``'s ``LAYOUTS``, the same ones ``tests/test_client_layouts.py``
checks: each layout, the huggingface_hub 2.4.0 test that builds it, what the client says of it
(``scan_cache_dir``'s repos and warnings, offline ``hf_hub_download`` of each probed file:
``y`` right bytes, ``w`` other bytes, ``n`` refused) and hfcache's target verdict before and after
``doctor --fix``.  Nothing is built or measured here; the test suite does that.

    python benchmarks/client_layouts_table.py > layouts.md
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from client_layouts import markdown


def main() -> None:
    print(markdown())


if __name__ == "__main__":
    main()
