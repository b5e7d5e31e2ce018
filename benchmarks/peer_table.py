"""The closing table of issue 16: picklescan's, modelscan's and fickling's own samples, each peer's
verdict and ``inspect``'s.

Builds every sample of ``tests/peer_samples.py`` in a temporary folder, asks ``inspect`` (this
checkout) for its verdict, records what CPython's C unpickler would import when the file is
loaded as ``torch.load(weights_only=False)`` reads it (nothing resolved, nothing run), and, with
``--peers-python``, runs the peers themselves on each file in that interpreter to *measure* their
verdicts. Without it, the peer column is the label the peer's own test gives the sample.

    python benchmarks/peer_table.py                                      # labels from the peers' tests
    python benchmarks/peer_table.py --peers-python /tmp/peers-venv/bin/python   # measured

The peers' interpreter needs ``pip install picklescan modelscan fickling`` (a venv of its own:
they are not this project's dependencies). Prints markdown to stdout; ``--json FILE`` keeps the rows.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]

import peer_samples as ps  # noqa: E402

_DRIVER = r'''
import contextlib, json, logging, signal, sys, zipfile
logging.disable(logging.CRITICAL)
items = json.load(sys.stdin)

def picklescan(p):
    from picklescan.scanner import scan_file_path
    r = scan_file_path(p)
    if r.infected_files:
        return "malicious"
    if r.scan_err:
        return "error"
    return "benign" if r.scanned_files else "not scanned"

def modelscan(p):
    from modelscan.modelscan import ModelScan
    ms = ModelScan()
    res = ms.scan(p)
    if ms.issues.all_issues:
        return "malicious"
    if res.get("errors"):
        return "error"
    scanned = res.get("summary", {}).get("scanned", {}).get("scanned_files") or []
    return "benign" if scanned else "not scanned"

def fickling(p):
    from fickling.analysis import Severity
    import fickling.loader as fl
    if zipfile.is_zipfile(p):
        results = list(fl.scan_zip_archive(p, graceful=True).values())
        if not results:
            return "not scanned"
    else:
        results = [fl.scan_file(p, graceful=True)]
    if any(r.severity > Severity.LIKELY_SAFE and not r.errors for r in results):
        return "malicious"
    if any(r.errors for r in results):
        return "error"
    return "benign"

def versions():
    from importlib.metadata import version
    return {n: version(n) for n in ("picklescan", "modelscan", "fickling")}

def alarm(*_):
    raise TimeoutError

signal.signal(signal.SIGALRM, alarm)
out = {"versions": versions(), "verdicts": {}}
for item in items:
    got = {}
    for name in item["peers"]:
        signal.alarm(60)
        try:
            with contextlib.redirect_stdout(sys.stderr):
                got[name] = globals()[name](item["path"])
        except TimeoutError:
            got[name] = "timeout"
        except BaseException as e:
            got[name] = "crash: " + type(e).__name__
        finally:
            signal.alarm(0)
    out["verdicts"][item["key"]] = got
print(json.dumps(out))
'''


def measure_peers(python: str, items: list[dict[str, Any]]) -> dict[str, Any]:
    r = subprocess.run(
        [python, "-c", _DRIVER],
        input=json.dumps(items),
        capture_output=True,
        text=True,
        timeout=3600,
        check=True,
    )
    return json.loads(r.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


def _short(imports: list[str] | None) -> str:
    if imports is None:
        return "(needs torch)"
    if not imports:
        return "none"
    return ", ".join(f"`{i}`" for i in imports[:2]) + (f" +{len(imports) - 2}" if len(imports) > 2 else "")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--peers-python", help="interpreter with picklescan, modelscan and fickling installed")
    ap.add_argument("--all-peers", action="store_true", help="run all three peers on every sample")
    ap.add_argument("--json", help="write the rows here too")
    args = ap.parse_args()
    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="peer-samples-") as tmp:
        folder = Path(tmp)
        todo = []
        for s in ps.samples():
            missing = ps.missing_needs(s)
            if missing:
                print(f"skipped {s.key}: needs {', '.join(missing)}", file=sys.stderr)
                continue
            path = ps.build(s, folder)
            todo.append((s, path))
        peers: dict[str, Any] = {"versions": {}, "verdicts": {}}
        if args.peers_python:
            items = [
                {"key": s.key, "path": str(p), "peers": list(ps.PEERS) if args.all_peers else [s.peer]}
                for s, p in todo
            ]
            peers = measure_peers(args.peers_python, items)
        for s, path in todo:
            verdict = ps.inspect_verdict(path, timeout=60 if s.slow else None)
            measured = peers["verdicts"].get(s.key, {})
            rows.append(
                {
                    "peer": s.peer,
                    "sample": s.name,
                    "technique": s.technique,
                    "ref": s.ref,
                    "label": s.label,
                    "measured": measured,
                    "inspect": verdict,
                    "target": sorted(s.want),
                    "meets_target": verdict in s.want,
                    "loader_imports_outside_allowlist": ps.outside_allowlist(path),
                }
            )
    versions = peers["versions"]
    how = (
        "measured with " + ", ".join(f"{k} {v}" for k, v in versions.items())
        if versions
        else "from the peer's own test (not measured: no --peers-python)"
    )
    print(f"Peer verdicts: {how}. inspect: this checkout. ✗ = inspect misses this project's target.\n")
    cols = ["peer", "sample", "technique", "peer's test", "peer measured", "inspect"]
    cols.append("loader imports outside allowlist")
    print("| " + " | ".join(cols) + " |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    for r in rows:
        m = r["measured"]
        own = m.get(r["peer"], "-")
        others = "; ".join(f"{k}: {v}" for k, v in m.items() if k != r["peer"])
        measured = own + (f" ({others})" if others else "")
        mark = "" if r["meets_target"] else " ✗"
        print(
            f"| {r['peer']} | `{r['sample']}` | {r['technique']} | {r['label']} | {measured} | "
            f"{r['inspect']}{mark} | {_short(r['loader_imports_outside_allowlist'])} |"
        )
    print()
    for peer in ps.PEERS:
        mine = [r for r in rows if r["peer"] == peer]
        mal = [r for r in mine if r["label"] == ps.MALICIOUS]
        ben = [r for r in mine if r["label"] == ps.BENIGN]
        runs = [r for r in mal if r["loader_imports_outside_allowlist"]]
        flagged = sum(r["inspect"] == ps.UNSAFE for r in runs)
        line = (
            f"- {peer}: {len(mal)} malicious, {len(ben)} benign; the loader would import outside the "
            f"allowlist from {len(runs)}; inspect flags {flagged} of those"
        )
        if versions:
            caught = sum(r["measured"].get(peer) == "malicious" for r in runs)
            line += f", {peer} itself {caught}"
        miss = sum(not r["meets_target"] for r in mine)
        print(line + f"; inspect misses the target on {miss} of {len(mine)}.")
    if args.json:
        Path(args.json).write_text(json.dumps({"versions": versions, "rows": rows}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
