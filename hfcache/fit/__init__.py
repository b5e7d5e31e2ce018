"""``hfcache fit``: will a cached checkpoint load on this machine, and with which arguments.

:func:`fit_target` is the whole command as one call: it returns a :class:`FitResult` (a plan,
or the reason there is none). Its parts: :func:`detect_hardware` probes the GPUs, RAM and disk
(or takes them as given); :func:`estimate` is pure: from an :class:`~hfcache.inspect.Inspection`
(exact tensor bytes from the headers, config facts) and a :class:`Hardware`, it returns a
:class:`FitPlan` with a verdict, bytes per device, and the ``from_pretrained`` keyword arguments
and ``vllm serve`` flags to use.
"""

from __future__ import annotations

from hfcache.fit.estimate import estimate
from hfcache.fit.gpus import Gpu
from hfcache.fit.hardware import Hardware, detect_hardware
from hfcache.fit.kvcache import KvCache, kv_cache
from hfcache.fit.plan import VERDICTS, DevicePlan, FitPlan
from hfcache.fit.result import NO_PLAN, Checkpoint, FitResult, NoPlan
from hfcache.fit.target import fit_target

__all__ = [
    "NO_PLAN", "VERDICTS", "Checkpoint", "DevicePlan", "FitPlan", "FitResult", "Gpu", "Hardware", "KvCache",
    "NoPlan", "detect_hardware", "estimate", "fit_target", "kv_cache",
]  # fmt: skip
