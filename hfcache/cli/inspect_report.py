"""The human report of ``hfcache inspect``: a compact summary, every tensor with ``-v``."""

from __future__ import annotations

from typing import Any

from hfcache.cli.output import Output
from hfcache.inspect import Inspection
from hfcache.units import human_size

_FACTS = (
    ("num_hidden_layers", "layers"),
    ("hidden_size", "hidden"),
    ("num_attention_heads", "heads"),
    ("num_key_value_heads", "kv heads"),
    ("head_dim", "head_dim"),
    ("intermediate_size", "intermediate"),
    ("vocab_size", "vocab"),
    ("max_position_embeddings", "context"),
    ("num_local_experts", "experts"),
    ("num_experts", "experts"),
    ("num_experts_per_tok", "experts per token"),
    ("sliding_window", "sliding window"),
    ("kv_lora_rank", "kv_lora_rank"),
    ("dtype", "dtype"),
)


def human_count(n: int) -> str:
    """``7.24B``, ``26.8K``: parameter counts as model cards write them."""
    for unit, size in (("T", 10**12), ("B", 10**9), ("M", 10**6), ("K", 10**3)):
        if n >= size:
            return f"{n / size:.2f}{unit}" if n < 10 * size else f"{n / size:.1f}{unit}"
    return str(n)


def _export_lines(fmt: str, d: dict[str, Any]) -> list[str]:
    """A GGUF file's model facts and bytes per ggml type; an ONNX file's external data files."""
    if fmt == "gguf" and "types" in d:
        facts = [f"GGUF v{d['version']}", str(d.get("architecture") or "no architecture")]
        facts += [f"{label} {d[key]}" for key, label in _GGUF_FACTS if d.get(key) is not None]
        facts.append("chat template" if d.get("chat_template") else "no chat template")
        if d.get("split"):
            facts.append(f"split {d['split'][0]} of {d['split'][1]}")
        types = ", ".join(
            f"{name} (block {t['block']}, {t['type_size']} B) {t['tensors']} tensors {human_size(t['bytes'])}"
            for name, t in d["types"].items()
        )
        return [", ".join(facts)] + ([f"types: {types}"] if types else [])
    if fmt == "onnx" and d.get("external_data"):
        files = ", ".join(
            f"{name} ({human_size(e['size']) if e['present'] else 'MISSING'}, {e['tensors']} tensors)"
            for name, e in d["external_data"].items()
        )
        return [f"external data: {files}"]
    return []


_GGUF_FACTS = (
    ("file_type", "file type"),
    ("context_length", "context"),
    ("block_count", "blocks"),
    ("embedding_length", "embedding"),
    ("head_count", "heads"),
    ("head_count_kv", "kv heads"),
    ("expert_count", "experts"),
    ("tokens", "vocab"),
)


def _title(r: Inspection) -> str:
    t = r.target
    if t.repo_id is not None:
        refs = f" ({t.revision})" if t.revision and t.revision != t.commit else ""
        return f"{t.repo_id} @ {(t.commit or '')[:8]}{refs}: {t.path}"
    return t.path


def _architecture(arch: dict[str, Any]) -> str:
    names = ", ".join(arch.get("architectures") or []) or "?"
    parts = []
    seen: set[str] = set()
    for key, label in _FACTS:
        value = arch.get(key)
        if value is None or label in seen:
            continue
        seen.add(label)
        derived = " (derived)" if key in arch.get("derived", []) else ""
        parts.append(f"{label} {value}{derived}")
    model = arch.get("model_type") or "?"
    if arch.get("text_model_type"):
        model += f" / text {arch['text_model_type']}"
    return f"Architecture: {model} ({names}): " + ", ".join(parts)


def render(out: Output, r: Inspection, *, verbose: bool) -> None:
    """Print the summary; ``verbose`` adds every tensor's name, dtype, shape and file."""
    say = out.say
    say(_title(r))
    totals = r.totals()
    say(f"Files: {len(r.files)}")
    for f in r.files:
        extra = ", ".join(
            f"{k} {v}" for k, v in f.details.items() if k in ("version", "tensor_count", "ir_version")
        )
        count = f"{len(f.tensors)} tensors" if f.tensors else (extra or "no tensors read")
        say(f"  {f.name}  {f.format}  {human_size(f.size)}  {count}")
        for line in _export_lines(f.format, f.details):
            say(f"    {line}")
    for name, why in r.ignored:
        say(f"  {name}  ignored: {why}")
    say(
        f"Tensors: {totals['tensors']}, parameters {human_count(totals['parameters'])} "
        f"({totals['parameters']:,}), data {human_size(totals['bytes'])}"
    )
    for dtype, d in r.dtypes().items():
        params = human_count(d["parameters"])
        say(f"  {dtype:<8} {d['tensors']:>6} tensors  {params:>8} params  {human_size(d['bytes'])}")
    for i in r.indexes:
        size = "" if i.total_size is None else f", total_size {i.total_size}"
        say(f"Index: {i.name}: {len(i.shards)} shard(s), {i.tensors} tensors{size}")
    for tie in r.ties:
        how = "shared storage" if tie.source == "storage" else "tie_word_embeddings; not stored"
        say(f"Tied: {tie.name} = {tie.to} ({how})")
    if r.architecture is not None:
        say(_architecture(r.architecture))
    q = r.quantization
    if q is not None:
        bits = f" {q['bits']}-bit" if q["bits"] else ""
        say(f"Quantization: {q['quant_method']}{bits}: {q['meaning']} ({q['packed_tensors']} packed tensors)")
    if verbose and r.tensors:
        say("")
        width = max(len(t.name) for t in r.tensors)
        for t in r.tensors:
            at = "" if t.offset is None else f"  @{t.offset}"
            say(f"  {t.name:<{width}}  {t.dtype:<8} {list(t.shape)!s:<16} {t.file}{at}")
    say("")
    for found in r.problems:
        say(f"{found.severity.value} {found.code}: {found.path}")
        say(f"  {found.message}")
        if found.advice:
            say(f"  fix: {found.advice}")
    if not r.problems:
        say("No problems found.")
    w = r.written
    if w is not None:
        copied = f"; copied {', '.join(w.copied)}" if w.copied else ""
        say(
            f"Wrote {', '.join(w.files)} to {w.path} ({w.renamed} of {w.tensors} tensor names renamed, "
            f"headers read back and checked){copied}."
        )
