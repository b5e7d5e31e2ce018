"""Follow a pickle's opcodes without running it: a symbolic stack machine that only records.

A pickle is a program; ``pickle.load`` runs it, and a hostile one runs any command. This never
does: it decodes the opcodes itself and records what the program would build. An imported
global becomes an :class:`~hfcache.formats.pickleread.values.Import` marker, a call a
:class:`~hfcache.formats.pickleread.values.Call` node, a ``persistent_id`` a
:class:`~hfcache.formats.pickleread.values.Storage`. Nothing is ever looked up, imported or called,
so no input can make it run code; input it cannot follow is an ``error``, never an exception.

What is decoded is what CPython's C unpickler (``_pickle.c``, the one ``torch.load`` and
``pickle.load`` use) executes, not what :func:`pickletools.genops` lists. The two differ on
framing: the C unpickler reads a whole ``FRAME`` into its buffer, and an opcode or argument
that runs past the frame's end is read from the bytes *after* the frame (from a file), the rest
of the frame being dropped; ``genops`` and the pure-Python unpicklers read straight on. A pickle
can use that to show one program to a scanner and run another. So here an opcode, an argument
or a line that crosses a frame end, a ``FRAME`` inside an unfinished frame, or a ``STOP`` before
its frame ends is an error with ``ambiguous`` set: no reader can say what that pickle runs.
Text arguments are parsed as ``_pickle.c`` parses them (``GLOBAL`` lines as UTF-8, ``INST`` as
ASCII, no escapes); forms the C code would read differently from Python are refused.

The stack keeps MARK as a sentinel where ``_pickle.c`` keeps a separate mark stack with a
fence; any opcode that would consume a mark as a value is refused (the C unpickler refuses it as
"unexpected MARK", or does something no pickler writes). Work is bounded: opcodes, bytes,
argument and line sizes, memo entries and the items held are all limited.

The parts, from the bytes up:

- :mod:`.values`: what a scan records and builds (``Import``, ``Call``, ``Storage``, ``Key``,
  ``PickleScan``);
- :mod:`.source`: the bytes as the C unpickler reads them, FRAME rules enforced, and the errors;
- :mod:`.machine`: the stack, the memo and the limits, and the loop that dispatches opcodes;
- :mod:`.literal_ops`: opcodes that push plain data (protocol, frames, numbers, strings, bytes);
- :mod:`.build_ops`: opcodes that build (containers, memo, imports and calls, persistent ids);
- :mod:`.scan`: :func:`~hfcache.formats.pickleread.scan.scan_pickle`, the one entry point.
"""
