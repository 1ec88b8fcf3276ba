"""Precompiled code next to an image's module: the format, and the key that says who can load it.

An image stays portable: its layer holds the ``.wasm``. Next to it, an OCI 1.1 referrer (an
artifact manifest whose ``subject`` is the image manifest, ``oci/referrers.py``) can carry the
module compiled ahead of time by wasmtime for one target. ``assemble/precompile.py`` writes it,
``runtime/precompiled.py`` uses it, ``registry/referrers.py`` pulls it; docs/precompiled.md
describes the layout and the trust it needs (loading it runs native code outside the sandbox).

Keying. wasmtime's Rust API has ``Engine::precompile_compatibility_hash`` (version, target,
compiler flags, tunables: what runwasi keys its cache with), but neither the C API nor
wasmtime-py exposes it. Every artifact, though, carries the data wasmtime checks when it loads
one: its ``.wasmtime.engine`` ELF section (version, target, Cranelift flags, tunables, Wasm
features). The key is the sha256 of that section for an empty module compiled by a *baseline*
engine for the target (``Config.target`` turns off host CPU feature inference), so one artifact
serves every CPU of the architecture, and a default engine of the same wasmtime loads it
(checked with wasmtime 50; core modules and components carry the same section).
"""

from __future__ import annotations

import functools
import hashlib
import os
import re
import struct
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any, Protocol, TypeVar

from ..errors import BuildError, ConfigError

ARTIFACT_TYPE = "application/vnd.wasmbuild.wasmtime.precompiled.v1"
#: The layer: wasmtime's serialised code (an ELF file), compressed with the pinned zstd.
MEDIA_CWASM = "application/vnd.wasmbuild.wasmtime.cwasm.v1"
MEDIA_CWASM_ZSTD = MEDIA_CWASM + "+zstd"
MEDIA_TYPES = (MEDIA_CWASM, MEDIA_CWASM_ZSTD)

# Artifact manifest annotations (a referrers list repeats them: a runtime chooses from the list).
ANN_ENGINE = "dev.wasmbuild.precompiled.engine"  # "wasmtime"
ANN_ENGINE_VERSION = "dev.wasmbuild.precompiled.engine.version"  # wasmtime-py's version (informative)
ANN_TARGET = "dev.wasmbuild.precompiled.target"  # the target triple
ANN_COMPAT = "dev.wasmbuild.precompiled.compat"  # sha256 of the .wasmtime.engine section
# Layer annotations.
ANN_MODULE = "dev.wasmbuild.precompiled.module"  # the module's path in the image (informative)
ANN_MODULE_DIGEST = "dev.wasmbuild.precompiled.module.digest"  # sha256 of the module's bytes
ANN_KIND = "dev.wasmbuild.precompiled.kind"  # "module" or "component"
ANN_UNCOMPRESSED = "dev.wasmbuild.precompiled.uncompressed.digest"  # sha256 of the code

HOST = "host"  # ``--precompile-target host``: this machine's triple
# wasmtime-py ships one architecture's Cranelift backend: an Engine for another target aborts
# the process ("Support for this target is disabled"), so a foreign target is refused first.
_ARCH_TRIPLES = {"x86_64": "x86_64-unknown-linux-gnu", "amd64": "x86_64-unknown-linux-gnu",
                 "aarch64": "aarch64-unknown-linux-gnu", "arm64": "aarch64-unknown-linux-gnu"}
TARGETS = tuple(sorted(set(_ARCH_TRIPLES.values())))


class PrecompileError(BuildError):
    """The module cannot be precompiled for the requested target here."""


def host_target() -> str | None:
    """wasmtime's triple for this machine, or None where extras are neither made nor used."""
    uname = os.uname()  # what platform.system()/machine() read, without importing platform
    if uname.sysname != "Linux":
        return None
    return _ARCH_TRIPLES.get(uname.machine.lower())


def resolve_targets(names: Iterable[str]) -> tuple[str, ...]:
    """``--precompile-target`` values as triples (``host`` = this machine), each once, checked
    before anything is built: wasmtime-py compiles only for its own architecture."""
    out: list[str] = []
    native = host_target()
    for name in names:
        target = native if name == HOST else name
        if target is None:
            raise ConfigError(f"no wasmtime target for {os.uname().sysname}/{os.uname().machine}",
                                  hint="precompile on Linux x86_64 or aarch64")
        if target not in TARGETS:
            raise ConfigError(f"unknown precompile target {name!r}",
                                  hint=f"use host or one of {', '.join(TARGETS)}")
        if target != native:
            raise ConfigError(
                f"cannot precompile for {target} on this machine ({os.uname().machine}): wasmtime-py "
                "ships only its own architecture's compiler",
                hint=f"precompile on a {target.split('-')[0]} machine and push there too "
                     "(each target is its own referrer of the same image)")
        out.append(target)
    return tuple(dict.fromkeys(out))


@functools.cache
def wasmtime_version() -> str:
    """wasmtime-py's version, part of every compiled-code cache key. Read from the name of its
    dist-info directory: ``importlib.metadata`` costs ~30 ms of imports, a tenth of a cold run."""
    import wasmtime

    found = list(Path(wasmtime.__file__).resolve().parent.parent.glob("wasmtime-*.dist-info"))
    if len(found) == 1:
        return found[0].name.removeprefix("wasmtime-").removesuffix(".dist-info")
    from importlib.metadata import version  # an unusual install: ask the slow way

    return version("wasmtime")


def elf_section(data: bytes, name: str) -> bytes | None:
    """The bytes of section ``name`` in a little-endian ELF64 file (a wasmtime artifact)."""
    if len(data) < 64 or data[:4] != b"\x7fELF" or data[4] != 2 or data[5] != 1:
        return None
    try:
        (shoff,) = struct.unpack_from("<Q", data, 0x28)
        shentsize, shnum, shstrndx = struct.unpack_from("<HHH", data, 0x3A)
        headers = [struct.unpack_from("<IIQQQQ", data, shoff + i * shentsize) for i in range(shnum)]
        strtab = headers[shstrndx][4]
        wanted = name.encode()
        for name_off, _type, _flags, _addr, offset, size in headers:
            start = strtab + name_off
            if data[start:data.index(b"\0", start)] == wanted and offset + size <= len(data):
                return data[offset:offset + size]
    except (struct.error, IndexError, ValueError):
        return None
    return None


#: Called with ``(kind, size)`` before every compilation of Wasm to native code, at build time
#: (``--precompile``) and at run time (``wasmbuild run``): the injection point for tracing, and for
#: tests that count compilations or forbid them.
COMPILE_OBSERVERS: list[Callable[[str, int], None]] = []


def compile_native(engine: Any, data: bytes, kind: str) -> Any:
    """``data`` (a ``module`` or a ``component``) compiled for ``engine``: the one place that
    compiles (wasmtime's ``Module``/``Component``), so :data:`COMPILE_OBSERVERS` sees them all."""
    for observe in COMPILE_OBSERVERS:
        observe(kind, len(data))
    if kind == "component":
        from wasmtime.component import Component

        return Component(engine, data)
    import wasmtime

    return wasmtime.Module(engine, data)


def baseline_engine(target: str) -> Any:
    """A wasmtime Engine compiling for ``target``'s baseline ISA (no host CPU features)."""
    import wasmtime

    resolve_targets([target])  # refuse a foreign architecture before wasmtime aborts
    config = wasmtime.Config()
    config.target = target
    return wasmtime.Engine(config)


def compat_key(target: str) -> str:
    """The compatibility key of this wasmtime's baseline engine for ``target``.

    It costs an engine and an empty compile (~30 ms), so it is memoised per wasmtime version in
    the cache area ``precompiled`` (the producer and every ``run`` with extras read it)."""
    from ..dirs import cache_area
    from ..fsutil import atomic_write_bytes

    memo = cache_area("precompiled") / f"compat-{wasmtime_version()}-{target}"
    try:
        key = memo.read_text().strip()
        if re.fullmatch(r"sha256:[0-9a-f]{64}", key):
            return key
    except OSError:
        pass
    key = _compute_key(target)
    atomic_write_bytes(memo, key.encode())
    return key


def _compute_key(target: str) -> str:
    import wasmtime

    artifact = bytes(wasmtime.Module(baseline_engine(target), "(module)").serialize())
    section = elf_section(artifact, ".wasmtime.engine")
    if section is None:  # a future wasmtime changed its artifact format: never match
        raise PrecompileError("wasmtime's artifact has no .wasmtime.engine section")
    return "sha256:" + hashlib.sha256(section).hexdigest()


class Listed(Protocol):
    """What a referrers list says of one entry (an OCI descriptor, without naming oci/)."""

    @property
    def artifact_type(self) -> str | None: ...
    @property
    def annotations(self) -> dict[str, str]: ...


L = TypeVar("L", bound=Listed)


def matching(listed: Iterable[L], target: str, compat: str) -> list[L]:
    """The referrers (as a referrers list names them) made for ``target`` by an engine whose
    key is ``compat``: anything else would not load here, so it is never fetched or read."""
    return [d for d in listed if d.artifact_type == ARTIFACT_TYPE
            and d.annotations.get(ANN_TARGET) == target and d.annotations.get(ANN_COMPAT) == compat]


def layer_for(manifest: dict[str, Any], module_digest: str) -> dict[str, Any] | None:
    """The layer of an extra's manifest holding code for the module whose sha256 is given."""
    for layer in manifest.get("layers") or []:
        notes = layer.get("annotations") or {}
        if layer.get("mediaType") in MEDIA_TYPES and notes.get(ANN_MODULE_DIGEST) == module_digest:
            return dict(layer)
    return None
