"""The undo functions of text-transfer rewrites: pure, and each one the inverse of a real rewrite."""

from __future__ import annotations

import hashlib

from hypothesis import given
from hypothesis import strategies as st

from hfcache.formats import textforms

LF_TEXT = b'{\n  "a": 1\n}\n'


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def test_each_rewrite_is_undone() -> None:
    crlf = LF_TEXT.replace(b"\n", b"\r\n")
    cases = {
        "crlf": (crlf, LF_TEXT),
        "lf": (LF_TEXT, crlf),
        "doubled-cr": (crlf.replace(b"\r\n", b"\r\r\n"), crlf),
        "bom": (b"\xef\xbb\xbf" + LF_TEXT, LF_TEXT),
        "bom+crlf": (b"\xef\xbb\xbf" + crlf, LF_TEXT),
        "final-newline": (LF_TEXT + b"\n", LF_TEXT),
    }
    for rewrite, (damaged, original) in cases.items():
        assert textforms.undo(rewrite, damaged) == original, rewrite
        assert textforms.find_original(damaged, lambda b, o=original: _sha(b) == _sha(o)) is not None


def test_nothing_matches_means_no_guess() -> None:
    assert textforms.find_original(LF_TEXT, lambda b: False) is None


def test_candidates_are_distinct_and_never_the_input() -> None:
    found = [c for _, c in textforms.undo_candidates(LF_TEXT.replace(b"\n", b"\r\n"))]
    assert len(found) == len(set(found)) and LF_TEXT.replace(b"\n", b"\r\n") not in found


def test_large_files_are_not_tried() -> None:
    assert list(textforms.undo_candidates(b"\r\n" * (textforms.MAX_TEXT_SIZE // 2 + 1))) == []


@given(st.binary(max_size=200))
def test_crlf_round_trip(data: bytes) -> None:
    lf = data.replace(b"\r", b"")
    damaged = lf.replace(b"\n", b"\r\n")
    assert textforms.find_original(damaged, lambda b: b == lf) is not None or damaged == lf
