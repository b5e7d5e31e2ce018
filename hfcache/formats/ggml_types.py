"""The ggml tensor types a GGUF file may name: id, name, elements per block, bytes per block.

From llama.cpp's own source, not guessed: the ids are ``enum ggml_type`` in
``ggml/include/ggml.h`` (ids 4, 5, 31-33 and 36-38 were removed and are refused), the block
sizes are ``type_traits[].blck_size`` / ``.type_size`` in ``ggml/src/ggml.c``, i.e. the ``QK*``
constants and the ``sizeof(block_*)`` static asserts of ``ggml/src/ggml-common.h`` (``QK_K`` =
256). gguf-py's ``GGML_QUANT_SIZES`` (``gguf-py/gguf/constants.py``) lists the same numbers,
except ``Q8_1``, where it still has the old ``2 * float`` header (40 bytes): ggml-common.h's
``static_assert(sizeof(block_q8_1) == 2*sizeof(ggml_half) + QK8_1)`` makes it 36, and that is
what llama.cpp computes offsets with. NVFP4 (40) and Q1_0 (41) are the newest ids (gguf-py
0.19); a file naming an id past them was written by a newer llama.cpp than this table knows.

A tensor of ``n`` elements whose first dimension ``ne[0]`` is a multiple of the block size
takes ``n / blck_size * type_size`` bytes (``ggml_row_size``; ``ggml_nbytes`` for contiguous
tensors), and llama.cpp refuses a first dimension that is not such a multiple.
"""

from __future__ import annotations

from dataclasses import dataclass

QK_K = 256


@dataclass(frozen=True)
class GgmlType:
    """One ggml type: ``block`` elements are stored in ``size`` bytes."""

    id: int
    name: str
    block: int
    size: int

    @property
    def quantized(self) -> bool:
        return self.block > 1

    def nbytes(self, elements: int) -> int:
        """Bytes of ``elements`` values (a whole number of blocks)."""
        return elements // self.block * self.size


def _k(*parts: int) -> int:
    return sum(parts)


_TABLE = (
    GgmlType(0, "F32", 1, 4),
    GgmlType(1, "F16", 1, 2),
    GgmlType(2, "Q4_0", 32, _k(2, 16)),
    GgmlType(3, "Q4_1", 32, _k(2, 2, 16)),
    GgmlType(6, "Q5_0", 32, _k(2, 4, 16)),
    GgmlType(7, "Q5_1", 32, _k(2, 2, 4, 16)),
    GgmlType(8, "Q8_0", 32, _k(2, 32)),
    GgmlType(9, "Q8_1", 32, _k(2, 2, 32)),
    GgmlType(10, "Q2_K", QK_K, _k(2, 2, QK_K // 16, QK_K // 4)),
    GgmlType(11, "Q3_K", QK_K, _k(2, QK_K // 4, QK_K // 8, 12)),
    GgmlType(12, "Q4_K", QK_K, _k(2, 2, QK_K // 2, 12)),
    GgmlType(13, "Q5_K", QK_K, _k(2, 2, QK_K // 2, QK_K // 8, 12)),
    GgmlType(14, "Q6_K", QK_K, _k(2, QK_K // 2, QK_K // 4, QK_K // 16)),
    GgmlType(15, "Q8_K", QK_K, _k(4, QK_K, QK_K // 8)),
    GgmlType(16, "IQ2_XXS", QK_K, _k(2, QK_K // 4)),
    GgmlType(17, "IQ2_XS", QK_K, _k(2, QK_K // 4, QK_K // 32)),
    GgmlType(18, "IQ3_XXS", QK_K, _k(2, QK_K // 4, QK_K // 8)),
    GgmlType(19, "IQ1_S", QK_K, _k(2, QK_K // 8, QK_K // 16)),
    GgmlType(20, "IQ4_NL", 32, _k(2, 16)),
    GgmlType(21, "IQ3_S", QK_K, _k(2, QK_K // 4, QK_K // 8, QK_K // 32, 4)),
    GgmlType(22, "IQ2_S", QK_K, _k(2, QK_K // 4, QK_K // 16)),
    GgmlType(23, "IQ4_XS", QK_K, _k(2, 2, QK_K // 2, QK_K // 64)),
    GgmlType(24, "I8", 1, 1),
    GgmlType(25, "I16", 1, 2),
    GgmlType(26, "I32", 1, 4),
    GgmlType(27, "I64", 1, 8),
    GgmlType(28, "F64", 1, 8),
    GgmlType(29, "IQ1_M", QK_K, _k(QK_K // 8, QK_K // 16, QK_K // 32)),
    GgmlType(30, "BF16", 1, 2),
    GgmlType(34, "TQ1_0", QK_K, _k(2, 4 * 13)),
    GgmlType(35, "TQ2_0", QK_K, _k(2, 64)),
    GgmlType(39, "MXFP4", 32, _k(1, 16)),
    GgmlType(40, "NVFP4", 64, _k(4, 32)),
    GgmlType(41, "Q1_0", 128, _k(2, 16)),
)

GGML_TYPES: dict[int, GgmlType] = {t.id: t for t in _TABLE}
"""Every ggml type id llama.cpp can read from a GGUF file, keyed by id."""

REMOVED = {4: "Q4_2", 5: "Q4_3", 31: "Q4_0_4_4", 32: "Q4_0_4_8", 33: "Q4_0_8_8"}
REMOVED |= {36: "IQ4_NL_4_4", 37: "IQ4_NL_4_8", 38: "IQ4_NL_8_8"}
"""Ids llama.cpp no longer reads (block size 0 in its table): a file naming one is refused."""

FILE_TYPES = {
    0: "ALL_F32", 1: "MOSTLY_F16", 2: "MOSTLY_Q4_0", 3: "MOSTLY_Q4_1", 4: "MOSTLY_Q4_1_SOME_F16",
    7: "MOSTLY_Q8_0", 8: "MOSTLY_Q5_0", 9: "MOSTLY_Q5_1", 10: "MOSTLY_Q2_K", 11: "MOSTLY_Q3_K_S",
    12: "MOSTLY_Q3_K_M", 13: "MOSTLY_Q3_K_L", 14: "MOSTLY_Q4_K_S", 15: "MOSTLY_Q4_K_M",
    16: "MOSTLY_Q5_K_S", 17: "MOSTLY_Q5_K_M", 18: "MOSTLY_Q6_K", 19: "MOSTLY_IQ2_XXS",
    20: "MOSTLY_IQ2_XS", 21: "MOSTLY_Q2_K_S", 22: "MOSTLY_IQ3_XS", 23: "MOSTLY_IQ3_XXS",
    24: "MOSTLY_IQ1_S", 25: "MOSTLY_IQ4_NL", 26: "MOSTLY_IQ3_S", 27: "MOSTLY_IQ3_M",
    28: "MOSTLY_IQ2_S", 29: "MOSTLY_IQ2_M", 30: "MOSTLY_IQ4_XS", 31: "MOSTLY_IQ1_M",
    32: "MOSTLY_BF16", 36: "MOSTLY_TQ1_0", 37: "MOSTLY_TQ2_0", 38: "MOSTLY_MXFP4_MOE",
    39: "MOSTLY_NVFP4", 40: "MOSTLY_Q1_0", 1024: "GUESSED",
}  # fmt: skip
"""``general.file_type``: ``enum llama_ftype`` of ``include/llama.h`` (gguf-py ``LlamaFileType``)."""
