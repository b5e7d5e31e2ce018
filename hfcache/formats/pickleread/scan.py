"""Scan one pickle: the entry point that wires the byte source, the machine and the opcode tables.

Whatever the input, :func:`scan_pickle` returns a :class:`PickleScan` and never raises for bad
input: what stopped the scan is its ``error``, and a pickle framed so that readers disagree is
``ambiguous`` (see :mod:`hfcache.formats.pickleread`).
"""

from __future__ import annotations

import io
from typing import BinaryIO

from hfcache.formats.pickleread import build_ops, literal_ops
from hfcache.formats.pickleread.machine import Handler, Machine
from hfcache.formats.pickleread.source import MAX_PICKLE_BYTES, Ambiguous, Bad, Source
from hfcache.formats.pickleread.values import PickleScan

HANDLERS: dict[int, Handler] = {**literal_ops.HANDLERS, **build_ops.HANDLERS}
"""Every opcode the machine runs (``STOP`` aside, which it handles itself)."""


def scan_pickle(data: bytes | BinaryIO, *, limit: int = MAX_PICKLE_BYTES) -> PickleScan:
    """Follow one pickle; never raises for bad input (``error`` says what was wrong).

    Given a stream, it reads from where the stream stands and stops right after the pickle's
    STOP, where a next pickle may begin. At most ``limit`` bytes are read.
    """
    out = PickleScan()
    f: BinaryIO = io.BytesIO(data) if isinstance(data, bytes) else data
    src = Source(f, limit)
    machine = Machine(src, out, HANDLERS)
    try:
        out.value = machine.run()
    except Ambiguous as e:
        out.error = f"readers disagree on what this pickle runs: {e}"
        out.ambiguous = True
    except Bad as e:
        out.error = f"cannot follow the pickle: {e}"
    except (OSError, MemoryError, OverflowError, ValueError) as e:
        out.error = f"cannot follow the pickle: {type(e).__name__}"
    out.end = src.pos
    return out
