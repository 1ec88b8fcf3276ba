#!/usr/bin/env python3
"""Sizes and start-up of each language's hello image (issue 20, item 4), next to each other:
for every example under examples/ (those without a Wasmfile get the one `wasmbuild init` writes),
the image's compressed bytes (manifest + config + layers, as a registry stores them), the module's
bytes, the first `wasmbuild run` on an empty cache (wasmtime compiles the module) and the warm
one (median of --repeat), with the load average before and after.

    .venv/bin/python benchmarks/languages.py [--repeat 5] [--only go,zig] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
WB = [sys.executable, "-m", "wasmbuild"]
ARGS = ["a"]  # every example takes arguments; "fail" would exit 7


def _wb(*args: str, env: dict[str, str], cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*WB, *args], env=env, cwd=cwd, capture_output=True, text=True, timeout=1800)


def _bytes(layout: Path) -> tuple[int, int]:
    """(compressed image bytes, the largest layer's bytes) of the one image in an oci: layout."""
    blob = lambda d: json.loads((layout / "blobs" / "sha256" / d["digest"].split(":")[1]).read_text())  # noqa: E731
    index = json.loads((layout / "index.json").read_text())
    seen: dict[str, int] = {}
    largest = 0
    todo = list(index["manifests"])
    while todo:
        desc = todo.pop()
        seen[desc["digest"]] = desc["size"]
        doc = blob(desc)
        todo += doc.get("manifests", [])
        for layer in [doc["config"], *doc.get("layers", [])] if "config" in doc else []:
            seen[layer["digest"]] = layer["size"]
            largest = max(largest, layer["size"]) if layer is not doc["config"] else largest
    return sum(seen.values()), largest


def measure(example: Path, repeat: int, env: dict[str, str], tmp: Path) -> dict[str, object]:
    ctx = tmp / example.name
    shutil.copytree(example, ctx)
    if not (ctx / "Wasmfile").exists():
        subprocess.run([*WB, "init", str(ctx)], env=env, check=True, capture_output=True)
    layout = tmp / f"{example.name}.oci"
    built = _wb("build", str(ctx), "--json", "-o", f"oci:{layout}", env=env)
    if built.returncode != 0:
        return {"example": example.name, "error": built.stderr.strip().splitlines()[-1:]}
    image_bytes, layer = _bytes(layout)
    first_env = {**env, "WASMBUILD_CACHE": str(tmp / f"{example.name}.first-cache")}
    start = time.perf_counter()
    first = _wb("run", f"oci:{layout}", *ARGS, env=first_env)
    first_s = time.perf_counter() - start
    warm = []
    for _ in range(repeat):
        start = time.perf_counter()
        _wb("run", f"oci:{layout}", *ARGS, env=first_env)
        warm.append(time.perf_counter() - start)
    return {"example": example.name, "image_bytes": image_bytes, "layer_bytes": layer, "exit": first.returncode,
            "first_run_s": round(first_s, 3), "warm_run_s": round(statistics.median(warm), 3)}


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--only", default="")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    wanted = [w for w in args.only.split(",") if w]
    examples = sorted(p for p in (REPO / "examples").glob("hello-*") if p.is_dir()
                      and (not wanted or p.name.removeprefix("hello-") in wanted))
    load = [os.getloadavg()[0]]
    rows = []
    with tempfile.TemporaryDirectory() as t:
        env = {**os.environ, "WASMBUILD_STORE": f"{t}/store"}
        for example in examples:
            rows.append(measure(example, args.repeat, env, Path(t)))
            print(json.dumps(rows[-1]), flush=True)
    load.append(os.getloadavg()[0])
    print(f"load average {load[0]:.2f} -> {load[1]:.2f}; warm runs: median of {args.repeat}")
    print(f"{'example':<22}{'image bytes':>12}{'layer bytes':>12}{'first run':>11}{'warm run':>10}")
    for r in rows:
        if "error" in r:
            print(f"{r['example']:<22} failed: {r['error']}")
        else:
            print(f"{r['example']:<22}{r['image_bytes']:>12,}{r['layer_bytes']:>12,}{r['first_run_s']:>10}s{r['warm_run_s']:>9}s")
    if args.json:
        args.json.write_text(json.dumps({"rows": rows, "load": load}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
