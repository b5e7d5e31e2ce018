"""``fit_target``: the one call behind ``hfcache fit``, from a target name to a :class:`FitResult`.

It reads the checkpoint (:func:`hfcache.inspect.inspect_target`), refuses to plan for a
revision the doctor finds broken, looks at the machine or takes it as described
(:func:`detect_hardware`), chooses where disk offload would go, and plans (:func:`estimate`).
Everything a command line would decide is decided here, so a script calling it gets what
``hfcache fit`` prints.
"""

from __future__ import annotations

import os
import shlex
from collections.abc import Mapping, Sequence

from hfcache.doctor.hints import repair_command
from hfcache.errors import BadInputError
from hfcache.findings import Severity
from hfcache.fit.estimate import estimate
from hfcache.fit.hardware import detect_hardware
from hfcache.fit.result import Checkpoint, FitResult, NoPlan
from hfcache.fit.sizes import GivenSize, given_size
from hfcache.inspect import inspect_target
from hfcache.inspect.target import Target


def offload_folder(target: Target) -> str:
    """Where disk offload would go: ``offload`` beside the hub cache a repo is in, else
    ``./offload`` (the current folder), so the disk measured is the one that would fill."""
    if target.cache_dir is None:
        return os.path.abspath("offload")
    return os.path.join(os.path.dirname(os.path.abspath(target.cache_dir)), "offload")


def broken(target: Target) -> NoPlan | None:
    """No plan for a revision the doctor finds broken: it would not load as it stands. The reason,
    the doctor's errors, and the doctor run that repairs them (or lists what to download)."""
    judged = target.judged
    if judged is None or not judged.errors:
        return None
    errors = judged.errors
    fixes = [f.fix for f in judged.findings if f.fix is not None and f.severity is not Severity.INFO]
    if fixes:
        command = repair_command(target.path, verify=any(a.needs_verify for a in fixes))
    else:
        command = f"hfcache doctor {shlex.quote(target.path)}"
    what = f"{judged.repo_id} at {judged.commit[:8]}" if target.kind == "repo" else target.path
    reason = f"the doctor finds {len(errors)} error(s) in {what}: it would not load as it stands"
    return NoPlan(reason, errors, command)


def _size(option: str, value: str | int | None) -> GivenSize | None:
    return None if value is None else given_size(option, value)


def fit_target(
    target: str,
    *,
    revision: str | None = None,
    cache_dir: str | None = None,
    gpus: Sequence[str | int] = (),
    no_gpu: bool = False,
    ram: str | int | None = None,
    disk: str | int | None = None,
    context: int | None = None,
    batch: int = 1,
    dtype: str = "auto",
    environ: Mapping[str, str] | None = None,
) -> FitResult:
    """Will ``target`` (a repo id in the cache, a folder or a file) load on this machine, and how.

    ``gpus``, ``ram`` and ``disk`` describe another machine instead of detecting this one: sizes
    as text with a unit (``"24GiB"``, ``"80GB"``; :func:`hfcache.fit.sizes.given_size`) or bytes
    as ints; ``no_gpu`` plans for none. ``environ`` (default
    ``os.environ``) is read for ``CUDA_VISIBLE_DEVICES``. Raises :class:`BadInputError` for a
    target that is not there or an option it cannot use.
    """
    if gpus and no_gpu:
        raise BadInputError("--gpu and --no-gpu contradict each other")
    sizes = [given_size("--gpu", g) for g in gpus]
    ram_bytes, disk_bytes = _size("--ram", ram), _size("--disk", disk)
    inspection = inspect_target(target, revision=revision, cache_dir=cache_dir)
    refused = broken(inspection.target)
    if refused is not None:
        return FitResult(target, Checkpoint.of(inspection.target), None, None, refused)
    hardware = detect_hardware(
        gpus=sizes,
        no_gpu=no_gpu,
        ram=ram_bytes,
        disk=disk_bytes,
        offload_folder=offload_folder(inspection.target),
        environ=environ,
    )
    plan = estimate(inspection, hardware, context=context, batch=batch, dtype=dtype)
    return FitResult(target, Checkpoint.of(inspection.target), hardware, plan)
