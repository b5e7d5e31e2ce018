"""Models as OCI artifacts (CNCF ModelPack): into and out of OCI layouts and registries.

A revision becomes one ModelPack manifest with one raw layer per file, so a layer's digest is
the sha256 of the file: for an LFS file, exactly its blob id in the cache. The Hugging Face
identity (repo, type, commit, refs, each file's etag) rides in ``io.hfcache.*`` annotations, so
the cache revision can be rebuilt exactly (docs/oci.md).
"""
