"""wasmbuild: build reproducible WebAssembly OCI images from a declarative Wasmfile."""

__version__ = "0.1.0"
