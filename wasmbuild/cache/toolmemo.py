"""Remember probed toolchains between runs (probing clang links a test program: ~0.3 s).

A memo entry is used only while everything the probe depended on is unchanged: the environment
variables that steer the search, and the stat signature (mtime, size, inode) of each "witness"
path the prober names (PATH directories, the chosen compiler and its directory, the target's
standard library). Installing, removing or upgrading a compiler changes one of those, and the
next build probes again. What a toolchain *is* stays the prober's business: this module stores
plain JSON and knows nothing about compilers.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
from collections.abc import Callable, Iterable
from typing import Any

from ..dirs import cache_area
from ..fsutil import atomic_write_bytes

MEMO_VERSION = 5  # 3: the component toolchain names its package directory; 4: probes' info; 5: writable


def _sig(path: str) -> str:
    try:
        st = os.stat(path)
    except OSError:
        return "missing"
    return f"{st.st_mtime_ns}:{st.st_size}:{st.st_ino}"


def remembered(name: str, probe: Callable[[], dict[str, Any]],
               witnesses: Callable[[dict[str, Any]], Iterable[str]],
               env_keys: Iterable[str]) -> dict[str, Any]:
    """``probe()``'s result for ``name``, from the memo when no witness and no env key changed."""
    material = json.dumps([MEMO_VERSION, name, [os.environ.get(k, "") for k in env_keys]])
    path = cache_area("toolchains") / f"{name}-{hashlib.sha256(material.encode()).hexdigest()[:32]}.json"
    try:
        data = json.loads(path.read_bytes())
        if all(_sig(p) == s for p, s in data["witnesses"].items()):
            found: dict[str, Any] = data["value"]
            return found
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        pass
    value = probe()
    data = {"value": value, "witnesses": {p: _sig(p) for p in sorted(set(witnesses(value)))}}
    with contextlib.suppress(OSError):  # a read-only cache only costs the probe next time
        atomic_write_bytes(path, json.dumps(data, indent=1).encode())
    return value
