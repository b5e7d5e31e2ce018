"""JSON read as serde_json reads it, where that differs from Python's ``json``.

The safetensors loader parses its header with ``serde_json``. Python's decoder accepts what it
refuses (``NaN``, numbers out of range, unpaired surrogate escapes, nesting past its recursion
limit) and reads some numbers differently (``-0``, integers past 64 bits), and its dicts hide
duplicate keys serde sees. These decoders and checks close each gap, so that a header read here
is one the loader reads, with the same values.
"""

from __future__ import annotations

import json
import math
import re
from typing import Any, Final

from hfcache.formats.safetensors.loader import json_error

MAX_DEPTH: Final = 127
"""serde_json's recursion limit (128) as it shows: the loader parses a header nested 127 levels
deep (the top object counts as one; unknown fields of a tensor entry are parsed too, and count)
and refuses one nested 128 levels deep."""


class Pairs(list[tuple[str, Any]]):
    """A JSON object as its (key, value) pairs in order, duplicates kept: serde sees them all."""


def reject_constant(name: str) -> Any:
    """``parse_constant``: ``NaN``, ``Infinity`` and ``-Infinity`` are not JSON to serde_json."""
    raise ValueError(f"{name} is not valid JSON")


def _float(text: str) -> float:
    value = float(text)
    if math.isinf(value):  # serde_json: "number out of range"; Python would give inf
        raise ValueError(f"number out of range: {text[:20]}")
    return value


def _int(text: str) -> int:
    """serde_json reads an integer beyond 64 bits as a float (refused where out of range), and
    ``-0`` as the float ``-0.0``: neither is ever a usize, nor is any negative number."""
    if len(text) > 20:
        _float(text)
    return -1 if text.startswith("-") else int(text)


_PLAIN = json.JSONDecoder(object_pairs_hook=Pairs, parse_constant=reject_constant)
_STRICT = json.JSONDecoder(
    object_pairs_hook=Pairs, parse_constant=reject_constant, parse_int=_int, parse_float=_float
)
_UNUSUAL_NUMBER = re.compile(r"-0(?![0-9.eE])|[0-9]{20}|[eE][+-]?[0-9]{3}")
"""Numbers whose reading differs between Python and serde_json: ``-0``, integers past 64 bits,
exponents that may overflow. A header with none (almost every one) is read by the plain decoder."""
_WS = re.compile(r"[ \t\n\r]*")  # JSON's whitespace, what serde_json skips, before and after too
_SURROGATE = re.compile("[\ud800-\udfff]")
"""An unpaired ``\\uD800``..``\\uDFFF`` escape: Python keeps it in the string, serde_json refuses
the header (Rust strings hold no surrogates). UTF-8 input cannot carry one otherwise."""


def decoder_for(text: str) -> json.JSONDecoder:
    """The decoder that reads ``text``'s values as serde_json does (objects as :class:`Pairs`)."""
    return _STRICT if _UNUSUAL_NUMBER.search(text) else _PLAIN


def check_strings_and_depth(value: Any, depth: int, surrogates: bool) -> None:
    """An unknown field's value: serde parses it all the same (depth limit, string escapes)."""
    stack = [(value, depth)]
    while stack:
        item, level = stack.pop()
        if isinstance(item, list):
            if level > MAX_DEPTH:
                raise json_error(f"nested more than {MAX_DEPTH} levels deep (serde_json's recursion limit)")
            if type(item) is Pairs:
                for key, inner in item:
                    check_string(key, surrogates)
                    stack.append((inner, level + 1))
            else:
                stack.extend((inner, level + 1) for inner in item)
        elif isinstance(item, str):
            check_string(item, surrogates)


def check_string(text: str, surrogates: bool) -> None:
    """Refuse a string holding an unpaired surrogate (``surrogates``: the text has ``\\u``)."""
    if surrogates and _SURROGATE.search(text):
        raise json_error(f"string {text!r} holds an unpaired surrogate escape")


def skip(text: str, i: int) -> int:
    """The index past the JSON whitespace at ``i``."""
    match = _WS.match(text, i)
    return i if match is None else match.end()
