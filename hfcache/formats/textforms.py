"""Undo the rewrites that text-mode transfers make to files, so a hash can tell the original.

``git`` with ``core.autocrlf``, an FTP transfer in ASCII mode, a Windows editor or a copy tool
in "text" mode change bytes in a few reversible ways: LF becomes CRLF (or the reverse), a
UTF-8 byte-order mark is added, a final newline is added. Each undo here is a pure function
of the bytes; none is ever trusted on its own: the caller installs a result only if it hashes
to the blob's name, which makes guessing harmless.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

MAX_TEXT_SIZE = 16 * 1024 * 1024
"""Larger files are not tried: text files (config, tokenizer, README) are far smaller."""

_BOM = b"\xef\xbb\xbf"


def _crlf_to_lf(data: bytes) -> bytes:
    return data.replace(b"\r\n", b"\n")


def _lf_to_crlf(data: bytes) -> bytes:
    return data.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")


def _doubled_cr(data: bytes) -> bytes:
    return data.replace(b"\r\r\n", b"\r\n")


def _strip_bom(data: bytes) -> bytes:
    return data[len(_BOM) :] if data.startswith(_BOM) else data


def _strip_final_newline(data: bytes) -> bytes:
    if data.endswith(b"\r\n"):
        return data[:-2]
    return data[:-1] if data.endswith(b"\n") else data


_BASE: dict[str, Callable[[bytes], bytes]] = {
    "crlf": _crlf_to_lf,  # LF was turned into CRLF: undo by CRLF -> LF
    "lf": _lf_to_crlf,  # CRLF was turned into LF: undo by LF -> CRLF
    "doubled-cr": _doubled_cr,  # CRLF turned into CR CR LF by a second conversion
    "final-newline": _strip_final_newline,  # an editor added a newline at the end
}

REWRITES: dict[str, Callable[[bytes], bytes]] = {
    **_BASE,
    "bom": _strip_bom,
    **{f"bom+{name}": (lambda f: lambda data: f(_strip_bom(data)))(fn) for name, fn in _BASE.items()},
}
"""Each rewrite a transfer may have made, by name, mapped to the function that undoes it."""


def undo(rewrite: str, data: bytes) -> bytes:
    """The bytes before ``rewrite`` (a key of :data:`REWRITES`). ``KeyError`` for an unknown name."""
    return REWRITES[rewrite](data)


def undo_candidates(data: bytes) -> Iterator[tuple[str, bytes]]:
    """Every distinct original ``data`` may have had, with the rewrite's name; ``data`` itself is not one.

    Yields nothing for files over :data:`MAX_TEXT_SIZE`, and nothing that cannot have been
    text: a rewrite that changes no byte is skipped.
    """
    if len(data) > MAX_TEXT_SIZE:
        return
    seen = {data}
    for name, fn in REWRITES.items():
        candidate = fn(data)
        if candidate not in seen:
            seen.add(candidate)
            yield name, candidate


def find_original(data: bytes, matches: Callable[[bytes], bool]) -> str | None:
    """The name of the rewrite whose undo gives bytes that ``matches`` accepts (a hash check), if any."""
    for name, candidate in undo_candidates(data):
        if matches(candidate):
            return name
    return None
