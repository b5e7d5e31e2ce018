"""Format readers: bytes in, values out, strict on hostile input (safetensors headers, emulated links)."""
