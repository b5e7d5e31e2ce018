"""hfcache: diagnose, repair and carry Hugging Face caches to offline machines.

The package is a library first: every module returns data and takes progress callbacks;
only :mod:`hfcache.cli` prints, prompts or exits.
"""

from __future__ import annotations

__version__ = "0.1.0"
