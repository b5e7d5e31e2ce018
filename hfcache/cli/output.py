"""The one output sink: data to stdout, messages and progress bars to stderr.

Every command renders through an :class:`Output`, so ``--json`` means the same everywhere:
exactly one JSON document on stdout (with a ``schema_version``), errors included; ``-q``
silences everything but the data and errors.
"""

from __future__ import annotations

import json
import os
import re
import sys
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, NoReturn

import typer
from rich.console import Console

from hfcache.progress import NO_PROGRESS, Progress
from hfcache.results import JsonArray, Result

if TYPE_CHECKING:
    from tqdm import tqdm

_SURROGATE = re.compile("[\udc80-\udcff]")
SCHEMA_VERSION = 1
"""Version of every JSON document hfcache prints; raised when a field changes meaning or goes."""

JSON_OPTION: bool = typer.Option(False, "--json", help="Print one JSON document on stdout (errors too).")
QUIET_OPTION: bool = typer.Option(False, "-q", "--quiet", help="Print only the data and errors.")

# What inspect and fit both take: a checkpoint, named as in the cache or by its path.
TARGET_ARGUMENT: str = typer.Argument(
    ...,
    metavar="TARGET",
    help="A repo id in the cache (org/name), a snapshot or model folder, or one checkpoint file "
    "(.safetensors, .bin/.pt/.pth, .gguf, .onnx).",
    show_default=False,
)
REVISION_OPTION: str | None = typer.Option(
    None, "--revision", metavar="REV", help="With a repo id: branch, tag or commit (default: main).",
    show_default=False,
)  # fmt: skip
CACHE_DIR_OPTION: str | None = typer.Option(
    None, "--cache-dir", metavar="DIR",
    help="Where to find repo ids: an HF_HOME or hub cache folder. Default: the cache huggingface_hub uses.",
    show_default=False,
)  # fmt: skip


def _piped_width() -> int:
    """Columns for output that is not a terminal: ``COLUMNS`` if set, else 120."""
    try:
        return max(40, int(os.environ.get("COLUMNS", "")))
    except ValueError:
        return 120


class TqdmProgress:
    """A :class:`hfcache.progress.Progress` drawing a byte bar on stderr; :meth:`Output.progress`
    makes one only on a terminal (tqdm is imported then: ~15 ms of start-up that piped and
    scripted runs do not pay)."""

    def __init__(self) -> None:
        self._bar: tqdm[Any] | None = None
        self._lock = threading.Lock()

    def start(self, task: str, total: int | None) -> None:
        self.finish()
        from tqdm import tqdm

        self._bar = tqdm(
            total=total,
            desc=task,
            unit="B",
            unit_scale=True,
            unit_divisor=1000,  # decimal, like every size hfcache prints (and the Hub)
            file=sys.stderr,
            leave=False,
        )

    def advance(self, n: int) -> None:
        if self._bar is not None:
            with self._lock:
                self._bar.update(n)

    def finish(self) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None


def _mark(key: str) -> str:
    """A placeholder for a long array in the encoded document (NUL cannot be in any real value)."""
    return f"\x00hfcache-array-{key}\x00"


class Output:
    """Where a command's results and messages go."""

    def __init__(self, json_mode: bool, *, quiet: bool = False, data_to_stderr: bool = False) -> None:
        self.json_mode = json_mode
        self.quiet = quiet
        # When stdout carries binary data (pack -o -), everything else goes to stderr.
        self._data = sys.stderr if data_to_stderr else sys.stdout
        # Piped output keeps a readable width instead of rich's 80-column default.
        width = None if self._data.isatty() else _piped_width()
        self.out = Console(file=self._data, highlight=False, soft_wrap=False, width=width)
        self.err = Console(
            file=sys.stderr, highlight=False, width=None if sys.stderr.isatty() else _piped_width()
        )

    def data(self, obj: dict[str, Any]) -> None:
        """Print the command's JSON document on stdout, as valid UTF-8 whatever the file names.

        A file name that is not UTF-8 reaches Python as lone surrogates (``os.fsdecode``); they are
        written as ``\\udcXX`` escapes, which ``json.loads`` turns back into the same string, and
        ``os.fsencode`` of that into the original bytes.
        """
        doc = {"schema_version": SCHEMA_VERSION, **obj}
        arrays = {k: v for k, v in doc.items() if isinstance(v, JsonArray)}
        marked = {k: _mark(k) if k in arrays else v for k, v in doc.items()}
        text = json.dumps(marked, indent=2, ensure_ascii=False)
        for key, array in arrays.items():  # a long array: its items written one by one, one per line
            before, text = text.split(json.dumps(_mark(key)), 1)
            self._write_json(before)
            self._write_array(array)
        self._write_json(text + "\n")
        self._data.flush()

    def _write_array(self, array: JsonArray) -> None:
        """Each item on a line of its own, encoded by the C encoder: fast, and memory stays flat
        (400,000 tensors are never dicts all at once; writes go out in 1 MB pieces)."""
        pending: list[str] = ["["]
        size = 0
        for i, item in enumerate(array):
            line = ("\n    " if i == 0 else ",\n    ") + json.dumps(item, ensure_ascii=False)
            pending.append(line)
            size += len(line)
            if size > 1 << 20:
                self._write_json("".join(pending))
                pending, size = [], 0
        pending.append("\n  ]" if len(array) else "]")
        self._write_json("".join(pending))

    def _write_json(self, text: str) -> None:
        self._data.write(_SURROGATE.sub(lambda m: f"\\u{ord(m.group()):04x}", text))

    def finish(self, result: Result, render: Callable[[], None]) -> NoReturn:
        """End a command with its result: the JSON document with ``--json``, else ``render()`` for
        people; the exit status is the result's own."""
        if self.json_mode:
            streamed = getattr(result, "to_json_streamed", None)  # long arrays made as written
            self.data(streamed() if callable(streamed) else result.to_json())
        else:
            render()
        raise typer.Exit(result.exit_code)

    def say(self, text: str) -> None:
        """A line of the human report (the command's data, so stdout unless stdout carries a bundle)."""
        self.out.print(text, markup=False, highlight=False, soft_wrap=True)

    def message(self, text: str) -> None:
        """A note for the person at the terminal, on stderr (also in JSON mode); silenced by ``-q``."""
        if not self.quiet:
            self.err.print(text, markup=False, highlight=False, soft_wrap=True)

    def error(self, text: str) -> None:
        """The one line that says why a command could not do its work; never silenced."""
        sys.stderr.write(f"hfcache: error: {text}\n")
        sys.stderr.flush()

    def progress(self) -> Progress:
        """A bar on a terminal; elsewhere :data:`~hfcache.progress.NO_PROGRESS`, which tells the
        library that no one watches (work done only for a bar, such as counting first, is skipped)."""
        if sys.stderr.isatty() and not self.quiet:
            return TqdmProgress()
        return NO_PROGRESS
