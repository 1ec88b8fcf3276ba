"""Per-user directories (overridable by environment variables, as tests and CI do).

The cache (``WASMBUILD_CACHE``) is split into named areas, one sub-directory each, so that
``wasmbuild cache prune`` can bound every one of them:

========== ============================================================================
stages      stage outputs by stage key (``cache/stages.py``)
downloads   ``url`` inputs by sha256 (``WASMBUILD_DOWNLOADS`` may put it elsewhere)
layers      layer and gzip-segment memos (``assemble/layer.py``)
wasm-valid  markers of entrypoint modules wasmtime validated
optimized   modules after ``optimize:`` (wasm-opt), by content and settings
toolchains  found toolchains (``cache/toolmemo.py``), their wrapper scripts, Debian owners of files
compilers   toolchains' own compile caches, a folder each (zig's compiled wasi-libc and libc++)
digests     remembered digests of big input files (``cache/digests.py``)
rootfs      image roots unpacked by ``wasmbuild run``
modules     modules compiled by ``wasmbuild run``
precompiled extras compiled by ``build --precompile`` (by module, target, wasmtime), engine keys
builds      work directories of running builds
caches      persistent stage caches (``caches:``, ``cache/mounts.py``): cargo's target dir...
results     remembered results of ``check`` against what it read (``cache/results.py``)
========== ============================================================================
"""

from __future__ import annotations

import os
from pathlib import Path

AREAS = ("stages", "downloads", "layers", "wasm-valid", "optimized", "toolchains", "compilers", "digests",
         "rootfs", "modules", "precompiled", "builds", "caches", "results")


def _cache_path() -> Path:
    env = os.environ.get("WASMBUILD_CACHE")
    if env:
        return Path(env)
    from platformdirs import user_cache_dir

    return Path(user_cache_dir("wasmbuild"))


def cache_dir() -> Path:
    """The cache root (``WASMBUILD_CACHE``, else the user's cache dir), created if need be."""
    path = _cache_path()
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        from .errors import StoreError

        raise StoreError(f"cannot use {path} as the cache: {exc.strerror or exc}",
                         hint="set WASMBUILD_CACHE to a writable directory") from None
    return path


def cache_area(name: str) -> Path:
    """The directory of one cache area (see the table above)."""
    assert name in AREAS, name
    if name == "downloads":
        return download_dir()
    return cache_dir() / name


def download_dir() -> Path:
    """``WASMBUILD_DOWNLOADS`` (shareable between caches: content is verified by sha256)."""
    env = os.environ.get("WASMBUILD_DOWNLOADS")
    return Path(env) if env else cache_dir() / "downloads" / "sha256"


def store_dir() -> Path:
    """The local image store: ``WASMBUILD_STORE``, else the user's data dir (not created here)."""
    env = os.environ.get("WASMBUILD_STORE")
    if env:
        return Path(env)
    from platformdirs import user_data_dir

    return Path(user_data_dir("wasmbuild")) / "store"


def state_dirs() -> list[Path]:
    """Every directory wasmbuild writes its state to (cache, store, downloads, zig's cache), as
    configured; none is created here. A build context never takes them in (``ignore.py``)."""
    found = [_cache_path(), store_dir()]
    found += [Path(os.environ[k]) for k in ("WASMBUILD_DOWNLOADS", "WASMBUILD_ZIG_CACHE") if os.environ.get(k)]
    return found


def source_date_epoch() -> int:
    """The only clock a build reads: ``SOURCE_DATE_EPOCH`` or 0."""
    raw = os.environ.get("SOURCE_DATE_EPOCH", "").strip()
    if not raw:
        return 0
    try:
        value = int(raw)
    except ValueError:
        from .errors import ConfigError

        raise ConfigError(
            f"SOURCE_DATE_EPOCH={raw!r} is not an integer",
            hint="set it to seconds since 1970, e.g. $(git log -1 --format=%ct)",
        ) from None
    return max(value, 0)
