"""torch checkpoints that are not a zip: the legacy pickles in a row, and the older tar layout.

This is ``torch.load``'s path for a file without a zip header: first the tar layout of torch
before 0.4 (if ``tarfile`` opens it), else the pickles of torch before 1.6: magic number,
protocol, system info, the object, the storage keys; then each storage's element count and
bytes. Every pickle torch would run on that path is followed, up to the first one that stops
torch; a file with a pickle in front and a zip behind is judged by the pickle.
"""

from __future__ import annotations

import tarfile
from typing import Any, BinaryIO

from hfcache.formats.pickleread.scan import scan_pickle
from hfcache.formats.pickleread.values import Call, PickleScan, Storage
from hfcache.formats.torchresult import TorchFile, judge
from hfcache.formats.torchtensors import MAX_TENSORS, MAX_VISITS, check_storages, dtype_of, tensors_of

LEGACY_MAGIC = 0x1950A86A20F9469CFC6C
"""The number the first pickle of a legacy (before torch 1.6) file holds."""
LEGACY_PROTOCOL = 1001


def is_tar(f: BinaryIO) -> bool:
    """Would ``tarfile.open(fileobj=f, mode="r:")`` (torch's first try on a legacy file) open it?"""
    try:
        with tarfile.open(fileobj=f, mode="r:"):
            return True
    except (tarfile.TarError, OSError, ValueError, EOFError):
        return False


def read_tar(f: BinaryIO) -> TorchFile:
    """torch before 0.4: pickles in the members ``storages``, ``tensors`` and ``pickle``. Only the
    first pickle of each is followed (raw storage bytes come between the others)."""
    f.seek(0)
    scans: list[PickleScan] = []
    try:
        with tarfile.open(fileobj=f, mode="r:") as tar:
            for member in ("storages", "tensors", "pickle"):
                data = tar.extractfile(member)
                if data is None:
                    break
                scans.append(scan_pickle(data))  # type: ignore[arg-type]
    except (tarfile.TarError, KeyError, OSError, ValueError, EOFError) as e:
        return judge("tar", scans, [f"a tar checkpoint torch cannot read either: {type(e).__name__}"])
    problem = (
        "the tar layout of torch before 0.4: hfcache follows only its first pickles and lists no tensors"
    )
    return judge("tar", scans, [problem])


def read_legacy(f: BinaryIO, size: int) -> TorchFile:
    """Magic number, protocol, system info, the object, storage keys: five pickles, then for each
    storage key in that order, its element count (8 bytes, little-endian) and its bytes."""
    scans: list[PickleScan] = []
    for step in range(5):
        scan = scan_pickle(f)
        scans.append(scan)
        if scan.error:
            break
        stop = (step == 0 and scan.value != LEGACY_MAGIC) or (step == 1 and scan.value != LEGACY_PROTOCOL)
        if stop and not scan.imports:  # torch stops here: it runs nothing after this pickle
            what = "magic number" if step == 0 else "protocol version"
            return judge(
                "legacy", scans, [f"not a torch checkpoint (neither the zip layout nor the legacy {what})"]
            )
    judged = judge("legacy", scans, [])
    if judged.problems or judged.unsafe or judged.ambiguous:
        return judged
    if len(scans) < 5:
        return judge("legacy", scans, ["the legacy pickles are not all there"])
    tensors, problems = tensors_of(scans[3].value)
    keys = scans[4].value
    if not isinstance(keys, list) or not all(isinstance(k, str) for k in keys):
        return judge("legacy", scans, ["the storage key list is not a list of names"])
    storages = _legacy_storages(scans[3].value)
    held, truncated = _legacy_held(f, size, keys, storages)
    bad, short = check_storages(tensors, held, "")
    if problems or bad:
        return TorchFile("legacy", judged.imports, (), tuple(problems + bad))
    return TorchFile("legacy", judged.imports, tuple(tensors), (), tuple(truncated + short))


def _legacy_storages(value: Any) -> dict[str, Storage]:
    found: dict[str, Storage] = {}
    todo: list[Any] = [value]
    seen: set[int] = set()
    while todo and len(seen) < MAX_VISITS:
        item = todo.pop()
        if isinstance(item, Storage):
            found.setdefault(item.key, item)
        elif isinstance(item, (dict, list, tuple, Call)) and id(item) not in seen:
            seen.add(id(item))
            if isinstance(item, dict):
                todo.extend(item.values())
            elif isinstance(item, Call):
                todo.extend(item.args)
                todo.append(item.state)
            else:
                todo.extend(item)
    return found


def _legacy_held(
    f: BinaryIO, size: int, keys: list[str], storages: dict[str, Storage]
) -> tuple[dict[str, int | None], list[str]]:
    """Bytes the file holds for each storage, walking the records torch reads in key order."""
    held: dict[str, int | None] = {}
    truncated: list[str] = []
    pos = f.tell()
    for key in keys[:MAX_TENSORS]:
        storage = storages.get(key)
        itemsize = dtype_of(storage, None)[1] if storage is not None else 0
        f.seek(pos)
        head = f.read(8)
        if len(head) < 8:
            held[key] = 0
            truncated.append(f"the file ends before storage {key} (at byte {pos} of {size})")
            break
        count = int.from_bytes(head, "little")
        nbytes = count * itemsize
        if storage is not None and count != storage.numel:
            truncated.append(f"storage {key} says {count} elements where its tensor says {storage.numel}")
        held[key] = max(0, min(nbytes, size - pos - 8))
        pos += 8 + nbytes
        if pos > size:
            truncated.append(f"storage {key} needs {nbytes} bytes; the file ends {pos - size} bytes early")
            break
    for key in keys:  # storages after the end of the file: none of their bytes are here
        held.setdefault(key, 0)
    return held, truncated[:20]
