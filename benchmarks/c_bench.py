"""P12: one-line change in one ``.c`` file of a real Makefile / CMake project, wasmbuild against
native ``make`` / ``cmake --build`` incremental, in one run.

The projects are examples/real-bzip2 (bzip2 1.0.8's plain Makefile) and examples/real-cmark
(cmark 0.30.2's CMakeLists.txt), their upstream trees from Debian source packages
(scripts/fetch-real-source). The native side is the same build with the same cross compiler
(the wrappers, toolchain file and flags of wasmbuild's ``c`` toolchain, and the Wasmfile's own
make arguments / cmake defines), run in a copy of the tree. Per round, with fresh state (private
WASMBUILD_CACHE/WASMBUILD_STORE, empty build directories):

* cold: `wasmbuild build` vs the native build;
* P12: one line of bzip2.c (usage's help line) / cmark's src/main.c (print_usage's first line)
  changed in both copies, then the two commands again: the native build tree recompiles that
  file and links; wasmbuild's recipe keeps its build directory (a persistent stage cache).

Run: ``.venv/bin/python benchmarks/c_bench.py --rounds 3`` (prints a table; --json too).
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

import yaml

ROOT = Path(__file__).resolve().parents[1]
#: project -> (Debian source package, stage, the edited file, the line's text, what replaces it)
PROJECTS = {
    "bzip2": ("bzip2", "bzip2", "bzip2.c", "print this message", "print this message (edited)"),
    "cmark": ("cmark", "cmark", "src/main.c", "Usage:   cmark [FILE*]", "Usage:   cmark [FILE...]"),
}


def timed(argv: list[str], cwd: Path, env: dict[str, str]) -> float:
    start = time.monotonic()
    proc = subprocess.run(argv, cwd=cwd, env=env, capture_output=True, text=True)
    elapsed = time.monotonic() - start
    if proc.returncode != 0:
        sys.exit(f"{' '.join(argv)} failed:\n{proc.stdout[-1500:]}\n{proc.stderr[-3000:]}")
    return elapsed


def native_command(name: str, params: dict[str, object], tree: Path, env: dict[str, str]) -> list[str]:
    """The build the recipe runs, natively: make's arguments / cmake's defines from the Wasmfile."""
    jobs = str(os.cpu_count() or 1)
    if name == "bzip2":
        args = [str(a) for a in params.get("args", [])]  # type: ignore[attr-defined]
        targets = [str(t) for t in params.get("targets", [])]  # type: ignore[attr-defined]
        return ["make", f"-j{jobs}", f"CC={env['CC']}", f"AR={env['AR']}", f"RANLIB={env['RANLIB']}",
                *args, *targets]
    build = tree / "build"
    if not (build / "CMakeCache.txt").is_file():
        defines = [f"-D{d}" for d in params.get("defines", [])]  # type: ignore[attr-defined]
        subprocess.run(["cmake", "-S", str(tree), "-B", str(build), "-G", "Unix Makefiles",
                        f"-DCMAKE_TOOLCHAIN_FILE={env['CMAKE_TOOLCHAIN_FILE']}", "-DCMAKE_BUILD_TYPE=Release",
                        *defines], check=True, capture_output=True, env=env)
    return ["cmake", "--build", str(build), "-j", jobs]


def one_round(wb: list[str], name: str, tcenv: dict[str, str]) -> dict[str, float]:
    package, stage, edited, old, new = PROJECTS[name]
    with tempfile.TemporaryDirectory(prefix="c-bench-") as tmp:
        root = Path(tmp)
        ctx = root / f"real-{name}"
        shutil.copytree(ROOT / "examples" / f"real-{name}", ctx, ignore=shutil.ignore_patterns("upstream"))
        subprocess.run([str(ROOT / "scripts" / "fetch-real-source"), package, str(ctx / "upstream")],
                       check=True, capture_output=True)
        native = root / "native"
        shutil.copytree(ctx / "upstream", native, symlinks=True)
        params = yaml.safe_load((ctx / "Wasmfile").read_text())["stages"][stage]["with"]
        env = {**{k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"},  # .pyc as installed
               "WASMBUILD_CACHE": str(root / "cache"), "WASMBUILD_STORE": str(root / "store")}
        nenv = {**os.environ, **tcenv}
        build = [*wb, "build", str(ctx)]
        # the configure step (cmake) is not part of the native timing: it runs once, before
        r = {"native_cold": timed(native_command(name, params, native, nenv), native, nenv),
             "wb_cold": timed(build, root, env)}
        for where in (ctx / "upstream", native):
            path = where / edited
            text = path.read_text(encoding="latin-1")
            assert text.count(old) == 1, (path, old)
            path.write_text(text.replace(old, new), encoding="latin-1")
        r["native_edit"] = timed(native_command(name, params, native, nenv), native, nenv)
        r["wb_edit"] = timed(build, root, env)
        r["wb_noop"] = timed(build, root, env)
        return r


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    from wasmbuild.execute import toolchains

    tc = toolchains.get("c")
    assert tc is not None, "no C toolchain"
    wb = [sys.executable, "-m", "wasmbuild"]
    result: dict[str, object] = {"toolchain": tc.identity}
    rows = []
    for name in PROJECTS:
        rounds = [one_round(wb, name, tc.env) for _ in range(args.rounds)]
        med = {k: statistics.median(r[k] for r in rounds) for k in rounds[0]}
        result[name] = {"median_seconds": med, "rounds": rounds}
        rows.append((f"P12 {name}: one-line change to {PROJECTS[name][2]}", med["wb_edit"], med["native_edit"]))
        rows.append((f"{name}: cold build", med["wb_cold"], med["native_cold"]))
        rows.append((f"{name}: no-op rebuild", med["wb_noop"], None))
    load = os.getloadavg()
    result["load_average"] = load
    if args.json:
        print(json.dumps(result, indent=2))
        return
    print(f"{tc.identity}; {args.rounds} rounds, medians")
    print("| benchmark | wasmbuild | native | ratio |\n|---|---:|---:|---:|")
    for what, ours, peer in rows:
        ratio = f"{ours / peer:.2f}x" if peer else "-"
        print(f"| {what} | {ours:.2f} s | {f'{peer:.2f} s' if peer else '-'} | {ratio} |")
    print(f"load average at the end (1, 5, 15 min): {load[0]:.1f} {load[1]:.1f} {load[2]:.1f}")


if __name__ == "__main__":
    main()
