"""The header's JSON read as the loader's serde derive reads ``HashMetadata``, entry by entry.

Each top-level entry is a tensor (``TensorInfo``: dtype, shape, data_offsets) or
``__metadata__``; it is read and checked as serde would, then stored in a :class:`TensorTable`
at once, so the header is never held as a dict of dicts. An entry printed exactly as the
safetensors writer prints it is read by one regular expression, without building any value.
"""

from __future__ import annotations

import json
import re
from json.decoder import scanstring  # type: ignore[attr-defined]

from hfcache.formats.safetensors.dtypes import DTYPE_CODE
from hfcache.formats.safetensors.header import TensorTable
from hfcache.formats.safetensors.loader import USIZE_MAX, json_error
from hfcache.formats.safetensors.serdejson import (
    MAX_DEPTH,
    Pairs,
    check_string,
    check_strings_and_depth,
    decoder_for,
    skip,
)

_FAST_ENTRY = re.compile(
    r'"([^"\\\x00-\x1f]*)":\{"dtype":"([A-Z0-9_]{1,16})","shape":\[((?:0|[1-9][0-9]{0,19})(?:,(?:0|[1-9][0-9]{0,19}))*)?\],'
    r'"data_offsets":\[(0|[1-9][0-9]{0,19}),(0|[1-9][0-9]{0,19})\]\}([,}])'
)
"""A name without escapes and its tensor entry exactly as the safetensors writer prints them,
then ``,`` or ``}``: read without building a dict (anything else takes the general path)."""


def _is_usize(value: object) -> bool:
    return type(value) is int and 0 <= value <= USIZE_MAX


def _dtype_code(name: str, dtype: object) -> int:
    if type(dtype) is Pairs:  # serde reads an enum from a one-key map too: {"F32": null}
        if len(dtype) != 1 or dtype[0][1] is not None:
            raise json_error(f"tensor {name!r}: dtype as a map must be one dtype name mapped to null")
        dtype = dtype[0][0]
    if not isinstance(dtype, str):
        raise json_error(f"tensor {name!r}: dtype is not a string")
    code = DTYPE_CODE.get(dtype)
    if code is None:
        raise json_error(f"tensor {name!r}: unknown dtype {dtype[:40]!r} (the safetensors loader refuses it)")
    return code


def _fields(name: str, entry: object, surrogates: bool) -> tuple[object, object, object]:
    """``TensorInfo``'s derived Deserialize: a map with the three fields (others ignored, each
    once), or a sequence of exactly three."""
    if type(entry) is Pairs:
        found: dict[str, object] = {}
        for key, value in entry:
            if key in ("dtype", "shape", "data_offsets"):
                if key in found:
                    raise json_error(f"tensor {name!r}: duplicate field {key!r}")
                found[key] = value
            else:
                check_string(key, surrogates)
                check_strings_and_depth(value, 3, surrogates)
        for key in ("dtype", "shape", "data_offsets"):
            if key not in found:
                raise json_error(f"tensor {name!r}: missing field {key!r}")
        return found["dtype"], found["shape"], found["data_offsets"]
    if type(entry) is list:
        if len(entry) != 3:
            raise json_error(f"tensor {name!r}: a list entry must be [dtype, shape, data_offsets]")
        return entry[0], entry[1], entry[2]
    raise json_error(f"tensor {name!r}: entry is not a JSON object")


class HeaderReader:
    """The header text, read one top-level entry at a time into a :class:`TensorTable`."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.decoder: json.JSONDecoder | None = None  # chosen when an entry first needs one
        self.surrogates = "\\u" in text
        self.table = TensorTable()
        self.metadata: dict[str, str] | None = None
        self.shape_ids: dict[tuple[int, ...], int] = {}
        self.shape_texts: dict[str, int] = {}  # the fast path's shapes, by their text

    def _shape_id(self, shape: tuple[int, ...]) -> int:
        found = self.shape_ids.get(shape)
        if found is None:
            found = self.shape_ids[shape] = len(self.table._shapes)
            self.table._shapes.append(shape)
        return found

    def _expect(self, i: int, what: str) -> None:
        got = self.text[i : i + 1]
        if got != what:
            found = repr(got) if got else "the end"
            raise json_error(f"header is not valid JSON: expected {what!r} at character {i}, found {found}")

    def read(self) -> None:
        """``serde_json::from_str::<HashMetadata>``: whitespace is skipped before and after."""
        text, ws = self.text, skip
        i = ws(text, 0)
        self._expect(i, "{")
        i = ws(text, i + 1)
        if text.startswith("}", i):
            i += 1
        else:
            fast, codes, put, shape_texts = _FAST_ENTRY.match, DTYPE_CODE, self.table._put, self.shape_texts
            while True:
                m = fast(text, i)
                if m is not None and m[2] in codes and m[1] != "__metadata__":
                    name, dtype, dims, first, last, after = m.groups()
                    shape = shape_texts.get(dims or "")
                    if shape is None:
                        shape = shape_texts[dims or ""] = self._fast_shape(name, dims or "")
                    end = int(last)
                    if end > USIZE_MAX:
                        raise json_error(f"tensor {name!r}: data_offsets past the usize range")
                    put(name, codes[dtype], shape, int(first), end)
                    i = m.end()
                    if after == "}":
                        break
                    if not text.startswith('"', i):
                        i = ws(text, i)
                    continue
                self._expect(i, '"')
                name, i = scanstring(text, i + 1, True)
                i = ws(text, i)
                self._expect(i, ":")
                i = self._value(name, ws(text, i + 1))
                i = ws(text, i)
                if text.startswith(",", i):
                    i = ws(text, i + 1)
                    continue
                self._expect(i, "}")
                i += 1
                break
        i = ws(text, i)
        if i != len(text):
            raise json_error(f"header is not valid JSON: trailing characters at character {i}")

    def _fast_shape(self, name: str, dims: str) -> int:
        shape = tuple(int(d) for d in dims.split(",")) if dims else ()
        if max(shape, default=0) > USIZE_MAX:
            raise json_error(f"tensor {name!r}: shape past the usize range")
        return self._shape_id(shape)

    def _value(self, name: str, i: int) -> int:
        check_string(name, self.surrogates)
        if self.decoder is None:
            self.decoder = decoder_for(self.text)
        try:
            value, i = self.decoder.raw_decode(self.text, i)
        except RecursionError:
            raise json_error(f"nested more than {MAX_DEPTH} levels deep") from None
        if name == "__metadata__":
            self._metadata(value)
            return int(i)
        dtype, shape, offsets = _fields(name, value, self.surrogates)
        code = _dtype_code(name, dtype)
        if type(shape) is not list or not all(_is_usize(d) for d in shape):
            raise json_error(f"tensor {name!r}: shape must be a list of non-negative integers")
        if type(offsets) is not list or len(offsets) != 2 or not all(_is_usize(o) for o in offsets):
            raise json_error(f"tensor {name!r}: data_offsets must be two non-negative integers")
        self.table._put(name, code, self._shape_id(tuple(shape)), offsets[0], offsets[1])
        return int(i)

    def _metadata(self, value: object) -> None:
        """``__metadata__``: ``Option<HashMap<String, String>>``, given at most once; null is None."""
        if self.metadata is not None:
            raise json_error("duplicate field '__metadata__'")
        if value is None:
            self.metadata = {}
            return
        if type(value) is not Pairs or not all(isinstance(v, str) for _, v in value):
            raise json_error("__metadata__ must map strings to strings (or be null)")
        for key, text in value:
            check_string(key, self.surrogates)
            check_string(text, self.surrogates)
        self.metadata = dict(value)
