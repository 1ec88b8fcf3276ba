"""``run``: execute an image's entrypoint with wasmtime (``run.py``: core modules, WASI preview 1;
``component.py``: WASI 0.2 components)."""

from __future__ import annotations

from .run import RunSpec, load_module, rootfs, run, run_spec

__all__ = ["RunSpec", "load_module", "rootfs", "run", "run_spec"]
