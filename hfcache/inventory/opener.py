"""The one way a path names a source of revisions: a cache, a bundle, or an OCI layout.

A file (or a split bundle's first volume) is a bundle read in place; a folder holding
``oci-layout`` is an OCI image layout; anything else is what ``doctor`` accepts (an ``HF_HOME``,
a hub cache, one repo folder, a plain model folder). ``inventory`` reads sources this way.
"""

from __future__ import annotations

import os

from hfcache.bundle.view import BundleView
from hfcache.bundle.volread import first_volume
from hfcache.fs.digests import DigestStore
from hfcache.oci.source import LAYOUT_FILE
from hfcache.oci.view import LayoutView
from hfcache.sources.cache import CacheView
from hfcache.view import RevisionSource


def open_source(path: str | None, *, digests: DigestStore | None = None) -> RevisionSource:
    """The source ``path`` names (``None``: huggingface_hub's own cache)."""
    if path is not None:
        if os.path.isdir(path) and os.path.isfile(os.path.join(path, LAYOUT_FILE)):
            return LayoutView(path)
        if os.path.isfile(path) or os.path.isfile(first_volume(path)):
            return BundleView(path)
    return CacheView.open(path, digests=digests)
