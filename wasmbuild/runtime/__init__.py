"""``run``: execute an image's entrypoint with wasmtime (``run.py``: core modules, WASI preview 1;
``component.py``: WASI 0.2 components). Nothing is imported here: ``run --help`` and the other
commands do not pay for the runner."""
