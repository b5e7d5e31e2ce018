"""``inspect_target``: a checkpoint's tensors, totals, index, ties, quantization and key problems.

Which files make up the checkpoint follows ``from_pretrained``'s choice: where a folder holds
safetensors weights, its ``.bin``/``.pt`` copies are listed as ignored (transformers loads the
safetensors ones); training state (``optimizer.pt``, ``training_args.bin``...) is not weights.
GGUF and ONNX files are exports of a model, each listed with its own tensors: they count in the
totals only where the target holds no safetensors or torch weights, and the key checks (prefixes,
ties, the head) look at transformers' names only.
"""

from __future__ import annotations

import os
import posixpath
import re
import shlex
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from hfcache import layout
from hfcache.doctor.hints import repair_command
from hfcache.errors import BadInputError
from hfcache.findings import NOWHERE, Finding, Place, Severity, finding
from hfcache.inspect.checkpoint import (
    GGUF,
    ONNX,
    UNKNOWN,
    WEIGHT_SUFFIXES,
    CheckpointFile,
    TensorRecord,
    read_checkpoint,
)
from hfcache.inspect.config import architecture, quantization, read_config
from hfcache.inspect.index import INDEX_SUFFIXES, IndexReport, check_index, shard_names
from hfcache.inspect.keys import Tie, missing_head, prefix_problem, ties
from hfcache.inspect.problems import file_problems
from hfcache.inspect.rewrite import Written, write_stripped
from hfcache.inspect.target import Target, resolve_target
from hfcache.results import EXIT_OK, EXIT_PROBLEMS, JsonArray

_TRAINING_STATE = re.compile(r"training_args\.bin|optimizer\.pt|scheduler\.pt|scaler\.pt|rng_state.*\.pth")
_PICKLE_SUFFIXES = (".bin", ".pt", ".pth", ".ckpt")


@dataclass(frozen=True)
class Inspection:
    """Everything ``inspect`` learnt about a target; ``problems`` are its findings with advice."""

    target: Target
    given: str
    files: tuple[CheckpointFile, ...]
    ignored: tuple[tuple[str, str], ...]
    indexes: tuple[IndexReport, ...]
    ties: tuple[Tie, ...]
    architecture: dict[str, Any] | None
    quantization: dict[str, Any] | None
    problems: tuple[Finding, ...]
    written: Written | None = None
    tensors: tuple[TensorRecord, ...] = field(default=())
    config: dict[str, Any] | None = field(default=None, compare=False)
    """``config.json`` as read (not in ``to_json``): what ``fit`` needs beyond the architecture facts."""

    def count(self, severity: Severity) -> int:
        return sum(1 for p in self.problems if p.severity is severity)

    @property
    def has_problems(self) -> bool:
        """Any ``error`` or ``warning`` finding (exit code 1)."""
        return any(p.severity is not Severity.INFO for p in self.problems)

    @property
    def exit_code(self) -> int:
        """A prefix-free copy written is the work asked for, done; otherwise problems exit 1."""
        if self.written is not None or not self.has_problems:
            return EXIT_OK
        return EXIT_PROBLEMS

    def dtypes(self) -> dict[str, dict[str, int]]:
        """Per dtype: how many tensors, parameters and bytes."""
        out: dict[str, dict[str, int]] = {}
        for t in self.tensors:
            d = out.setdefault(t.dtype, {"tensors": 0, "parameters": 0, "bytes": 0})
            d["tensors"] += 1
            d["parameters"] += t.parameters
            d["bytes"] += t.nbytes
        return dict(sorted(out.items(), key=lambda item: -item[1]["bytes"]))

    def totals(self) -> dict[str, int]:
        shared = {t.name for t in self.ties if t.source == "storage"}
        return {
            "files": len(self.files),
            "tensors": len(self.tensors),
            "parameters": sum(t.parameters for t in self.tensors),
            "bytes": sum(t.nbytes for t in self.tensors),
            "shared_bytes": sum(t.nbytes for t in self.tensors if t.name in shared),
        }

    def to_json(self) -> dict[str, Any]:
        """The ``inspect --json`` document, plain JSON data (``json.dumps`` takes it as it is)."""
        doc = self.to_json_streamed()
        doc["tensors"] = list(doc["tensors"])
        return doc

    def to_json_streamed(self) -> dict[str, Any]:
        """The same document with ``tensors`` made item by item as the output sink writes it
        (:class:`~hfcache.results.JsonArray`): a checkpoint's 400,000 tensors never exist as dicts
        all at once. Only the sink serialises it."""
        t = self.target
        return {
            "target": self.given,
            "kind": t.kind,
            "path": t.path,
            "repo_id": t.repo_id,
            "repo_type": t.repo_type,
            "revision": t.revision,
            "commit": t.commit,
            "cache_dir": t.cache_dir,
            "formats": sorted({f.format for f in self.files}),
            "totals": self.totals(),
            "dtypes": self.dtypes(),
            "files": [f.to_json() for f in self.files],
            "ignored": [{"name": n, "reason": r} for n, r in self.ignored],
            "indexes": [i.to_json() for i in self.indexes],
            "tied": [x.to_json() for x in self.ties],
            "architecture": self.architecture,
            "quantization": self.quantization,
            "summary": {s.value + "s": self.count(s) for s in Severity},
            "findings": [p.to_json() for p in self.problems],
            "tensors": JsonArray(self.tensors, TensorRecord.to_json),
            "written": self.written.to_json() if self.written is not None else None,
        }


def _choose(target: Target) -> tuple[list[str], list[str], list[tuple[str, str]]]:
    """(checkpoint files, index files, ignored files with why) of a target."""
    if target.single is not None and not target.single.endswith(INDEX_SUFFIXES):
        return [target.single], [], []
    names = sorted(target.files)
    if target.single is not None:
        indexes = [target.single]
    else:
        indexes = [n for n in names if n.endswith(INDEX_SUFFIXES)]
    named = {s for i in indexes for s in shard_names(i, target.files[i]) or []}
    if target.single is not None:
        return sorted(named & set(names)), indexes, []
    chosen, ignored = [], []
    safetensors_dirs = {
        posixpath.dirname(n) for n in names if n.endswith((".safetensors", ".safetensors.index.json"))
    }
    for n in names:
        base = posixpath.basename(n)
        if _TRAINING_STATE.fullmatch(base):
            ignored.append((n, "training state, not model weights"))
        elif n.endswith(_PICKLE_SUFFIXES) and posixpath.dirname(n) in safetensors_dirs:
            ignored.append((n, "transformers loads the safetensors weights beside it"))
        elif n.endswith(WEIGHT_SUFFIXES) or n in named:
            chosen.append(n)
    kept = [
        i for i in indexes if not (i.endswith(".bin.index.json") and posixpath.dirname(i) in safetensors_dirs)
    ]
    ignored += [(i, "transformers loads the safetensors weights beside it") for i in indexes if i not in kept]
    return chosen, kept, ignored


def inspect_target(
    target: str,
    *,
    revision: str | None = None,
    cache_dir: str | None = None,
    strip_prefix: Sequence[str] = (),
    write_to: str | None = None,
) -> Inspection:
    """Inspect a repo id in the cache, a snapshot or model folder, or one checkpoint file.

    Reads headers and pickle opcodes only: no tensor data, no torch, nothing executed. With
    ``strip_prefix`` and ``write_to``, also writes a safetensors copy with those prefixes removed
    from every tensor name into the new folder ``write_to``. Raises :class:`BadInputError` for a
    target that cannot be read or a copy that cannot be written as asked.
    """
    if bool(strip_prefix) != (write_to is not None):
        raise BadInputError("--strip-prefix and --write-to go together")
    t = resolve_target(target, revision=revision, cache_dir=cache_dir)
    chosen, indexes, ignored = _choose(t)
    follow = t.kind != "repo"
    files = [read_checkpoint(n, t.files[n].location, t.files[n].path, follow_symlinks=follow) for n in chosen]
    if (
        t.single is not None
        and [f.format for f in files] == [UNKNOWN]
        and not t.single.endswith(WEIGHT_SUFFIXES)
    ):
        raise BadInputError(f"not a checkpoint file hfcache knows (safetensors, torch, GGUF, ONNX): {target}")
    by_name = {f.name: f for f in files}
    place = _place(t)
    named = {s for r in indexes for s in shard_names(r, t.files[r]) or []}
    # A shard whose bytes are not here is the index's shard-missing finding, not a second one.
    problems = [
        p for f in files if f.size is not None or f.name not in named for p in file_problems(f, place)
    ]
    reports = []
    for i in indexes:
        report, found = check_index(i, t.files[i], t.files, by_name.get, place)
        reports += [report] if report is not None else []
        problems += [replace(f, advice=_download(t, f.path)) for f in found]
    problems += judgement(t, problems)
    config = _config(t, problems)
    weights = [r for f in files if f.format not in (GGUF, ONNX) for r in f.tensors]
    records = weights or [r for f in files for r in f.tensors]
    # One shard of a sharded checkpoint holds only part of the model: the head is elsewhere.
    whole = config if t.single is None or t.single.endswith(INDEX_SUFFIXES) or not _is_shard(t) else None
    where = t.path
    for check in (
        prefix_problem(weights, where, target, place),
        missing_head(weights, whole, where, place, _listed(reports)),
    ):
        if check is not None:
            problems.append(check)
    written = None
    if write_to is not None:
        roots = [t.cache_dir or "", layout.default_cache_dir()] + ([cache_dir] if cache_dir else [])
        written = write_stripped(t, files, indexes[:1], tuple(strip_prefix), write_to, roots)
    return Inspection(
        t,
        target,
        tuple(files),
        tuple(ignored),
        tuple(reports),
        tuple(ties(weights, whole)),
        architecture(config) if config is not None else None,
        quantization(config, records) if config is not None else None,
        tuple(sorted(problems, key=lambda p: (p.severity.rank, p.code, p.path))),
        written,
        tuple(records),
        config,
    )


def judgement(t: Target, own: list[Finding]) -> list[Finding]:
    """The doctor's findings about the revision (about the one file, when one was named) that
    inspect's own reading did not already make: every command judges a revision the same way."""
    if t.judged is None:
        return []
    seen = {(f.code, f.path) for f in own}
    entry = t.files[t.single].location if t.single in t.files else None
    repo_path = os.path.join(t.cache_dir, t.repo_folder) if t.cache_dir and t.repo_folder else t.path
    found = []
    for f in t.judged.findings:
        if f.severity is Severity.INFO or f.folded_into is not None or (f.code, f.path) in seen:
            continue
        if entry is not None and f.path != entry and entry not in f.about and not f.info.whole_repo:
            continue
        if f.fix is not None and not f.advice:
            f = replace(f, advice=f"Repair it: {repair_command(repo_path, verify=f.fix.needs_verify)}")
        found.append(f)
    return found


def _place(t: Target) -> Place:
    """Where findings about the target are: its repo and commit when it is a cached revision."""
    if t.repo_folder is None:
        return NOWHERE
    return Place(t.repo_folder, t.repo_id, t.repo_type, t.commit)


def _download(t: Target, path: str) -> str:
    """How to get a file again: the exact ``hf download`` for a cached repo."""
    if t.repo_id is None or t.commit is None:
        return "Download the file again."
    name = next((n for n, f in t.files.items() if f.location == path), None)
    if name is None or name.endswith(INDEX_SUFFIXES):
        return f"Download it again: hf download {t.repo_id} --revision {t.commit}"
    return f"Download it again: hf download {t.repo_id} {shlex.quote(name)} --revision {t.commit}"


def _listed(reports: list[IndexReport]) -> frozenset[str]:
    return frozenset(n for r in reports for n in r.listed)


def _is_shard(t: Target) -> bool:
    """Is the one file inspected named by an index beside it?"""
    indexes = [n for n in t.files if n.endswith(INDEX_SUFFIXES)]
    return any(t.single in (shard_names(i, t.files[i]) or []) for i in indexes)


def _config(t: Target, problems: list[Finding]) -> dict[str, Any] | None:
    source = t.files.get("config.json")
    if source is None:
        return None
    got = read_config(source.path) if source.path is not None else "its bytes are not here"
    if isinstance(got, str):
        message = (
            f"config.json cannot be used ({got}): architecture facts, ties and the head are not checked."
        )
        at = _place(t).at(t.commit, "config.json")
        problems.append(finding("config-unreadable", source.location, message, at=at))
        return None
    return got
