"""Checks: each reads the scan (and the entry classification) and yields findings."""
