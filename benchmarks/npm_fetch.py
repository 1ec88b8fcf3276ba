#!/usr/bin/env python3
"""How long fetching npm packages takes, one `npm pack` per package or batched as a build does
(wasmbuild.execute.fetch.npm_pack_many), each run with an empty download cache and an empty npm
cache: the first N packages of the javascript recipe's toolchain-lock.json.

    .venv/bin/python benchmarks/npm_fetch.py one 30
    .venv/bin/python benchmarks/npm_fetch.py batch 150
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def main() -> int:
    mode, count = sys.argv[1], int(sys.argv[2])
    tmp = tempfile.mkdtemp(prefix="wasmbuild-npm-bench-")
    os.environ["WASMBUILD_CACHE"], os.environ["NPM_CONFIG_CACHE"] = f"{tmp}/cache", f"{tmp}/npm"
    sys.path.insert(0, str(REPO))
    from wasmbuild.execute import fetch
    from wasmbuild.load.packages import Pin

    spec = importlib.util.spec_from_file_location("javascript_recipe", REPO / "recipes/javascript/toolchain.py")
    assert spec is not None and spec.loader is not None
    recipe = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(recipe)
    lock = REPO / "recipes/javascript/toolchain-lock.json"
    found = sorted({(p["name"], p["version"], p["integrity"]) for p in recipe.npm_lock(lock.read_text(), str(lock))})
    items = [(name, version, Pin.sri(sri)) for name, version, sri in found[:count]]
    start = time.perf_counter()
    try:
        if mode == "one":
            for name, version, pin in items:
                fetch.npm_pack(name, version, pin)
        else:
            fetch.npm_pack_many(items)
    finally:
        shutil.rmtree(tmp)
    print(f"{mode}: {len(items)} packages in {time.perf_counter() - start:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
