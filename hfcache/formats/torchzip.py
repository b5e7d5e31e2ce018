"""The zip ``torch.save`` writes (torch 1.6 and later), and the TorchScript archive that shares it.

``<root>/data.pkl`` is read, ``<root>`` being the folder of the zip's first member (as torch's
``PyTorchFileReader`` finds it); its storages are the members under ``<root>/data/``. A zip that
holds ``<root>/constants.pkl`` is a TorchScript archive, which ``torch.load`` hands to
``torch.jit.load``: its constants pickle is read too, with its storages under ``constants/``.
"""

from __future__ import annotations

import zipfile
from typing import BinaryIO

from hfcache.formats.pickleread.scan import scan_pickle
from hfcache.formats.pickleread.source import MAX_PICKLE_BYTES
from hfcache.formats.pickleread.values import PickleScan
from hfcache.formats.torchresult import TorchFile, contents


def read_zip(f: BinaryIO) -> TorchFile:
    """A torch zip or TorchScript archive (``f`` starts with a zip local header)."""
    try:
        z = zipfile.ZipFile(f)
    except (zipfile.BadZipFile, OSError, ValueError, EOFError) as e:
        return TorchFile("zip", (), (), (f"a damaged zip: {e}",))
    with z:
        infos = z.infolist()
        names = [i.filename for i in infos]
        if not names or "/" not in names[0]:
            return TorchFile("zip", (), (), ("its first member is in no folder: not a torch.save zip",))
        if len(set(names)) != len(names):
            return TorchFile(
                "zip", (), (), ("two members share a name: zip readers disagree on which is read",)
            )
        root = names[0].split("/", 1)[0]
        by_name = {i.filename: i for i in infos}
        torchscript = f"{root}/constants.pkl" in by_name
        fmt = "torchscript" if torchscript else "zip"
        pickles = [("data.pkl", "data/")] + ([("constants.pkl", "constants/")] if torchscript else [])
        scans: list[tuple[PickleScan, str]] = []
        for name, folder in pickles:
            info = by_name.get(f"{root}/{name}")
            if info is None:
                return TorchFile(fmt, (), (), (f"no {root}/{name}: not a torch.save zip",))
            if info.file_size > MAX_PICKLE_BYTES:
                return TorchFile(
                    fmt, (), (), (f"{name} is larger than {MAX_PICKLE_BYTES} bytes: too large to follow",)
                )
            try:
                with z.open(info) as member:
                    data = member.read(MAX_PICKLE_BYTES + 1)
            except (
                zipfile.BadZipFile,
                OSError,
                ValueError,
                EOFError,
                NotImplementedError,
                RuntimeError,
            ) as e:
                return TorchFile(fmt, (), (), (f"{name} cannot be read from the zip: {e}",))
            scans.append((scan_pickle(data), folder))
        held: dict[str, int | None] = {
            n[len(root) + 1 :]: i.file_size for n, i in by_name.items() if n.startswith(f"{root}/")
        }
    return contents(fmt, scans, held)
