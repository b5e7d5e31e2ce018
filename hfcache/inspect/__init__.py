"""``hfcache inspect``: what a checkpoint holds and what would go wrong loading it, without torch.

Tensors (name, dtype, shape, file), totals per dtype, ``*.index.json`` consistency, tied
weights, ``quantization_config`` and architecture facts, and findings in the doctor's shape:
key prefixes from DataParallel or ``torch.compile``, pickles that import code, a missing head.
Only headers and pickle opcodes are read; nothing from a checkpoint is ever executed.
"""

from __future__ import annotations

from hfcache.inspect.checkpoint import CheckpointFile, TensorRecord
from hfcache.inspect.inspection import Inspection, inspect_target
from hfcache.inspect.keys import Tie
from hfcache.inspect.rewrite import Written

__all__ = ["CheckpointFile", "Inspection", "TensorRecord", "Tie", "Written", "inspect_target"]
