"""Bound the whole cache: every area (see :mod:`wasmbuild.dirs`) is trimmed, oldest use first.

``prune(max_bytes)`` removes the least recently used items across all areas until the cache
holds at most ``max_bytes`` -- so every area ends up under the bound too. Items in use are kept:
a stage entry whose lock a build holds, a run's root that a running module holds (shared flock),
a live build's work directory. Leftovers of killed writers (``.tmp-*``) and of dead builds are
always removed, whatever the bound.
"""

from __future__ import annotations

import contextlib
import functools
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from ..dirs import AREAS, cache_area
from ..errors import ConfigError
from ..fsutil import remove, sweep, tree_size, try_flock
from .stages import StageCache

_UNITS = {"": 1, "K": 1 << 10, "M": 1 << 20, "G": 1 << 30, "T": 1 << 40}


def parse_size(text: str, what: str = "size") -> int:
    """``500M``, ``2G``, ``1.5g``, ``123`` (bytes) -> bytes."""
    raw = text.strip().upper().removesuffix("B").removesuffix("I")
    unit = raw[-1] if raw and raw[-1] in _UNITS else ""
    try:
        value = float(raw[: len(raw) - len(unit)] or "x")
    except ValueError:
        value = -1.0
    if not 0 <= value < 1 << 60:  # also rejects nan and inf
        raise ConfigError(f"{what} {text!r} is not a size", hint="e.g. 500M or 2G; 0 empties")
    return int(value * _UNITS[unit])


@dataclass(frozen=True)
class Item:
    area: str
    path: Path
    size: int
    last_used: float
    remove: Callable[[], bool]


def _remove_unless_locked(path: Path) -> bool:
    """Remove ``path`` unless some process holds a flock on it (a running build or module)."""
    fd = try_flock(path)
    if fd is None and path.exists():
        return False
    try:
        remove(path)
    finally:
        if fd is not None:
            os.close(fd)
    return True


def _plain(area: str, directory: Path) -> list[Item]:
    items: list[Item] = []
    if not directory.is_dir():
        return items
    for entry in directory.iterdir():
        if entry.name.startswith(".") or entry.name.endswith(".lock"):
            continue
        with contextlib.suppress(OSError):
            st = entry.lstat()
            items.append(Item(area, entry, tree_size(entry), st.st_mtime,
                              functools.partial(_remove_unless_locked, entry)))
    return items


def items(cache: StageCache | None = None) -> list[Item]:
    """Everything the cache holds, one item per entry, across all areas."""
    stages = cache or StageCache()
    out = [Item("stages", e.path, e.size, e.last_used, functools.partial(stages.remove, e))
           for e in stages.entries()]
    for area in AREAS:
        if area not in ("stages", "builds"):
            out.extend(_plain(area, cache_area(area)))
    return out


def usage(cache: StageCache | None = None) -> dict[str, int]:
    """Bytes per area (after sweeping leftovers of dead writers)."""
    sweep_all(cache)
    sizes = dict.fromkeys(AREAS, 0)
    for item in items(cache):
        sizes[item.area] += item.size
    builds = cache_area("builds")
    if builds.is_dir():
        sizes["builds"] = tree_size(builds)
    return sizes


def sweep_all(cache: StageCache | None = None) -> int:
    """Remove ``.tmp-*`` leftovers of dead writers everywhere (a dead build's work dir is one)."""
    freed = (cache or StageCache()).sweep()
    for area in AREAS:
        freed += sweep(cache_area(area))
    return freed


def prune(max_bytes: int, cache: StageCache | None = None) -> tuple[int, int]:
    """Trim the cache to ``max_bytes`` (least recently used first). Returns (removed, freed)."""
    freed = sweep_all(cache)
    removed = 0
    pool = sorted(items(cache), key=lambda i: i.last_used)
    total = sum(i.size for i in pool)
    for item in pool:
        if total <= max_bytes:
            break
        if item.remove():
            total -= item.size
            freed += item.size
            removed += 1
    return removed, freed


def auto_prune(cache: StageCache | None = None) -> tuple[int, int]:
    """Apply ``WASMBUILD_CACHE_MAX`` (e.g. ``5G``) if set; called after each build."""
    cap = os.environ.get("WASMBUILD_CACHE_MAX", "").strip()
    if not cap:
        return 0, 0
    return prune(parse_size(cap, "WASMBUILD_CACHE_MAX"), cache)
