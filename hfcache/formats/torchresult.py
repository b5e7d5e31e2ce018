"""What a torch checkpoint holds (:class:`TorchFile`), and how pickle scans become one.

Every container reader ends here: :func:`judge` keeps the scans' imports and errors (a file
that imports anything unsafe, or is ambiguous, is read no further), and :func:`contents` lists
the tensors of a file that passes, each checked against the bytes its storage has.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from hfcache.formats.pickleread.values import Import, PickleScan
from hfcache.formats.torchallow import TORCHSCRIPT_KNOWN, is_safe
from hfcache.formats.torchtensors import TensorInfo, check_storages, tensors_of


@dataclass(frozen=True)
class TorchFile:
    """What a torch checkpoint holds, read without running it.

    ``format``: ``zip``, ``legacy``, ``tar``, ``torchscript`` or ``pickle``. ``problems``: why
    its contents cannot be known (then ``tensors`` is empty); ``truncated``: storages the file
    holds fewer bytes of than its tensors need; ``ambiguous``: a pickle that readers decode
    differently (unsafe whatever it seems to import).
    """

    format: str
    imports: tuple[Import, ...]
    tensors: tuple[TensorInfo, ...]
    problems: tuple[str, ...]
    truncated: tuple[str, ...] = ()
    ambiguous: bool = False
    notes: tuple[str, ...] = field(default=())

    @property
    def unsafe(self) -> list[Import]:
        if self.format == "torchscript":
            known = TORCHSCRIPT_KNOWN
            return [i for i in self.imports if not (is_safe(i) or i.module.split(".")[0] in known)]
        return [i for i in self.imports if not is_safe(i)]


def judge(fmt: str, scans: list[PickleScan], problems: list[str]) -> TorchFile:
    """The scans' imports and errors, with ``problems`` added: a file whose tensors are not listed."""
    imports = tuple(i for s in scans for i in s.imports)
    errors = [s.error for s in scans if s.error]
    return TorchFile(fmt, imports, (), tuple(errors + problems), ambiguous=any(s.ambiguous for s in scans))


def contents(fmt: str, scans: list[tuple[PickleScan, str]], held: dict[str, int | None]) -> TorchFile:
    """The file, its tensors listed if every scan is safe: ``scans`` pairs each pickle with the
    folder its storages are in, ``held`` is the bytes the file has for each storage."""
    judged = judge(fmt, [s for s, _ in scans], [])
    if judged.problems or judged.unsafe or judged.ambiguous:
        return judged
    tensors: list[TensorInfo] = []
    problems: list[str] = []
    truncated: list[str] = []
    for i, (scan, folder) in enumerate(scans):
        found, walk_problems = tensors_of(scan.value)
        if i:  # a TorchScript archive's constants: named apart from the module's attributes
            found = [_renamed(t, f"constants.{t.name}") for t in found]
        mine = {k[len(folder) :]: v for k, v in held.items() if k.startswith(folder)}
        bad, short = check_storages(found, mine, folder)
        tensors += found
        problems += walk_problems + bad
        truncated += short
    if problems:
        return TorchFile(fmt, judged.imports, (), tuple(problems))
    return TorchFile(fmt, judged.imports, tuple(tensors), (), tuple(truncated))


def _renamed(t: TensorInfo, name: str) -> TensorInfo:
    return TensorInfo(
        name, t.dtype, t.shape, t.storage_key, t.offset, t.nbytes, t.stride, t.storage_numel, t.itemsize
    )
