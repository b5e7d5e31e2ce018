"""File-system primitives: streaming hashes, crash-safe steps, kernel copies. Nothing cache-specific."""
