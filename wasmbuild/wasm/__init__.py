"""Facts about ``.wasm`` binaries, read from their bytes (no runtime needed)."""
