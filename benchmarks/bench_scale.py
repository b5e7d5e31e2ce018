"""Scale simulations: a 100+ GB model in 30 sparse safetensors shards, and a 5,000-repo cache.

Two synthetic caches, laid out as huggingface_hub writes them (blobs named by sha256 or git
sha1, relative snapshot links, ``refs/main``, a ``trees/<commit>.json`` listing), built in a
temporary folder that is removed at the end:

- **model**: one revision shaped like Llama-3 (bf16; 70B shape, hidden 8192, for the
  structural sizes; 8B shape, hidden 4096, for the sizes whose every byte is read), its
  ``config.json`` and ``model.safetensors.index.json``, and 30 shards
  ``model-000KK-of-00030.safetensors`` whose headers are real safetensors headers describing
  every tensor and whose data region is a hole (``ftruncate`` past the header), so 141 GB
  takes a few MB of disk. Blob names are the true sha256 of header + zeros, computed here on
  both cores (``--digests FILE`` keeps them between runs, it holds nothing else).
- **repos**: N repos of six files each (a small real safetensors file with random tensors, a
  config, a tokenizer config, a README, ...), every tenth one sharded in two with its index.

On each, at two or three sizes, every command runs as a whole process (start-up included),
``--repeat`` times: ``hfcache doctor``, ``doctor --verify --rehash`` (every byte hashed, no
digest record used), ``pack -o - | unpack -`` into a fresh cache (exact bytes written to disk,
each blob verified and fsynced), ``inspect`` and ``fit`` of one repo. Peak RSS of every process
is read from ``wait4``'s rusage (what ``RUSAGE_CHILDREN`` gives a launcher; each side of the pipe
separately). Printed per command and size: best and median wall time, peak RSS; then the
least-squares slope of the best times (seconds per GB, or per 1,000 repos) and of the peak RSS.

The timed runs must do the work: each checks its output (doctor: every file seen, exit 0;
verify: every byte hashed; unpack: every blob installed, the tree's size; inspect: every tensor;
fit: the weights' exact bytes). Then, untimed, at the smallest size: a broken link is found by
``doctor``, a flipped byte by ``doctor --verify``, by ``pack`` (refuses) and, flipped inside the
stream, by ``unpack -`` (refuses, installs nothing).

    python benchmarks/bench_scale.py                                  # everything, ~30 min
    python benchmarks/bench_scale.py --only model --verify-gb 25,50,100 --unpack-gb 5,10,20 --repeat 3
    python benchmarks/bench_scale.py --only repos --repos 1250,2500,5000 --repeat 3
    python benchmarks/bench_scale.py --quick                          # a smoke run, ~3 min
"""

from __future__ import annotations

import argparse
import concurrent.futures
import hashlib
import json
import os
import random
import shutil
import statistics
import struct
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

COMMIT = "c0ffee" + "0" * 34
N_SHARDS = 30
_ZEROS = bytes(64 << 20)

# --------------------------------------------------------------------------------------------
# the big model


@dataclass(frozen=True)
class Shape:
    """A Llama-3-like decoder in bf16."""

    name: str
    hidden: int
    intermediate: int
    heads: int
    kv_heads: int
    vocab: int

    def layer_tensors(self, i: int) -> dict[str, list[int]]:
        h, kv = self.hidden, self.kv_heads * (self.hidden // self.heads)
        p = f"model.layers.{i}."
        return {
            p + "input_layernorm.weight": [h],
            p + "self_attn.q_proj.weight": [h, h],
            p + "self_attn.k_proj.weight": [kv, h],
            p + "self_attn.v_proj.weight": [kv, h],
            p + "self_attn.o_proj.weight": [h, h],
            p + "post_attention_layernorm.weight": [h],
            p + "mlp.gate_proj.weight": [self.intermediate, h],
            p + "mlp.up_proj.weight": [self.intermediate, h],
            p + "mlp.down_proj.weight": [h, self.intermediate],
        }

    def tensors(self, layers: int) -> dict[str, list[int]]:
        out = {"model.embed_tokens.weight": [self.vocab, self.hidden]}
        for i in range(layers):
            out |= self.layer_tensors(i)
        out["model.norm.weight"] = [self.hidden]
        out["lm_head.weight"] = [self.vocab, self.hidden]
        return out

    def layers_for(self, gb: float) -> int:
        """The layer count whose total comes nearest ``gb`` (at least 3: 30 shards need 30 tensors)."""
        fixed = sum(_nbytes(s) for s in self.tensors(0).values())
        per_layer = sum(_nbytes(s) for s in self.layer_tensors(0).values())
        return max(3, round((gb * 1e9 - fixed) / per_layer))

    def config(self, layers: int) -> dict[str, Any]:
        return {
            "architectures": ["LlamaForCausalLM"], "model_type": "llama", "hidden_size": self.hidden,
            "intermediate_size": self.intermediate, "num_attention_heads": self.heads,
            "num_key_value_heads": self.kv_heads, "num_hidden_layers": layers, "vocab_size": self.vocab,
            "max_position_embeddings": 131072, "rms_norm_eps": 1e-05, "rope_theta": 500000.0,
            "tie_word_embeddings": False, "torch_dtype": "bfloat16", "hidden_act": "silu",
            "bos_token_id": 128000, "eos_token_id": 128001,
        }  # fmt: skip


LLAMA_70B = Shape("Llama-3-70B", 8192, 28672, 64, 8, 128256)
LLAMA_8B = Shape("Llama-3-8B", 4096, 14336, 32, 8, 128256)


def _nbytes(shape: Sequence[int]) -> int:
    n = 2  # bf16
    for d in shape:
        n *= d
    return n


def _header(tensors: dict[str, list[int]]) -> tuple[bytes, int]:
    """A safetensors header (length prefix, JSON padded to 8) and the data length it describes."""
    doc: dict[str, Any] = {"__metadata__": {"format": "pt"}}
    offset = 0
    for name, shape in tensors.items():
        doc[name] = {"dtype": "BF16", "shape": shape, "data_offsets": [offset, offset + _nbytes(shape)]}
        offset += _nbytes(shape)
    raw = json.dumps(doc, separators=(",", ":")).encode()
    raw += b" " * (-len(raw) % 8)
    return struct.pack("<Q", len(raw)) + raw, offset


def _split(tensors: dict[str, list[int]], n: int) -> list[dict[str, list[int]]]:
    """Consecutive groups of about equal bytes, none empty (transformers' shards, in file order)."""
    names = list(tensors)
    left = sum(_nbytes(s) for s in tensors.values())
    shards: list[dict[str, list[int]]] = []
    i = 0
    for k in range(n):
        want, got = left / (n - k), 0
        group: dict[str, list[int]] = {}
        while i < len(names) and (not group or (got < want and len(names) - i > n - k - 1)):
            group[names[i]] = tensors[names[i]]
            got += _nbytes(tensors[names[i]])
            i += 1
        shards.append(group)
        left -= got
    assert i == len(names) and all(shards), "fewer tensors than shards"
    return shards


def _zeros_digest(header: bytes, data_len: int) -> str:
    h = hashlib.sha256(header)
    view = memoryview(_ZEROS)
    while data_len:
        n = min(len(_ZEROS), data_len)
        h.update(view[:n])
        data_len -= n
    return h.hexdigest()


def git_sha1(data: bytes) -> str:
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


class Repo:
    """Writes one repo folder of a hub cache: blobs, snapshot links, ref, tree listing."""

    def __init__(self, hub: Path, repo_id: str, commit: str = COMMIT) -> None:
        self.folder = hub / ("models--" + repo_id.replace("/", "--"))
        self.commit = commit
        self.snap = self.folder / "snapshots" / commit
        for d in (self.folder / "blobs", self.snap, self.folder / "refs", self.folder / "trees"):
            d.mkdir(parents=True, exist_ok=True)
        (self.folder / "refs" / "main").write_text(commit)
        self.listing: dict[str, dict[str, object]] = {}

    def _link(self, name: str, etag: str) -> None:
        entry = self.snap / name
        entry.parent.mkdir(parents=True, exist_ok=True)
        os.symlink(os.path.relpath(self.folder / "blobs" / etag, entry.parent), entry)

    def small(self, name: str, data: bytes, lfs: bool = False) -> None:
        sha1 = git_sha1(data)
        etag = hashlib.sha256(data).hexdigest() if lfs else sha1
        (self.folder / "blobs" / etag).write_bytes(data)
        self._link(name, etag)
        info: dict[str, object] = {"size": len(data), "blob_id": sha1}
        if lfs:
            info |= {"lfs_sha256": etag, "lfs_size": len(data)}
        self.listing[name] = info

    def sparse(self, name: str, header: bytes, data_len: int, digest: str) -> Path:
        """An LFS blob: ``header`` then a hole of ``data_len`` zero bytes."""
        blob = self.folder / "blobs" / digest
        with open(blob, "wb") as f:
            f.write(header)
            f.truncate(len(header) + data_len)
        self._link(name, digest)
        size = len(header) + data_len
        self.listing[name] = {"size": size, "blob_id": "0" * 40, "lfs_sha256": digest, "lfs_size": size}
        return blob

    def close(self) -> None:
        tree = {"format_version": 1, "files": self.listing}
        (self.folder / "trees" / f"{self.commit}.json").write_text(json.dumps(tree))


@dataclass
class Model:
    """What was generated, for the checks."""

    hub: Path
    repo_id: str
    shape: Shape
    layers: int
    bytes: int  # every blob of the revision
    weights: int  # tensor bytes
    tensors: int
    shard_blobs: list[Path] = field(default_factory=list)


class DigestMemo:
    """sha256 of header + zeros, computed on every core; optionally kept in a JSON file."""

    def __init__(self, path: str | None) -> None:
        self.path = path
        self.known: dict[str, str] = {}
        if path and os.path.exists(path):
            self.known = json.loads(Path(path).read_text())

    def digests(self, shards: list[tuple[bytes, int]]) -> list[str]:
        keys = [f"{hashlib.sha256(h).hexdigest()}:{n}" for h, n in shards]
        todo = [(k, s) for k, s in zip(keys, shards, strict=True) if k not in self.known]
        if todo:
            with concurrent.futures.ProcessPoolExecutor(os.cpu_count()) as pool:
                for (k, _), d in zip(todo, pool.map(_zeros_digest, *zip(*(s for _, s in todo), strict=True)),
                                     strict=True):  # fmt: skip
                    self.known[k] = d
            if self.path:
                Path(self.path).write_text(json.dumps(self.known))
        return [self.known[k] for k in keys]


def build_model(hub: Path, repo_id: str, shape: Shape, gb: float, memo: DigestMemo) -> Model:
    layers = shape.layers_for(gb)
    tensors = shape.tensors(layers)
    groups = _split(tensors, N_SHARDS)
    shards = [_header(g) for g in groups]
    digests = memo.digests(shards)
    repo = Repo(hub, repo_id)
    model = Model(hub, repo_id, shape, layers, 0, sum(n for _, n in shards), len(tensors))
    weight_map: dict[str, str] = {}
    for k, ((header, data_len), digest, group) in enumerate(zip(shards, digests, groups, strict=True)):
        name = f"model-{k + 1:05d}-of-{N_SHARDS:05d}.safetensors"
        model.shard_blobs.append(repo.sparse(name, header, data_len, digest))
        weight_map |= dict.fromkeys(group, name)
    index = {"metadata": {"total_size": model.weights}, "weight_map": weight_map}
    repo.small("model.safetensors.index.json", json.dumps(index, indent=2).encode())
    repo.small("config.json", json.dumps(shape.config(layers), indent=2).encode())
    gen = {"bos_token_id": 128000, "eos_token_id": 128001, "do_sample": True, "temperature": 0.6}
    repo.small("generation_config.json", json.dumps(gen, indent=2).encode())
    repo.small("README.md", f"# {repo_id}\n\nA sparse stand-in for {shape.name}.\n".encode())
    repo.close()
    model.bytes = sum(int(str(i["size"])) for i in repo.listing.values())
    return model


# --------------------------------------------------------------------------------------------
# the big cache


def _small_safetensors(rng: random.Random, names: Sequence[str], hidden: int) -> bytes:
    tensors = {n: [hidden, hidden] if "proj" in n else [hidden] for n in names}
    header, data_len = _header(tensors)
    return header + rng.randbytes(data_len)


def build_repos(hub: Path, n: int) -> tuple[list[str], int, int]:
    """``n`` small model repos; returns their ids, the files and the bytes of their revisions."""
    ids, files, size = [], 0, 0
    for r in range(n):
        repo_id = f"org{r % 97:02d}/model-{r:05d}"
        rng = random.Random(repo_id)
        repo = Repo(hub, repo_id, hashlib.sha1(repo_id.encode()).hexdigest())
        layers = [f"model.layers.{i}.self_attn.q_proj.weight" for i in range(4)]
        layers += [f"model.layers.{i}.input_layernorm.weight" for i in range(4)]
        if r % 10 == 0:  # sharded, with an index
            halves = (layers[::2], layers[1::2])
            weight_map: dict[str, str] = {}
            for k, half in enumerate(halves):
                name = f"model-{k + 1:05d}-of-00002.safetensors"
                repo.small(name, _small_safetensors(rng, half, 16), lfs=True)
                weight_map |= dict.fromkeys(half, name)
            total = sum(_nbytes([16, 16] if "proj" in t else [16]) for t in layers)
            index = {"metadata": {"total_size": total}, "weight_map": weight_map}
            repo.small("model.safetensors.index.json", json.dumps(index, indent=2).encode())
        else:
            repo.small("model.safetensors", _small_safetensors(rng, layers, 16), lfs=True)
        config = LLAMA_8B.config(4) | {"hidden_size": 16, "intermediate_size": 64, "vocab_size": 256}
        config |= {"num_attention_heads": 2, "num_key_value_heads": 1}
        repo.small("config.json", json.dumps(config, indent=2).encode())
        repo.small("tokenizer_config.json", json.dumps({"model_max_length": 2048, "seed": r}).encode())
        repo.small("README.md", f"# {repo_id}\n\n{rng.randbytes(300).hex()}\n".encode())
        repo.small(".gitattributes", b"*.safetensors filter=lfs diff=lfs merge=lfs -text\n")
        repo.close()
        ids.append(repo_id)
        files += len(repo.listing)
        size += sum(int(str(i["size"])) for i in repo.listing.values())
    return ids, files, size


# --------------------------------------------------------------------------------------------
# measuring


@dataclass
class Run:
    wall: float
    rss_kib: list[int]  # one per process of the pipeline
    rcs: list[int]
    out: bytes


def _wait(procs: list[subprocess.Popen[bytes]]) -> tuple[list[int], list[int]]:
    rcs, rss = [0] * len(procs), [0] * len(procs)
    for i, p in enumerate(procs):
        _, status, usage = os.wait4(p.pid, 0)
        p.returncode = rcs[i] = os.waitstatus_to_exitcode(status)
        rss[i] = usage.ru_maxrss
    return rcs, rss


def run(cmd: list[str], env: dict[str, str]) -> Run:
    start = time.perf_counter()
    p = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    assert p.stdout is not None
    out = p.stdout.read()
    rcs, rss = _wait([p])
    return Run(time.perf_counter() - start, rss, rcs, out)


def pipe(first: list[str], second: list[str], env: dict[str, str], flip_at: int | None = None) -> Run:
    """``first | second``; with ``flip_at``, one byte of the stream is flipped on the way."""
    start = time.perf_counter()
    a = subprocess.Popen(first, env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    assert a.stdout is not None
    procs = [a]
    source = a.stdout
    if flip_at is not None:
        flipper = (
            "import sys; i, o = sys.stdin.buffer, sys.stdout.buffer; n = int(sys.argv[1]); "
            "o.write(i.read(n)); b = i.read(1); o.write(bytes([b[0] ^ 1])); "
            "[o.write(c) for c in iter(lambda: i.read(1 << 20), b'')]"
        )
        flip = [sys.executable, "-c", flipper, str(flip_at)]
        f = subprocess.Popen(flip, stdin=source, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
        source.close()
        assert f.stdout is not None
        procs.append(f)
        source = f.stdout
    b = subprocess.Popen(second, env=env, stdin=source, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    source.close()
    assert b.stdout is not None
    out = b.stdout.read()
    rcs, rss = _wait([*procs, b])
    return Run(time.perf_counter() - start, rss, rcs, out)


def shell(cmd: str, env: dict[str, str]) -> Run:
    """A baseline: a shell command line (its pipeline's peak RSS is not reported)."""
    start = time.perf_counter()
    done = subprocess.run(cmd, shell=True, env=env, capture_output=True, check=False)
    return Run(time.perf_counter() - start, [0], [done.returncode], done.stdout)


@dataclass
class Series:
    """One command at several sizes: its times and peak RSS per process, and its baseline's times."""

    command: str
    unit: str  # "GB" or "repos"
    baseline: str = ""
    rows: list[tuple[float, list[float], list[int]]] = field(default_factory=list)  # size, times, rss
    base: list[list[float]] = field(default_factory=list)

    def add(self, size: float, runs: list[Run], base: list[Run] | None = None) -> None:
        rss = [max(r.rss_kib[i] for r in runs) for i in range(len(runs[0].rss_kib))]
        self.rows.append((size, [r.wall for r in runs], rss))
        self.base.append([r.wall for r in base or []])

    def last(self) -> str:
        _, times, _ = self.rows[-1]
        text = f"{self.command}: best {min(times):.2f} s, median {statistics.median(times):.2f} s"
        if self.base[-1]:
            text += f"; {self.baseline}: best {min(self.base[-1]):.2f} s"
        return text


def _fit(xs: list[float], ys: list[float]) -> tuple[float, float]:
    """Least-squares intercept and slope."""
    if len(xs) < 2:
        return ys[0] if ys else 0.0, 0.0
    mx, my = statistics.fmean(xs), statistics.fmean(ys)
    sxx = sum((x - mx) ** 2 for x in xs)
    slope = sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True)) / sxx
    return my - slope * mx, slope


def report(series: list[Series]) -> None:
    print("\n| command | size | best s | median s | peak RSS MiB | baseline: best s (median) "
          "| ratio best (median) |")  # fmt: skip
    print("| --- | ---: | ---: | ---: | ---: | --- | ---: |")
    for s in series:
        for (size, times, rss), base in zip(s.rows, s.base, strict=True):
            mib = " + ".join(f"{k / 1024:.1f}" for k in rss)
            label = f"{size:.1f} GB" if s.unit == "GB" else f"{size:,.0f} repos"
            best, med = min(times), statistics.median(times)
            cols = f"| {s.command} | {label} | {best:.2f} | {med:.2f} | {mib} |"
            if base:
                b_best, b_med = min(base), statistics.median(base)
                cols += (
                    f" {s.baseline}: {b_best:.2f} ({b_med:.2f}) | {best / b_best:.2f} ({med / b_med:.2f}) |"
                )
            else:
                cols += " | |"
            print(cols)
    print("\n| command | time: intercept + slope (best times) | worst point off the line | "
          "peak RSS: smallest → largest, slope |")  # fmt: skip
    print("| --- | --- | ---: | --- |")
    for s in series:
        per, unit = (1.0, "GB") if s.unit == "GB" else (1000.0, "1,000 repos")
        xs = [size / per for size, _, _ in s.rows]
        bests = [min(t) for _, t, _ in s.rows]
        a, b = _fit(xs, bests)
        off = max(abs(y - (a + b * x)) / y for x, y in zip(xs, bests, strict=True))
        peaks = [max(r) / 1024 for _, _, r in s.rows]
        _, rb = _fit(xs, peaks)
        print(f"| {s.command} | {a:.2f} s + {b:.3f} s per {unit} | {off:.1%} | "
              f"{peaks[0]:.1f} → {peaks[-1]:.1f} MiB, {rb:+.2f} MiB per {unit} |")  # fmt: skip


class Bench:
    def __init__(self, root: Path, repeat: int) -> None:
        self.root, self.repeat = root, repeat
        self.hf = [sys.executable, "-m", "hfcache"]
        self.env = {**os.environ, "HFCACHE_STATE_DIR": str(root / "state"), "HF_HUB_OFFLINE": "1"}
        self.env.pop("HF_HUB_CACHE", None)

    def times(
        self, fn: Callable[[], Run], check: Callable[[Run], None], base: Callable[[], Run] | None = None
    ) -> tuple[list[Run], list[Run]]:
        """``repeat`` runs of ``fn`` (each checked), interleaved with runs of the baseline."""
        runs, bases = [], []
        for _ in range(self.repeat):
            if base is not None:
                r = base()
                if r.rcs != [0]:
                    raise SystemExit(f"baseline failed: {r.out[:300]!r}")
                bases.append(r)
            r = fn()
            check(r)
            runs.append(r)
        return runs, bases

    def cmd(self, *args: str) -> list[str]:
        return [*self.hf, *args]


def _doc(r: Run) -> dict[str, Any]:
    return dict(json.loads(r.out))


def _expect(cond: bool, what: str, r: Run) -> None:
    if not cond:
        raise SystemExit(f"check failed: {what} (exit {r.rcs}, output {r.out[:600]!r})")


def evict(paths: list[Path]) -> None:
    """Drop these files' pages from the page cache, so every run reads the same way whatever the size."""
    for p in paths:
        fd = os.open(p, os.O_RDONLY)
        try:
            os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
        finally:
            os.close(fd)


def blobs_of(hub: Path) -> list[Path]:
    return sorted(hub.glob("models--*/blobs/*"))


def _load() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def _clear(folder: Path) -> None:
    shutil.rmtree(folder, ignore_errors=True)


def _disk_usage(folder: Path) -> int:
    return sum(p.lstat().st_blocks * 512 for p in folder.rglob("*"))


def _tree_bytes(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.glob("models--*/blobs/*"))


def _flip(path: Path, offset: int) -> None:
    with open(path, "r+b") as f:
        f.seek(offset)
        byte = f.read(1)
        f.seek(offset)
        f.write(bytes([byte[0] ^ 1]))


_SCAN = "python -c 'import sys; from huggingface_hub import scan_cache_dir; scan_cache_dir(sys.argv[1])' {}"


def _scan(hub: Path) -> str:
    return _SCAN.replace("python", sys.executable, 1).format(hub)


def model_struct(b: Bench, sizes: list[float], memo: DigestMemo) -> list[Series]:
    """doctor, inspect and fit of a Llama-3-70B-shaped revision at each size: headers only."""
    doctor = Series("doctor", "GB", "scan_cache_dir")
    inspect, fit = Series("inspect", "GB"), Series("fit", "GB")
    smallest: Model | None = None
    for i, gb in enumerate(sizes):
        hub = b.root / f"struct{i}" / "hub"
        t = time.perf_counter()
        m = build_model(hub, "bench/big", LLAMA_70B, gb, memo)
        smallest = smallest or m
        size = m.bytes / 1e9
        print(f"model {size:.1f} GB ({m.layers} layers, {m.tensors} tensors, 30 shards): built in "
              f"{time.perf_counter() - t:.0f} s, {_disk_usage(hub) / 1e6:.1f} MB on disk; load {_load()}",
              flush=True)  # fmt: skip

        def seen_all(r: Run, m: Model = m) -> None:
            s = _doc(r)["summary"]
            _expect(r.rcs == [0] and s["files"] == 34 and s["bytes"] == m.bytes, "doctor saw every file", r)

        def tensors(r: Run, m: Model = m) -> None:
            t = _doc(r)["totals"]
            ok = r.rcs == [0] and t["tensors"] == m.tensors and t["bytes"] == m.weights
            _expect(ok, "inspect read every header", r)

        def weights(r: Run, m: Model = m) -> None:
            _expect(
                r.rcs[0] in (0, 1) and _doc(r)["weights_bytes"] == m.weights, "fit counted every weight", r
            )

        cmd, scan = b.cmd("doctor", str(hub), "--json"), _scan(hub)
        doctor.add(size, *b.times(partial(run, cmd, b.env), seen_all, partial(shell, scan, b.env)))
        target = ["bench/big", "--cache-dir", str(hub), "--json"]
        cmd = b.cmd("inspect", *target)
        inspect.add(size, *b.times(partial(run, cmd, b.env), tensors))
        cmd = b.cmd("fit", *target, "--gpu", "80GiB", "--gpu", "80GiB", "--ram", "256GiB", "--disk", "1TB")
        fit.add(size, *b.times(partial(run, cmd, b.env), weights))
        print(f"  {doctor.last()}\n  {inspect.last()}\n  {fit.last()}", flush=True)
    assert smallest is not None
    # The real work: a broken link (a shard's blob gone) is found by doctor, and named.
    blob = smallest.shard_blobs[7]
    blob.rename(blob.with_name("away"))
    r = run(b.cmd("doctor", str(smallest.hub), "--json"), b.env)
    found = r.rcs == [1] and b"model-00008-of-00030.safetensors" in r.out and _doc(r)["summary"]["errors"] > 0
    _expect(found, "a missing shard blob is found by doctor", r)
    blob.with_name("away").rename(blob)
    print(f"check: a shard's blob removed from the {smallest.bytes / 1e9:.1f} GB revision: doctor exit 1, "
          "the broken link named", flush=True)  # fmt: skip
    return [doctor, inspect, fit]


def model_read(
    b: Bench, verify_sizes: list[float], unpack_sizes: list[float], memo: DigestMemo
) -> list[Series]:
    """doctor --verify and pack | unpack of a Llama-3-8B-shaped revision: every byte read.

    Before every run (and every baseline run) the blobs' pages are dropped from the page cache:
    the sizes that fit in RAM and those that do not are then read the same way."""
    verify = Series("doctor --verify", "GB", "cat > /dev/null")
    both = Series("pack -o - | unpack -", "GB", "tar -c | tar -x && sync")
    pack, unpack = Series("  pack -o - (its RSS)", "GB"), Series("  unpack - (its RSS)", "GB")
    models: dict[float, Model] = {}
    for gb in sorted(set(verify_sizes) | set(unpack_sizes)):
        t = time.perf_counter()
        m = models[gb] = build_model(b.root / f"read{gb:g}" / "hub", "bench/big", LLAMA_8B, gb, memo)
        print(f"model {m.bytes / 1e9:.1f} GB ({m.layers} layers, {m.tensors} tensors, 30 shards): built in "
              f"{time.perf_counter() - t:.0f} s", flush=True)  # fmt: skip
    for gb in verify_sizes:
        m = models[gb]
        blobs = blobs_of(m.hub)

        def hashed(r: Run, m: Model = m) -> None:
            s = _doc(r)["summary"]
            ok = r.rcs == [0] and s["bytes_hashed"] == m.bytes and s["files"] == 34
            _expect(ok, "verify hashed every byte", r)

        cmd = b.cmd("doctor", str(m.hub), "--verify", "--rehash", "--json")
        cat = "cat " + " ".join(map(str, blobs)) + " > /dev/null"

        def one(cmd: list[str] = cmd, blobs: list[Path] = blobs) -> Run:
            evict(blobs)
            return run(cmd, b.env)

        def floor(cat: str = cat, blobs: list[Path] = blobs) -> Run:
            evict(blobs)
            return shell(cat, b.env)

        verify.add(m.bytes / 1e9, *b.times(one, hashed, floor))
        print(f"  {m.bytes / 1e9:.1f} GB {verify.last()}; load {_load()}", flush=True)
    out, theirs = b.root / "unpacked", b.root / "untarred"
    for gb in unpack_sizes:
        m = models[gb]
        blobs = blobs_of(m.hub)
        free = shutil.disk_usage(b.root).free
        if free < m.bytes + 10e9:
            print(f"  pack | unpack {m.bytes / 1e9:.1f} GB skipped: {free / 1e9:.0f} GB free", flush=True)
            continue

        def installed(r: Run, m: Model = m) -> None:
            d = _doc(r)
            ok = (
                r.rcs == [0, 0]
                and d["verified_bytes"] == m.bytes
                and d["installed"]["bytes_written"] == m.bytes
            )
            ok = ok and d["installed"]["blobs_written"] == 34 and _tree_bytes(out) == m.bytes
            _expect(ok, "unpack installed every byte", r)
            _clear(out)

        def one_pipe(m: Model = m, blobs: list[Path] = blobs) -> Run:
            _clear(out)
            subprocess.run(["sync"], check=True)
            evict(blobs)
            return pipe(b.cmd("pack", "bench/big", "--cache-dir", str(m.hub), "-o", "-", "-q"),
                        b.cmd("unpack", "-", "--cache-dir", str(out), "--json"), b.env)  # fmt: skip

        def tar_pipe(m: Model = m, blobs: list[Path] = blobs) -> Run:
            _clear(theirs)
            theirs.mkdir()
            subprocess.run(["sync"], check=True)
            evict(blobs)
            folder = m.hub / "models--bench--big"
            r = shell(f"tar -cf - -C {m.hub} {folder.name} | tar -xf - -C {theirs} && sync", b.env)
            if _tree_bytes(theirs) != m.bytes:
                raise SystemExit("tar baseline did not copy every byte")
            _clear(theirs)
            return r

        runs, bases = b.times(one_pipe, installed, tar_pipe)
        both.add(m.bytes / 1e9, runs, bases)
        pack.add(m.bytes / 1e9, [Run(r.wall, r.rss_kib[:1], r.rcs, r.out) for r in runs])
        unpack.add(m.bytes / 1e9, [Run(r.wall, r.rss_kib[1:], r.rcs, r.out) for r in runs])
        print(f"  {m.bytes / 1e9:.1f} GB {both.last()}; load {_load()}", flush=True)
    # The real work, at the smallest size: a flipped byte in a shard is found by verify and by
    # pack, a byte flipped in the stream by unpack.
    m = models[min(models)]
    shard = m.shard_blobs[12]
    at = shard.stat().st_size // 2
    _flip(shard, at)
    r = run(b.cmd("doctor", str(m.hub), "--verify", "--rehash", "--json"), b.env)
    _expect(r.rcs == [1] and _doc(r)["summary"]["errors"] > 0, "verify finds a flipped byte", r)
    r = run(b.cmd("pack", "bench/big", "--cache-dir", str(m.hub), "-o", str(b.root / "refused.tar")), b.env)
    _expect(r.rcs == [1] and not (b.root / "refused.tar").exists(), "pack refuses a flipped byte", r)
    _flip(shard, at)
    packing = b.cmd("pack", "bench/big", "--cache-dir", str(m.hub), "-o", "-", "-q")
    r = pipe(packing, b.cmd("unpack", "-", "--cache-dir", str(out), "--json"), b.env, flip_at=m.bytes // 2)
    nothing = not list(out.glob("models--*/blobs/*"))
    _expect(r.rcs[-1] == 2 and nothing, "unpack refuses a stream with a flipped byte, installs nothing", r)
    _clear(out)
    print(
        f"check: a byte flipped in a shard of the {m.bytes / 1e9:.1f} GB revision: doctor --verify exit 1, "
        "pack refused (exit 1); flipped in the stream: unpack - exit 2, nothing installed",
        flush=True,
    )
    return [s for s in (verify, both, pack, unpack) if s.rows]


def repos_scale(b: Bench, counts: list[int], pack_counts: list[int]) -> list[Series]:
    """Every command over caches of ``counts`` repos (pack | unpack over ``pack_counts``)."""
    doctor = Series("doctor", "repos", "scan_cache_dir")
    verify = Series("doctor --verify", "repos", "sha256sum")
    both = Series("pack -o - | unpack -", "repos", "tar -c | tar -x && sync")
    pack, unpack = Series("  pack -o - (its RSS)", "repos"), Series("  unpack - (its RSS)", "repos")
    inspect, fit = Series("inspect", "repos"), Series("fit", "repos")
    checked = False
    out, theirs = b.root / "unpacked", b.root / "untarred"
    for n in sorted(set(counts) | set(pack_counts)):
        hub = b.root / f"repos{n}" / "hub"
        t = time.perf_counter()
        ids, files, size = build_repos(hub, n)
        print(f"cache of {n:,} repos, {files:,} files, {size / 1e6:.1f} MB: built in "
              f"{time.perf_counter() - t:.0f} s; load {_load()}", flush=True)  # fmt: skip
        blobs = blobs_of(hub)
        if n in counts:

            def seen_all(r: Run, n: int = n, files: int = files) -> None:
                s = _doc(r)["summary"]
                _expect(r.rcs == [0] and s["repos"] == n and s["files"] == files, "doctor saw every repo", r)

            def hashed(r: Run, size: int = size) -> None:
                s = _doc(r)["summary"]
                _expect(r.rcs == [0] and s["bytes_hashed"] == size, "verify hashed every byte", r)

            def tensors(r: Run) -> None:
                _expect(r.rcs == [0] and _doc(r)["totals"]["tensors"] == 8, "inspect read both shards", r)

            def weights(r: Run) -> None:
                _expect(
                    r.rcs[0] in (0, 1) and _doc(r)["weights_bytes"] == 4 * 16 * 16 * 2 + 4 * 16 * 2, "fit", r
                )

            listing = b.root / "blobs.txt"
            listing.write_text("\0".join(map(str, blobs)))
            cmd, scan = b.cmd("doctor", str(hub), "--json"), _scan(hub)
            doctor.add(n, *b.times(partial(run, cmd, b.env), seen_all, partial(shell, scan, b.env)))
            cmd = b.cmd("doctor", str(hub), "--verify", "--rehash", "--json")
            sums = f"xargs -0 sha256sum < {listing} > /dev/null"
            verify.add(n, *b.times(partial(run, cmd, b.env), hashed, partial(shell, sums, b.env)))
            target = [ids[0], "--cache-dir", str(hub), "--json"]
            cmd = b.cmd("inspect", *target)
            inspect.add(n, *b.times(partial(run, cmd, b.env), tensors))
            cmd = b.cmd("fit", *target, "--no-gpu", "--ram", "8GiB")
            fit.add(n, *b.times(partial(run, cmd, b.env), weights))
            print("\n".join(f"  {s.last()}" for s in (doctor, verify, inspect, fit)), flush=True)
        if n in pack_counts:

            def installed(r: Run, n: int = n, size: int = size, files: int = files) -> None:
                d = _doc(r)
                ok = r.rcs == [0, 0] and len(d["repos"]) == n and d["installed"]["bytes_written"] == size
                ok = ok and sum(x["files"] for x in d["repos"]) == files and _tree_bytes(out) == size
                _expect(ok, "unpack installed every repo", r)
                _clear(out)

            def one_pipe(hub: Path = hub, ids: list[str] = ids) -> Run:
                _clear(out)
                subprocess.run(["sync"], check=True)
                return pipe(b.cmd("pack", *ids, "--cache-dir", str(hub), "-o", "-", "-q"),
                            b.cmd("unpack", "-", "--cache-dir", str(out), "--json"), b.env)  # fmt: skip

            def tar_pipe(hub: Path = hub, size: int = size) -> Run:
                _clear(theirs)
                theirs.mkdir()
                subprocess.run(["sync"], check=True)
                r = shell(f"tar -cf - -C {hub} . | tar -xf - -C {theirs} && sync", b.env)
                if _tree_bytes(theirs) != size:
                    raise SystemExit("tar baseline did not copy every byte")
                _clear(theirs)
                return r

            runs, bases = b.times(one_pipe, installed, tar_pipe)
            both.add(n, runs, bases)
            pack.add(n, [Run(r.wall, r.rss_kib[:1], r.rcs, r.out) for r in runs])
            unpack.add(n, [Run(r.wall, r.rss_kib[1:], r.rcs, r.out) for r in runs])
            packing = " ".join(b.cmd("pack", *ids, "--cache-dir", str(hub), "-o", "-", "-q"))
            stream = subprocess.run(
                f"{packing} | wc -c", shell=True, env=b.env, capture_output=True, text=True
            )
            print(f"  {both.last()}; the bundle stream: {int(stream.stdout) / 1e6:,.1f} MB; load {_load()}",
                  flush=True)  # fmt: skip
        if not checked and n in counts:
            checked = True
            # The real work: a broken link in one repo of many, and a flipped byte in one small blob.
            config = next((hub / "models--org07--model-00007" / "snapshots").glob("*/config.json")).resolve()
            config.rename(config.with_name("away"))
            r = run(b.cmd("doctor", str(hub), "--json"), b.env)
            _expect(r.rcs == [1] and b"org07/model-00007" in r.out, "doctor finds the one broken link", r)
            config.with_name("away").rename(config)
            readme = next((hub / "models--org08--model-00008" / "snapshots").glob("*/README.md")).resolve()
            _flip(readme, 40)
            r = run(b.cmd("doctor", str(hub), "--verify", "--rehash", "--json"), b.env)
            _expect(r.rcs == [1] and b"org08/model-00008" in r.out, "verify finds the one flipped byte", r)
            _flip(readme, 40)
            print(f"check: in the {n:,}-repo cache, one removed blob is found by doctor and one flipped byte "
                  "by doctor --verify (exit 1, the repo named)", flush=True)  # fmt: skip
        _clear(hub.parent)
    return [s for s in (doctor, verify, both, pack, unpack, inspect, fit) if s.rows]


def _floats(text: str) -> list[float]:
    return [float(x) for x in text.split(",") if x]


def main() -> None:
    p = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    p.add_argument("--only", choices=("model", "repos"), default=None)
    p.add_argument("--struct-gb", default="35,70,141", help="sizes for doctor, inspect, fit (70B shape)")
    p.add_argument("--verify-gb", default="25,50,100", help="sizes for doctor --verify (8B shape)")
    p.add_argument("--unpack-gb", default="5,10,20", help="sizes for pack | unpack (written to disk)")
    p.add_argument("--repos", default="1250,2500,5000", help="cache sizes for doctor, verify, inspect, fit")
    p.add_argument("--pack-repos", default="1250,2500,5000", help="cache sizes for pack | unpack")
    p.add_argument("--repeat", type=int, default=3)
    p.add_argument("--dir", default=None, help="work folder (default: the system temp folder)")
    p.add_argument(
        "--digests", default=None, help="JSON file keeping the sparse shards' digests between runs"
    )
    p.add_argument("--quick", action="store_true", help="small sizes, 2 runs: a smoke test")
    args = p.parse_args()
    if args.quick:
        args.struct_gb, args.verify_gb, args.unpack_gb = "12,24", "3,6", "3,6"
        args.repos, args.pack_repos, args.repeat = "100,200", "100,200", 2
    cpu = next((x.split(":", 1)[1].strip() for x in Path("/proc/cpuinfo").read_text().splitlines()
                if x.startswith("model name")), "?")  # fmt: skip
    print(f"{time.strftime('%Y-%m-%d %H:%M')}, {os.cpu_count()} x {cpu}, "
          f"{os.sysconf('SC_PAGE_SIZE') * os.sysconf('SC_PHYS_PAGES') / 2**30:.0f} GiB RAM, "
          f"Python {sys.version.split()[0]}; load average {_load()}", flush=True)  # fmt: skip
    memo = DigestMemo(args.digests)
    series: list[Series] = []
    with tempfile.TemporaryDirectory(prefix="hfcache-bench-scale-", dir=args.dir) as tmp:
        b = Bench(Path(tmp), args.repeat)
        if args.only in (None, "model"):
            if args.struct_gb:
                series += model_struct(b, _floats(args.struct_gb), memo)
            if args.verify_gb or args.unpack_gb:
                series += model_read(b, _floats(args.verify_gb), _floats(args.unpack_gb), memo)
        if args.only in (None, "repos"):
            series += repos_scale(
                b, [int(x) for x in _floats(args.repos)], [int(x) for x in _floats(args.pack_repos)]
            )
    report(series)
    print(f"\nload average at the end: {_load()}")


if __name__ == "__main__":
    main()
