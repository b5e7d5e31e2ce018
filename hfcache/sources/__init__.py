"""Sources of revisions judged by the doctor: :class:`CacheView` over a cache or a model folder.

The interface every source answers is :class:`hfcache.view.RevisionSource`; a bundle read in
place answers it too (:class:`hfcache.bundle.view.BundleView`).
"""

from __future__ import annotations

from hfcache.sources.cache import CacheView, RepoViews

__all__ = ["CacheView", "RepoViews"]
