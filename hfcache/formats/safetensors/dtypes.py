"""The safetensors loader's dtype table: every dtype name it knows and its bits per element.

It is ``enum Dtype`` and ``Dtype::bitsize`` of ``safetensors/src/tensor.rs``. A header naming
any dtype outside it is refused, and a tensor's byte span is checked against these widths.
The header reader stores each tensor's dtype as its code (its place in the table), one byte.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final

DTYPE_BITS: Final[Mapping[str, int]] = {
    "BOOL": 8, "F4": 4, "F6_E2M3": 6, "F6_E3M2": 6, "U8": 8, "I8": 8,
    "F8_E5M2": 8, "F8_E4M3": 8, "F8_E8M0": 8, "F8_E4M3FNUZ": 8, "F8_E5M2FNUZ": 8,
    "I16": 16, "U16": 16, "F16": 16, "BF16": 16, "I32": 32, "U32": 32, "F32": 32,
    "C64": 64, "F64": 64, "I64": 64, "U64": 64,
}  # fmt: skip
"""Bits per element of every dtype the loader knows (``enum Dtype`` and ``Dtype::bitsize``);
a header naming any other dtype (``XYZ``, ``float32``, ``f32``) is refused, as serde refuses an
unknown enum variant."""

DTYPE_NAMES: Final = tuple(DTYPE_BITS)
"""Dtype names by code."""
DTYPE_CODE: Final = {name: code for code, name in enumerate(DTYPE_NAMES)}
"""Dtype codes by name."""
BITS: Final = tuple(DTYPE_BITS.values())
"""Bits per element by code."""
