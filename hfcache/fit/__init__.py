"""``hfcache fit``: will a cached checkpoint load on this machine, and with which arguments.

:func:`detect_hardware` probes the GPUs, RAM and disk (or takes them as given);
:func:`estimate` is pure: from an :class:`~hfcache.inspect.Inspection` (exact tensor bytes from
the headers, config facts) and a :class:`Hardware`, it returns a :class:`FitPlan` with a verdict,
bytes per device, and the ``from_pretrained`` keyword arguments and ``vllm serve`` flags to use.
"""

from __future__ import annotations

from hfcache.fit.estimate import estimate
from hfcache.fit.hardware import Gpu, Hardware, detect_hardware
from hfcache.fit.kvcache import KvCache, kv_cache
from hfcache.fit.plan import VERDICTS, DevicePlan, FitPlan

__all__ = [
    "VERDICTS", "DevicePlan", "FitPlan", "Gpu", "Hardware", "KvCache", "detect_hardware", "estimate",
    "kv_cache",
]  # fmt: skip
