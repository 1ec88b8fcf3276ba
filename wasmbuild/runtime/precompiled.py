"""Use precompiled code attached to an image (``assemble/precompile.py``) when it fits.

:func:`loader` looks at the image's referrers in the layout (their list carries each one's
target and engine key, so nothing else is read when none fits). The returned function, given
the bytes of the module about to run, takes an extra made for this machine's target by an engine
with this wasmtime's key, for exactly those bytes (sha256); it checks both digests of the code
while writing it where the compiled-module cache would have put it, and lets wasmtime load it
(wasmtime checks the engine data once more). Anything that does not fit (no extra, another
target or engine, a corrupt blob, wasmtime refusing it) gives None and the module is compiled
as before: an extra can make a start faster, never make it fail.

Trust: loading precompiled code runs native code outside Wasm's sandbox (wasmtime:
``Module::deserialize`` takes only trusted input). The caller decides (``run(...,
precompiled=True)``): ``wasmbuild run`` uses extras from the local store, which get there only
from a local ``build --precompile`` or a pull that asked for them (``--trust-precompiled``), and
from other places only with ``--trust-precompiled``. ``WASMBUILD_PRECOMPILED=0`` turns them off.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ..errors import ImageNotFound, StoreError
from ..fsutil import atomic_writer
from ..oci import Descriptor
from ..oci.layout import Layout
from ..wasm.precompiled import (
    ANN_UNCOMPRESSED,
    ARTIFACT_TYPE,
    MEDIA_CWASM_ZSTD,
    PrecompileError,
    compat_key,
    host_target,
    layer_for,
    matching,
)

#: (module bytes, the cache entry to fill) -> a loaded wasmtime Module/Component, or None.
Loader = Callable[[bytes, Path], Any]


def enabled() -> bool:
    return os.environ.get("WASMBUILD_PRECOMPILED", "1").strip().lower() not in ("0", "false", "no", "off")


def host_compat() -> tuple[str, str] | None:
    """(target, compatibility key) of this machine's wasmtime; None where extras do not apply."""
    target = host_target()
    if target is None:
        return None
    try:
        return target, compat_key(target)
    except PrecompileError:
        return None


def candidates(layout: Layout, subject: str) -> list[Descriptor]:
    """The extras of image manifest ``subject`` in ``layout`` that this engine could load."""
    from ..oci.referrers import referrers

    listed = referrers(layout, subject, ARTIFACT_TYPE)
    host = host_compat() if listed else None  # the key costs an engine: only when there is a choice
    return matching(listed, *host) if host is not None else []


def pull_extras(ref: str, subject: Descriptor, layout: Layout, opts: Any = None, *,
                allow: Callable[[Descriptor], bool] | None = None,
                on_skip: Callable[[str], None] | None = None) -> list[Descriptor]:
    """Pull the extra of image manifest ``subject`` that fits this engine, if the registry has
    one: with ``allow`` None the caller trusts the publisher with native code
    (``--trust-precompiled``); else only an extra ``allow`` accepts (its signature verified with
    a trusted key, ``--verify``/a policy) is downloaded -- a refused one never reaches the store,
    so it is never deserialised, and ``on_skip`` hears why in one line."""
    host = host_compat() if enabled() else None
    if host is None:
        return []
    from ..registry.referrers import pull_referrers

    def pick(listed: list[Descriptor]) -> list[Descriptor]:
        for extra in matching(listed, *host):
            if allow is None or allow(extra):
                return [extra]
            if on_skip is not None:
                on_skip(f"precompiled code {extra.digest[:19]} not used: no signature by a trusted key "
                        "(compiling instead)")
        return []

    return pull_referrers(ref, subject.digest, layout, pick, opts)


def loader(engine: Any, layout: Layout, subject: str, component: bool = False) -> Loader | None:
    """A loader trying the extras of ``subject`` (None when there is none to try)."""
    if not enabled():
        return None
    extras = candidates(layout, subject)
    if not extras:
        return None

    def load(module: bytes, dest: Path) -> Any:
        return load_extra(engine, layout, extras, module, dest, component)

    return load


def load_extra(engine: Any, layout: Layout, extras: list[Descriptor], module: bytes, dest: Path,
               component: bool = False) -> Any:
    """A wasmtime Module (or Component) from the first fitting extra, also written to ``dest``
    (the compiled-module cache entry); None to compile as usual."""
    import wasmtime

    digest = "sha256:" + hashlib.sha256(module).hexdigest()
    for extra in extras:
        try:
            layer = layer_for(layout.read_json(extra.digest), digest)
        except (ImageNotFound, StoreError, OSError, ValueError):
            continue  # a damaged manifest: not a usable extra
        if layer is None or not _write_verified(layout, layer, dest):
            continue
        kind: Any = wasmtime.Module
        if component:
            from wasmtime.component import Component

            kind = Component
        try:  # through the file: wasmtime maps it instead of copying 20 MB out of a bytes object
            return kind.deserialize_file(engine, str(dest))
        except wasmtime.WasmtimeError:
            dest.unlink(missing_ok=True)  # the key matched but this engine refuses it: compile
    return None


def _write_verified(layout: Layout, layer: dict[str, Any], dest: Path) -> bool:
    """Decompress ``layer``'s blob into ``dest``, checking the blob's digest and the code's;
    False (and nothing at ``dest``) if either is wrong or the blob is missing or unreadable."""
    from ..assemble.compress import _zstandard

    zstd = _zstandard()
    blob = layout.blob_path(str(layer.get("digest", "")))
    expected = (layer.get("annotations") or {}).get(ANN_UNCOMPRESSED)
    packed, plain = hashlib.sha256(), hashlib.sha256()
    try:
        with open(blob, "rb") as raw, atomic_writer(dest) as out:
            stream = _Tee(raw, packed)  # hash the bytes read from the file, decompress the same
            reader = (zstd.ZstdDecompressor().stream_reader(stream, read_across_frames=True)
                      if layer.get("mediaType") == MEDIA_CWASM_ZSTD else stream)
            while chunk := reader.read(1 << 20):
                plain.update(chunk)
                out.write(chunk)
            while stream.read(1 << 20):  # whatever follows the frame counts for the digest too
                pass
            if "sha256:" + packed.hexdigest() != layer.get("digest") or (
                    expected and "sha256:" + plain.hexdigest() != expected):
                raise _Corrupt(str(blob))  # the writer drops its temp file
    except (_Corrupt, OSError, ValueError, zstd.ZstdError):
        return False
    return True


class _Corrupt(Exception):
    """A digest did not match (the atomic writer then drops its temp file)."""


class _Tee:
    """A binary reader that hashes what passes through it."""

    def __init__(self, raw: Any, sha: Any):
        self.raw, self.sha = raw, sha

    def read(self, n: int = -1) -> bytes:
        data: bytes = self.raw.read(n)
        self.sha.update(data)
        return data
