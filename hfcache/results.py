"""The one result contract: what every command's library call returns.

A result knows its JSON document (``to_json``, without the envelope's ``schema_version``, which
the CLI's output sink adds) and its exit status, derived from what it holds. The CLI renders a
result for people or prints its document; it never builds JSON or decides an exit status itself.
"""

from __future__ import annotations

from typing import Any, Protocol

EXIT_OK = 0
"""Clean: nothing wrong (after the repair, with ``--fix``), or the work was done."""
EXIT_PROBLEMS = 1
"""Problems found or left, a refusal, or a failure met while working."""
EXIT_BAD_INPUT = 2
"""The input cannot be used: no such path, not a cache, a bad option value."""


class Result(Protocol):
    """What a command's library call returns."""

    def to_json(self) -> dict[str, Any]:
        """The command's JSON document (data only; the CLI adds ``schema_version``)."""
        ...

    @property
    def exit_code(self) -> int:
        """:data:`EXIT_OK` or :data:`EXIT_PROBLEMS`, from what the result holds."""
        ...
