"""``hfcache inventory``: what a target holds, read from caches, bundles and OCI layouts."""
