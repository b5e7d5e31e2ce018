"""How long-running library work reports progress without printing anything itself.

The library calls a :class:`Progress`; the CLI passes one that draws a bar on a terminal,
tests pass one that records calls, and :data:`NO_PROGRESS` ignores everything.
"""

from __future__ import annotations

from typing import Protocol


class Progress(Protocol):
    """Receives the phases of a long operation, byte counts first."""

    def start(self, task: str, total: int | None) -> None:
        """A phase begins; ``total`` is in bytes when known."""

    def advance(self, n: int) -> None:
        """``n`` more bytes are done. May be called from worker threads."""

    def finish(self) -> None:
        """The current phase is over."""


class _NoProgress:
    def start(self, task: str, total: int | None) -> None:
        pass

    def advance(self, n: int) -> None:
        pass

    def finish(self) -> None:
        pass


NO_PROGRESS: Progress = _NoProgress()
