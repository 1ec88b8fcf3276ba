#!/usr/bin/env python3
"""A 100 MB ignored folder keeps a no-op rebuild as fast as without it (.wasmignore).

    python benchmarks/ignore_bench.py [--size-mb 100] [--file-kb 10] [--repeat 7]

One project, three contexts, each built once cold and then rebuilt ``--repeat`` times with
nothing changed (every stage cached, asserted; the rebuilds of the three alternate): the median
wall and CPU time (user + system) of ``wasmbuild build``:

* **baseline**: the sources alone;
* **ignored**: plus a ``node_modules/``-like folder of ``--size-mb`` MB in ``--file-kb`` KB
  files, listed in ``.wasmignore``;
* **not ignored**: the same folder without the ignore file (what the ignore file saves).

The stage takes the whole context (``inputs: [.]``), as the ``rust`` recipe's ``crate: .`` does,
so every file in the context is part of its cache key unless ignored. Small files are hashed on
every build (the digest memo only remembers files of 256 KiB and more), the worst case for a
``node_modules`` or ``target`` folder. Goal: ignored / baseline <= 1.1 in CPU time (wall time
on a shared machine swings by 2x between runs). Prints a markdown table.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
GOLDEN = ROOT / "tests" / "fixtures" / "golden" / "hello.wasm"
WASMFILE = """\
wasmfile: 1
stages:
  app:
    inputs: [.]
    steps: ["cp $SRC/hello.wasm $OUT/app.wasm"]
    outputs: [app.wasm]
image:
  files: [{from: app, path: app.wasm, dest: /app.wasm}]
  entrypoint: [app.wasm]
"""


def make_project(root: Path, folder_mb: int, file_kb: int, ignore: bool) -> Path:
    root.mkdir(parents=True)
    shutil.copy(GOLDEN, root / "hello.wasm")
    (root / "Wasmfile").write_text(WASMFILE)
    (root / "main.c").write_text("int main(void) { return 0; }\n")
    if folder_mb:
        count = folder_mb * 1024 // file_kb
        for i in range(count):
            d = root / "node_modules" / f"pkg{i // 100:04d}"
            d.mkdir(parents=True, exist_ok=True)
            (d / f"f{i % 100:02d}.js").write_bytes(os.urandom(file_kb * 1024))
    if ignore:
        (root / ".wasmignore").write_text("node_modules\nWasmfile\n")
    return root


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def build(ctx: Path, state: Path) -> tuple[float, float, dict[str, object]]:
    """(wall seconds, CPU seconds of the build process, its --json result)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("WASMBUILD_")}
    env.update(WASMBUILD_STORE=str(state / "store"), WASMBUILD_CACHE=str(state / "cache"))
    start, cpu = time.perf_counter(), _cpu()
    proc = subprocess.run([sys.executable, "-m", "wasmbuild", "build", str(ctx), "--json"], env=env,
                          capture_output=True, text=True, cwd=ROOT, check=False)
    elapsed, used = time.perf_counter() - start, _cpu() - cpu
    if proc.returncode != 0:
        raise SystemExit(f"build failed: {proc.stderr}")
    return elapsed, used, json.loads(proc.stdout)


def noop(ctx: Path, state: Path) -> tuple[float, float]:
    took, cpu, result = build(ctx, state)
    stages = result["stages"]
    assert isinstance(stages, list) and all(s["cached"] for s in stages), "a no-op rebuild ran a stage"
    return took, cpu


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--size-mb", type=int, default=100)
    ap.add_argument("--file-kb", type=int, default=10)
    ap.add_argument("--repeat", type=int, default=7)
    args = ap.parse_args()
    rows = []
    with tempfile.TemporaryDirectory(prefix="wasmbuild-ignore-bench-") as tmp:
        work = Path(tmp)
        cases = [("baseline (no folder)", 0, False), (f"{args.size_mb} MB folder, ignored", args.size_mb, True),
                 (f"{args.size_mb} MB folder, not ignored", args.size_mb, False)]
        ctxs = [make_project(work / f"ctx{i}", size, args.file_kb, ignore)
                for i, (_, size, ignore) in enumerate(cases)]
        colds = [build(ctx, work / f"state{i}")[0] for i, ctx in enumerate(ctxs)]
        # Rounds interleave the cases, so a busy moment of a shared machine hits them all alike.
        walls: list[list[float]] = [[] for _ in cases]
        cpus: list[list[float]] = [[] for _ in cases]
        for _ in range(args.repeat):
            for i, ctx in enumerate(ctxs):
                wall, cpu = noop(ctx, work / f"state{i}")
                walls[i].append(wall)
                cpus[i].append(cpu)
        for i, (name, _, _) in enumerate(cases):
            rows.append((name, colds[i], statistics.median(walls[i]), statistics.median(cpus[i])))
            print(f"{name}: cold {colds[i] * 1000:.0f} ms, no-op wall {[round(t * 1000) for t in walls[i]]} ms",
                  file=sys.stderr, flush=True)
    base_wall, base_cpu = rows[0][2], rows[0][3]
    print(f"| context ({args.size_mb} MB in {args.file_kb} KB files) | cold build | no-op rebuild (wall) "
          "| no-op rebuild (CPU) | no-op CPU vs baseline |")
    print("| --- | ---: | ---: | ---: | ---: |")
    for name, cold, wall, cpu in rows:
        print(f"| {name} | {cold * 1000:.0f} ms | {wall * 1000:.0f} ms | {cpu * 1000:.0f} ms | {cpu / base_cpu:.2f}x |")
    ratio, wall_ratio = rows[1][3] / base_cpu, rows[1][2] / base_wall
    print(f"\ngoal ignored/baseline <= 1.1 (CPU time; wall {wall_ratio:.2f}x): "
          f"{'met' if ratio <= 1.1 else 'missed'} ({ratio:.2f}x)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
