"""``assemble``: the image's layer (deterministic tar, compression), config and manifest."""
