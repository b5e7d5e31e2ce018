"""What ``unpack``'s argument names, when it is an OCI artifact and not a bundle.

``oci:DIR[:TAG]`` (skopeo's spelling) or a folder holding ``oci-layout`` is an image layout;
``oci://HOST[:PORT]/NAME[:TAG|@DIGEST]`` is a registry. Anything else is left to the bundle
reader (``None``).
"""

from __future__ import annotations

import os

from hfcache.errors import BadInputError
from hfcache.oci.registry import RegistrySource
from hfcache.oci.source import LAYOUT_FILE, ArtifactSource, LayoutSource

LAYOUT_SCHEME = "oci:"
REGISTRY_SCHEME = "oci://"


def is_artifact(text: str) -> bool:
    """Does ``text`` name an OCI layout or registry rather than a bundle?"""
    if text.startswith(LAYOUT_SCHEME):
        return True
    return os.path.isdir(text) and os.path.isfile(os.path.join(text, LAYOUT_FILE))


def artifact_source(
    text: str, *, plain_http: bool = False, ca_file: str | None = None, authfile: str | None = None
) -> ArtifactSource:
    """The source ``text`` names: a registry (``oci://…``) or a layout (``oci:DIR[:TAG]``, DIR)."""
    if text.startswith(REGISTRY_SCHEME):
        return RegistrySource(text, plain_http=plain_http, ca_file=ca_file, authfile=authfile)
    if plain_http or ca_file or authfile:
        raise BadInputError("--plain-http, --ca-file and --authfile are for a registry (oci://HOST/NAME:TAG)")
    return layout_source(text)


def layout_source(text: str) -> ArtifactSource:
    """The layout ``oci:DIR[:TAG]`` or ``DIR`` names (every model manifest of it without a tag)."""
    if text.startswith(LAYOUT_SCHEME) and not text.startswith(REGISTRY_SCHEME):
        path, _, tag = text[len(LAYOUT_SCHEME) :].partition(":")
        return LayoutSource(path, tag or None)
    return LayoutSource(text)
