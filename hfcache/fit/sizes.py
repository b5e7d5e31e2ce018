"""Memory sizes given to ``fit`` (``--gpu``, ``--ram``, ``--disk``): a unit is required, and the size
is shown back the way it was given.

The bytes are :func:`hfcache.units.parse_size`'s, as for ``pack --split-size``: ``K M G T`` and
``KiB MiB GiB TiB`` are powers of 1024, ``KB MB GB TB`` of 1000. What differs is that a number
alone is refused: ``--gpu 24`` would be 24 bytes, never what anyone means. A size is echoed in
its own family, the number as typed: ``24GiB`` and ``24G`` show as ``24 GiB`` (both are
24 x 1024^3 bytes), ``80GB`` as ``80 GB`` (80 x 1000^3), so what is shown is what was planned for.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from hfcache.errors import BadInputError
from hfcache.units import human_size, parse_size

_GIVEN = re.compile(r"\s*(?P<number>\d+(?:\.\d+)?)\s*(?P<unit>[a-z]*)\s*", re.IGNORECASE)
_UNIT = re.compile(r"(?P<prefix>[kmgtpe])(?P<suffix>i?b)?|b", re.IGNORECASE)


@dataclass(frozen=True)
class GivenSize:
    """A size given instead of measured: its bytes, and how to show it (``"24 GiB"``)."""

    bytes: int
    shown: str


def given_size(option: str, value: str | int) -> GivenSize:
    """Read ``value`` for ``option``: text with a unit (``24GiB``, ``80GB``, ``512M``) or bytes as an int.

    Raises :class:`BadInputError`, one line naming the option, for a number without a unit, an
    unknown unit or a size below one byte.
    """
    if isinstance(value, int):
        if value < 1:
            raise BadInputError(f"{option} {value}: a size must be at least 1 byte")
        return GivenSize(value, human_size(value))
    said = f"{option} {value.strip()}"
    match = _GIVEN.fullmatch(value)
    if match is None:
        raise BadInputError(f"{said}: not a size; give a number and a unit, e.g. 24GiB or 24GB")
    number, unit = match.group("number"), match.group("unit")
    if not unit:
        raise BadInputError(
            f"{said}: give a unit, {number}GiB or {number}GB (a number alone would be {number} bytes)"
        )
    kind = _UNIT.fullmatch(unit)
    if kind is None:
        raise BadInputError(f"{said}: unknown unit {unit!r}; use GiB, GB, MiB, MB, TiB or TB")
    try:
        size = parse_size(value)  # the same grammar: it reads what was matched
    except ValueError:  # below one byte
        raise BadInputError(f"{said}: a size must be at least 1 byte") from None
    prefix, suffix = kind.group("prefix"), kind.group("suffix")
    if prefix is None:
        shown = "B"
    else:
        decimal = suffix is not None and suffix.lower() == "b"
        shown = prefix.upper() + ("B" if decimal else "iB")
    return GivenSize(size, f"{number} {shown}")
