"""Exceptions that mean "cannot continue".

Problems found *in* a cache are never raised: they are :class:`hfcache.findings.Finding`
values. These exceptions are for input the tool cannot work on at all; the CLI maps each
one to a single line on stderr and an exit code.
"""

from __future__ import annotations


class HfcacheError(Exception):
    """Base class of every error hfcache raises on purpose."""

    exit_code = 1


class BadInputError(HfcacheError):
    """The input cannot be used: no such path, not a cache, unreadable, bad option value."""

    exit_code = 2
