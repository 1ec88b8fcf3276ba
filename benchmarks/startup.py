#!/usr/bin/env python3
"""Start-up of Wasm images (issue 10: P9, P9b, P10), with and without a precompiled extra.

    .venv/bin/python benchmarks/startup.py --store STORE \\
        --image current=wasm-cpython:latest --image preinit=wasm-cpython-preinit:latest \\
        --repeat 5 [--json out.json]

For each ``--image NAME=REF`` (a tag or digest in the wasmbuild store ``STORE``):
  * P10: the image's compressed bytes (config + layers + manifest), and the extra's;
  * P9, first run on an empty cache: a fresh ``WASMBUILD_CACHE`` per run (the root filesystem
    unpacked, the module compiled -- or loaded from the extra --, the engine key computed),
    without the extra (``WASMBUILD_PRECOMPILED=0``) and with it (attached here first, as
    ``build --precompile`` does, if the image has none), through
      - ``cli``: ``wasmbuild run REF`` (its fast path: no typer, rich or pydantic),
      - ``runtime``: ``wasmbuild.runtime.run.run`` from ``python -c`` (no CLI code at all);
  * P9b, warm: the same commands with the cache filled, plus ``cli-full`` (the Typer command,
    ``WASMBUILD_FAST_RUN=0``) for comparison, against native ``python3 -S main.py`` run in the
    unpacked root (the seed's native run); and the module's own start inside one process
    (instantiate + ``_start`` of the compiled module: what a long-lived host pays).
Wall times are medians of ``--repeat`` runs, the images and variants taking turns so that a
change of machine load hits all alike; the load average is printed before and after. Only the
store (an extra, when missing) and temporary directories are written.
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
from typing import Any

NATIVE = "/usr/bin/python3"
CLI = [sys.executable, "-m", "wasmbuild", "run"]
RUNTIME = [sys.executable, "-c",
           "import sys; from wasmbuild.oci.layout import Layout; from wasmbuild.runtime.run import run; "
           "layout = Layout(sys.argv[1]); sys.exit(run(layout, layout.resolve(sys.argv[2]), precompiled=True))"]


def timed(cmd: list[str], env: dict[str, str], cwd: Path | None = None) -> tuple[float, str]:
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, env=env, cwd=cwd, capture_output=True, text=True, timeout=600)
    elapsed = time.perf_counter() - t0
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed ({proc.returncode}): {proc.stderr[-2000:]}")
    return elapsed, proc.stdout


def same(output: str) -> str:
    """The output with a printed list sorted (main.py lists "/": directory order may differ)."""
    import ast

    lines = [repr(sorted(ast.literal_eval(x))) if x.startswith("[") else x for x in output.splitlines()]
    return "\n".join(lines)


def loadavg() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def ensure_extra(store: Path, ref: str) -> float | None:
    """Attach a precompiled extra for this machine unless the image has one; seconds it took."""
    from wasmbuild.assemble.precompile import precompile
    from wasmbuild.oci.layout import Layout
    from wasmbuild.oci.referrers import referrers
    from wasmbuild.wasm.precompiled import ARTIFACT_TYPE, HOST, resolve_targets

    layout = Layout(store)
    desc = layout.resolve(ref)
    if referrers(layout, desc.digest, ARTIFACT_TYPE):
        return None
    t0 = time.perf_counter()
    with layout.writing():
        precompile(layout, desc, resolve_targets([HOST]))
    return time.perf_counter() - t0


def sizes(store: Path, ref: str) -> dict[str, Any]:
    from wasmbuild.oci.layout import Layout
    from wasmbuild.oci.referrers import referrers
    from wasmbuild.wasm.precompiled import ANN_TARGET, ARTIFACT_TYPE

    layout = Layout(store)
    desc = layout.resolve(ref)
    manifest = layout.read_json(desc.digest)
    extras = []
    for d in referrers(layout, desc.digest, ARTIFACT_TYPE):
        [layer] = layout.read_json(d.digest)["layers"]
        extras.append({"target": d.annotations.get(ANN_TARGET), "bytes": int(layer["size"])})
    image = desc.size + int(manifest["config"]["size"]) + sum(int(x["size"]) for x in manifest["layers"])
    return {"digest": desc.digest, "image_bytes": image, "extras": extras}


def module_starts(store: Path, refs: dict[str, str], rounds: int) -> dict[str, float]:
    """Median time to instantiate each image's compiled module and run its ``_start`` in this process."""
    import wasmtime

    from wasmbuild.oci.layout import Layout
    from wasmbuild.runtime.run import load_module, rootfs, run_spec

    layout = Layout(store)
    engine = wasmtime.Engine()
    linker = wasmtime.Linker(engine)
    linker.define_wasi()
    runs: dict[str, list[float]] = {name: [] for name in refs}
    with tempfile.TemporaryDirectory(prefix="wb-startup-") as tmp:
        os.environ["WASMBUILD_CACHE"] = tmp
        prepared = {}
        for name, ref in refs.items():
            desc = layout.resolve(ref)
            manifest = layout.read_json(desc.digest)
            spec = run_spec(layout.read_json(manifest["config"]["digest"]), [], {})
            with rootfs(layout, manifest, desc.digest) as root:
                prepared[name] = (spec, root, load_module(engine, root / spec.module.lstrip("/")))
        for _ in range(rounds + 1):
            for name, (spec, root, module) in prepared.items():
                t0 = time.perf_counter()
                store_ = wasmtime.Store(engine)
                wasi = wasmtime.WasiConfig()
                wasi.argv, wasi.env = spec.argv, list(spec.env.items())
                wasi.preopen_dir(str(root), "/", fs_mutable=False)
                wasi.stdout_file = os.devnull
                store_.set_wasi(wasi)
                try:
                    start = linker.instantiate(store_, module).exports(store_)["_start"]
                    start(store_)  # type: ignore[operator]
                except wasmtime.ExitTrap as exc:
                    assert exc.code == 0, exc.code
                runs[name].append(time.perf_counter() - t0)
    return {name: statistics.median(times[1:]) for name, times in runs.items()}


def measure(store: Path, images: dict[str, str], repeat: int) -> dict[str, Any]:
    base = {k: v for k, v in os.environ.items() if not k.startswith("WASMBUILD_")}
    base["WASMBUILD_STORE"] = str(store)
    results: dict[str, dict[str, Any]] = {name: {"ref": ref} for name, ref in images.items()}
    outputs: set[str] = set()
    with tempfile.TemporaryDirectory(prefix="wb-startup-") as tmp:
        def cold(ref: str, how: str, extra: bool) -> float:
            cache = Path(tmp) / f"cold-{time.monotonic_ns()}"
            env = {**base, "WASMBUILD_CACHE": str(cache), "WASMBUILD_PRECOMPILED": "1" if extra else "0"}
            cmd = [*CLI, ref] if how == "cli" else [*RUNTIME, str(store), ref]
            elapsed, out = timed(cmd, env)
            outputs.add(same(out))
            shutil.rmtree(cache, ignore_errors=True)
            return elapsed

        variants = [(how, extra) for extra in (False, True) for how in ("cli", "runtime")]
        cold_runs: dict[tuple[str, str, bool], list[float]] = {}
        for _ in range(repeat):
            for name, ref in images.items():
                for how, extra in variants:
                    cold_runs.setdefault((name, how, extra), []).append(cold(ref, how, extra))
        for (name, how, extra), runs in cold_runs.items():
            results[name][f"P9 {how}{' + extra' if extra else ''}"] = statistics.median(runs)

        warm_env: dict[str, dict[str, str]] = {}
        for name, ref in images.items():
            env = {**base, "WASMBUILD_CACHE": str(Path(tmp) / f"warm-{name}"), "WASMBUILD_PRECOMPILED": "0"}
            timed([*CLI, ref], env)  # fills the cache
            warm_env[name] = env
        commands = {"cli": lambda ref: [*CLI, ref], "cli-full": lambda ref: [*CLI, ref],
                    "runtime": lambda ref: [*RUNTIME, str(store), ref]}
        warm_runs: dict[tuple[str, str], list[float]] = {}
        native_runs: dict[str, list[float]] = {}
        for _ in range(repeat):
            for name, ref in images.items():
                for how, cmd in commands.items():
                    env = {**warm_env[name], "WASMBUILD_FAST_RUN": "0" if how == "cli-full" else "1"}
                    warm_runs.setdefault((name, how), []).append(timed(cmd(ref), env)[0])
                root = next((Path(warm_env[name]["WASMBUILD_CACHE"]) / "rootfs").iterdir())
                if (root / "main.py").is_file():
                    native_runs.setdefault(name, []).append(
                        timed([NATIVE, "-S", "main.py"], {"PATH": "/usr/bin:/bin"}, cwd=root)[0])
        for (name, how), runs in warm_runs.items():
            results[name][f"warm {how}"] = statistics.median(runs)
        for name, runs in native_runs.items():
            results[name]["native"] = statistics.median(runs)
            results[name]["P9b cli/native"] = results[name]["warm cli"] / results[name]["native"]
            results[name]["P9b runtime/native"] = results[name]["warm runtime"] / results[name]["native"]
    starts = module_starts(store, images, max(repeat, 21))
    for name in images:
        results[name]["in-process start"] = starts[name]
        results[name]["sizes"] = sizes(store, images[name])
    return {"results": results, "same_output": len(outputs) == 1}


def table(results: dict[str, dict[str, Any]]) -> str:
    cols = ["P9 cli", "P9 cli + extra", "P9 runtime", "P9 runtime + extra", "warm cli", "warm cli-full",
            "warm runtime", "native", "P9b cli/native", "P9b runtime/native", "in-process start"]
    lines = ["| image | P10 image | extra (zstd) | " + " | ".join(cols) + " |",
             "|---|" + "---:|" * (len(cols) + 2)]
    for name, r in results.items():
        extra = ", ".join(f"{e['bytes'] / 1e6:.2f} MB" for e in r["sizes"]["extras"]) or "-"
        cells = [f"{r[c]:.2f}x" if "/" in c else (f"{r[c] * 1000:.1f} ms" if c == "in-process start"
                                                    else f"{r[c]:.3f} s") if c in r else "-" for c in cols]
        lines.append(f"| {name} | {r['sizes']['image_bytes'] / 1e6:.2f} MB | {extra} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--store", type=Path, required=True)
    parser.add_argument("--image", action="append", required=True, help="NAME=REF")
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    os.environ["WASMBUILD_STORE"] = str(args.store)
    images = dict(item.split("=", 1) for item in args.image)
    attached = {name: ensure_extra(args.store, ref) for name, ref in images.items()}
    before = loadavg()
    t0 = time.monotonic()
    data = measure(args.store, images, args.repeat)
    after = loadavg()
    for name, seconds in attached.items():
        data["results"][name]["attach_s"] = seconds
    print(table(data["results"]))
    print(f"\nmedians of {args.repeat} ({time.monotonic() - t0:.0f} s); load average before {before}, after {after} "
          f"({os.cpu_count()} CPUs); {'same output from every run' if data['same_output'] else 'OUTPUTS DIFFER'}")
    if args.json:
        args.json.write_text(json.dumps({"load_before": before, "load_after": after, **data}, indent=2) + "\n")


if __name__ == "__main__":
    main()
