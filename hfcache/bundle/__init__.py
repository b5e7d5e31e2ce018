"""Portable bundles of cached models (``hfcache pack`` / ``unpack``) for air-gapped machines."""
