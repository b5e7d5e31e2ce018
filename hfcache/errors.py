"""Exceptions that mean "cannot continue".

Problems found *in* a cache are never raised: they are :class:`hfcache.findings.Finding`
values. These exceptions are for input the tool cannot work on at all; the CLI maps each
one to a single line on stderr and an exit code.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from hfcache.findings import Finding


class HfcacheError(Exception):
    """Base class of every error hfcache raises on purpose."""


class BadInputError(HfcacheError):
    """The input cannot be used: no such path, not a cache, unreadable, bad option value."""


class BundleError(HfcacheError):
    """A bundle is corrupt, truncated, hostile or not a bundle at all; nothing was installed."""


class ArtifactError(BundleError):
    """An OCI artifact (a layout, a registry's answer) is malformed, hostile, not a ModelPack
    model, or its bytes are not what its digests say; nothing was installed."""


class RegistryError(HfcacheError):
    """A registry could not be reached or would not answer (network, TLS, auth, server errors)."""


class PackRefusedError(HfcacheError):
    """The revision to pack is incomplete or inconsistent; ``problems`` lists why."""

    def __init__(self, message: str, problems: Sequence[Finding]) -> None:
        super().__init__(message)
        self.problems = list(problems)
