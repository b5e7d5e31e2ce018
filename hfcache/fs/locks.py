"""Is a download holding huggingface_hub's lock on a file right now? Asked without taking it.

huggingface_hub takes ``<cache>/.locks/<repo folder>/<etag>.lock`` (``filelock``, an ``flock``)
while it writes a blob. The doctor leaves a partial download alone while that lock is held, and
the mirror does not serve a blob being written.
"""

from __future__ import annotations

import os

try:
    import fcntl
except ImportError:  # Windows: no flock; a partial download is then always reported
    fcntl = None  # type: ignore[assignment]


def is_held(lock: str) -> bool:
    """Is a download holding this huggingface_hub lock right now? Opens read-only; creates nothing."""
    if fcntl is None:
        return False
    try:
        fd = os.open(lock, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
    except OSError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        return True
    else:
        fcntl.flock(fd, fcntl.LOCK_UN)
        return False
    finally:
        os.close(fd)
