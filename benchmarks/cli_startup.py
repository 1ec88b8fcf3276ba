#!/usr/bin/env python3
"""Start-up of the commands that should cost little (issue 18, item 5): `check`, `plan` and a
no-op `build` of Wasmfile.example, median wall time of ``--repeat`` runs each, the commands
taking turns; with the full Typer CLI (``WASMBUILD_FAST_RUN=0``) for `check` as the peer of its
fast path, each command also with replaying off (``WASMBUILD_REPLAY=0``: what the first run after
a change costs, ``wasmbuild/cache/results.py``), and the bare interpreter as the floor. The load
average is printed before and after, and the CPU time (user + sys) of each command next to its
wall time: on a shared machine the CPU time moves less.

Bytecode: the commands run as an installed wasmbuild does, with its modules' ``.pyc`` files
(``pip install`` writes them; a one-off warm-up run writes them for a checkout), so
``PYTHONDONTWRITEBYTECODE`` is dropped from the environment: with it set, every module is
compiled from source on every run (~0.1 s more for `check`).

    .venv/bin/python benchmarks/cli_startup.py [--repeat 10] [--json out.json]

`python -X importtime -m wasmbuild check Wasmfile.example` says where the rest goes.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
WB = [sys.executable, "-m", "wasmbuild"]
GOALS = {"check": 0.15, "build (no-op)": 0.25}


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=10)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
        env |= {"WASMBUILD_STORE": f"{tmp}/store", "WASMBUILD_CACHE": f"{tmp}/cache"}
        wasmfile = str(REPO / "Wasmfile.example")
        build = [*WB, "build", "-f", wasmfile, str(REPO)]
        subprocess.run(build, env=env, check=True, capture_output=True)  # then every build is a no-op
        commands = {
            "python -c pass": [sys.executable, "-c", "pass"],
            "check": [*WB, "check", wasmfile],
            "check (not replayed)": [*WB, "check", wasmfile],
            "check (full CLI)": [*WB, "check", wasmfile],
            "plan": [*WB, "plan", wasmfile],
            "build (no-op)": build,
            "build (no-op, not replayed)": build,
        }
        times: dict[str, list[float]] = {k: [] for k in commands}
        cpu: dict[str, list[float]] = {k: [] for k in commands}
        for _ in range(2):  # warm-up: bytecode written, memos filled (after the 2 s a fresh file is
            time.sleep(2.5)  # not trusted for: cache/results.py RACY_SECONDS)
            for argv in commands.values():
                subprocess.run(argv, env=env, check=True, capture_output=True)
        load_before = os.getloadavg()[0]
        for _ in range(args.repeat):
            for name, argv in commands.items():
                run_env = {**env, "WASMBUILD_FAST_RUN": "0", "WASMBUILD_REPLAY": "0"} if "full CLI" in name else env
                if "not replayed" in name:
                    run_env = {**env, "WASMBUILD_REPLAY": "0"}
                start = time.perf_counter()
                proc = subprocess.Popen(argv, env=run_env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
                _, status, usage = os.wait4(proc.pid, 0)
                times[name].append(time.perf_counter() - start)
                proc.returncode = os.waitstatus_to_exitcode(status)
                if proc.returncode != 0:
                    raise SystemExit(f"{name}: exit {proc.returncode}")
                cpu[name].append(usage.ru_utime + usage.ru_stime)
        load_after = os.getloadavg()[0]
    rows = {name: statistics.median(t) for name, t in times.items()}
    cpu_rows = {name: statistics.median(t) for name, t in cpu.items()}
    print(f"load average {load_before:.2f} -> {load_after:.2f}; median of {args.repeat}")
    for name, seconds in rows.items():
        goal = GOALS.get(name)
        print(f"{name:<28} {seconds:6.3f} s (cpu {cpu_rows[name]:.3f} s)"
              + (f"   goal <= {goal} s: {'met' if seconds <= goal else 'not met'}" if goal else ""))
    if args.json:
        args.json.write_text(json.dumps({"median_s": rows, "cpu_s": cpu_rows, "load": [load_before, load_after],
                                         "repeat": args.repeat}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
