"""Checks: each reads the scanned model of a cache and yields findings; none raises on bad content."""
