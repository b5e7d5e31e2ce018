"""The human report of ``hfcache fit``: hardware, weights, KV cache, placement, verdict, the lines;
or, when no plan was made, why and what to run first."""

from __future__ import annotations

from hfcache.cli.output import Output
from hfcache.fit import FitPlan, FitResult, Hardware, NoPlan
from hfcache.units import human_size


def render(out: Output, result: FitResult) -> None:
    if result.plan is not None:
        _plan(out, result.plan)
    else:
        assert result.no_plan is not None
        _no_plan(out, result, result.no_plan)


def _hardware(out: Output, hw: Hardware) -> None:
    say = out.say
    src = hw.source
    gpus = ", ".join(
        f"{g.index}: {g.given} free"
        if g.given
        else f"{g.index}: {g.name} {human_size(g.free)} free of {human_size(g.total)}"
        for g in hw.gpus
    )
    ram = hw.given.get("ram") or human_size(hw.ram_available)
    disk = hw.given.get("disk") or human_size(hw.disk_free)
    say(f"GPUs ({src.get('gpus', '?')}): {gpus or 'none'}")
    say(f"RAM available ({src.get('ram', '?')}): {ram}")
    say(f"Disk free ({src.get('disk', '?')}): {disk} at {hw.offload_folder or '?'}")


def _no_plan(out: Output, result: FitResult, why: NoPlan) -> None:
    say = out.say
    c = result.checkpoint
    where = f"{c.repo_id} at {c.commit or c.revision}" if c.repo_id else c.path
    say(f"Model: {where}")
    if result.hardware is not None:
        _hardware(out, result.hardware)
    say(f"Verdict: {result.verdict}")
    say(f"  {why.reason}")
    for f in why.problems:
        say(f"  {f.code}: {f.message}")
    if why.command:
        say("")
        say(f"Fix it first: {why.command}")


def _plan(out: Output, plan: FitPlan) -> None:
    say = out.say
    say(f"Model: {plan.model} ({plan.auto_class})")
    _hardware(out, plan.hardware)
    say(f"Weights at {plan.dtype} ({plan.dtype_source}): {human_size(plan.weights_bytes)}")
    for dtype, w in plan.weights.items():
        say(
            f"  {dtype:<8} {w['tensors']:>6} tensors  stored {human_size(w['stored_bytes'])}"
            f"  loaded {human_size(w['loaded_bytes'])}"
        )
    kv = plan.kv
    say(f"KV cache: {kv.formula} = {human_size(kv.bytes)}")
    say(
        f"Activations (batch {plan.batch}, context {plan.context}): {human_size(plan.activations_bytes)}; "
        f"largest layer {human_size(plan.largest_layer_bytes)}"
    )
    say("Placement:")
    for d in plan.per_device:
        parts = [f"weights {human_size(d.weights)}"]
        if d.kv_cache:
            parts.append(f"KV {human_size(d.kv_cache)}")
        if d.activations:
            parts.append(f"activations {human_size(d.activations)}")
        if d.reserved:
            parts.append(f"reserved {human_size(d.reserved)}")
        say(f"  {d.name}: {human_size(d.total)} of {human_size(d.budget)} ({', '.join(parts)})")
    if plan.unplaced_bytes:
        say(f"  nowhere: {human_size(plan.unplaced_bytes)}")
    say(f"Verdict: {plan.verdict}")
    for reason in plan.reasons:
        say(f"  {reason}")
    say("")
    say(plan.call)
    if plan.vllm is not None:
        say(plan.vllm["command"])
