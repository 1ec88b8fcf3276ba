"""P11, P13, P14: wasmbuild's rust recipe against native cargo on a real crate, in one run.

The crate uses regex, serde_json and anyhow (and their dependencies) from Debian's packaged
crate sources (/usr/share/cargo/registry: `apt-get install librust-regex-dev
librust-serde-json-dev librust-anyhow-dev`, done by scripts/bootstrap --test), vendored into the
crate as `cargo vendor` would (source replacement in .cargo/config.toml). Per round, with fresh
state (private WASMBUILD_CACHE/WASMBUILD_STORE, an empty target directory):

* P13 cold: `wasmbuild build` vs `cargo build --release --target $WASM_TARGET` (the cargo,
  rustc and target wasmbuild's rust toolchain probe picks: RUSTC is set for the native run);
* P11 one-line change to src/main.rs, then the same two commands again (cargo incremental,
  wasmbuild with the recipe's persistent target/CARGO_HOME caches);
* P14 no-op: `wasmbuild build` twice more with nothing changed, 2.5 s later: the first does the
  work (and records it for replay), the second is replayed.

``--project wordstat``: the 28-crate program of tests/fixtures/rust-crates instead, its crates
fetched from Cargo.lock (the recipe's ``crates:``) from a registry of Debian's crates served on
127.0.0.1 (tests/support/crates.py); native cargo builds it against the same crates (a directory
source replacement).

Run: ``.venv/bin/python benchmarks/cargo_bench.py --rounds 3`` (prints a table; --json too).
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
from contextlib import ExitStack
from pathlib import Path
from typing import Any

REGISTRY = Path("/usr/share/cargo/registry")
REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))  # tests.support.crates: the local registry
MAIN = """use anyhow::{Context, Result};
use regex::Regex;
fn main() -> Result<()> {
    let text = std::fs::read_to_string("/data.json").context("reading /data.json")?;
    let doc: serde_json::Value = serde_json::from_str(&text)?;
    let re = Regex::new(r"[a-z0-9]+@[a-z]+\\.org")?;
    let hits = re.find_iter(&doc.to_string()).count();
    println!("{} addresses (LINE)", hits);
    Ok(())
}
"""
WASMFILE = """wasmfile: 1
stages:
  app:
    recipe: rust
    with: {crate: mailscan, output: mailscan.wasm}
image:
  files:
    - {from: app, path: mailscan.wasm, dest: /mailscan.wasm}
    - {src: data.json, dest: /data.json}
  entrypoint: [mailscan.wasm]
  tags: [mailscan]
"""


def project(root: Path, cargo: str) -> Path:
    """The crate under ``root/mailscan`` with exactly the crates Cargo.lock needs vendored."""
    crate = root / "mailscan"
    (crate / "src").mkdir(parents=True)
    (crate / "Cargo.toml").write_text('[package]\nname = "mailscan"\nversion = "0.1.0"\nedition = "2021"\n'
                                      '[dependencies]\nregex = "1"\nserde_json = "1"\nanyhow = "1"\n')
    (crate / "src" / "main.rs").write_text(MAIN.replace("LINE", "0"))
    (crate / ".cargo").mkdir()
    config = crate / ".cargo" / "config.toml"
    config.write_text(f'[source.crates-io]\nreplace-with = "v"\n[source.v]\ndirectory = "{REGISTRY}"\n')
    subprocess.run([cargo, "generate-lockfile", "--offline"], cwd=crate, check=True, capture_output=True)
    lock = (crate / "Cargo.lock").read_text()
    names = {f"{n}-{v}" for n, v in _packages(lock)} - {"mailscan-0.1.0"}
    for name in sorted(names):
        shutil.copytree(REGISTRY / name, crate / "vendor" / name)
    config.write_text('[source.crates-io]\nreplace-with = "v"\n[source.v]\ndirectory = "vendor"\n')
    (root / "Wasmfile").write_text(WASMFILE)
    (root / "data.json").write_text(json.dumps({"people": [f"user{i}@example.org" for i in range(50)]}))
    return crate


def _packages(lock: str) -> list[tuple[str, str]]:
    out, name = [], None
    for line in lock.splitlines():
        if line.startswith("name = "):
            name = line.split('"')[1]
        elif line.startswith("version = ") and name:
            out.append((name, line.split('"')[1]))
            name = None
    return out


def timed(argv: list[str], cwd: Path, env: dict[str, str]) -> float:
    start = time.monotonic()
    proc = subprocess.run(argv, cwd=cwd, env=env, capture_output=True, text=True)
    elapsed = time.monotonic() - start
    if proc.returncode != 0:
        sys.exit(f"{' '.join(argv)} failed:\n{proc.stderr[-3000:]}")
    return elapsed


def wordstat(root: Path, cargo: str, reg: Any) -> Path:
    """The 28-crate program with its Cargo.lock made against ``reg`` and `crates:` naming it."""
    shutil.copytree(REPO / "tests" / "fixtures" / "rust-crates", root)
    crate = root / "wordstat"
    reg.lock(crate, cargo)
    (root / "Wasmfile").write_text(
        "wasmfile: 1\nstages:\n  app:\n    recipe: rust\n"
        f"    with: {{crate: wordstat, output: wordstat.wasm, crates: {json.dumps(reg.dl)}}}\n"
        "image:\n  files:\n    - {from: app, path: wordstat.wasm, dest: /wordstat.wasm}\n"
        "    - {src: data/text.txt, dest: /data/text.txt}\n  entrypoint: [/wordstat.wasm]\n  tags: [wordstat]\n")
    return crate


def one_round(wb: list[str], cargo: str, rustc: str, target: str, name: str) -> dict[str, float]:
    with tempfile.TemporaryDirectory(prefix="cargo-bench-") as tmp, ExitStack() as stack:
        root = Path(tmp)
        cargo_cmd = [cargo, "build", "--offline", "--release", "--target", target]
        if name == "wordstat":
            from tests.support.crates import debian_registry, served

            reg = stack.enter_context(served(debian_registry(root / "reg")))
            crate = wordstat(root / "p", cargo, reg)
            cargo_cmd += ["--locked", "--config", 'source.crates-io.replace-with="bench"',
                          "--config", f'source.bench.directory="{reg.root / "dir"}"']
        else:
            crate = project(root / "p", cargo)
        native = root / "native"
        shutil.copytree(crate, native)
        # as installed (`pip install` writes the .pyc files): without them every module compiles again
        installed = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
        env = {**installed, "WASMBUILD_CACHE": str(root / "cache"), "WASMBUILD_STORE": str(root / "store")}
        nenv = {**os.environ, "CARGO_HOME": str(root / "cargo-home"), "RUSTC": rustc}
        build = [*wb, "build", str(root / "p" / "Wasmfile")]
        r = {"native_cold": timed(cargo_cmd, native, nenv), "wb_cold": timed(build, root, env)}
        for where in (crate, native):
            main = where / "src" / "main.rs"
            main.write_text(MAIN.replace("LINE", "1") if name == "mailscan" else
                            main.read_text().replace("take(3)", "take(2)"))
        r["native_edit"] = timed(cargo_cmd, native, nenv)
        r["wb_edit"] = timed(build, root, env)
        # Replay (cache/results.py) trusts no file changed in the 2 s before a run: past them, the
        # first no-op does the work and records it, the next is replayed.
        time.sleep(2.5)
        r["wb_noop_first"] = timed(build, root, env)
        r["wb_noop"] = timed(build, root, env)
        out = subprocess.run([*wb, "run", name], env=env, capture_output=True, text=True)
        ok = out.stdout.strip() == "50 addresses (1)" if name == "mailscan" else (
            out.returncode == 0 and len(json.loads(out.stdout)["top"]) == 2)
        if not ok:
            sys.exit(f"the built module printed {out.stdout!r} {out.stderr[-500:]}")
        lock = (crate / "Cargo.lock").read_text()
        r["crates"] = float(lock.count("\nsource = "))
        return r


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--project", choices=["mailscan", "wordstat"], default="mailscan",
                        help="mailscan: 9 vendored crates; wordstat: 28 crates fetched from Cargo.lock")
    args = parser.parse_args()
    from wasmbuild.execute import toolchains

    tc = toolchains.get("rust")
    assert tc is not None, "no rust toolchain with a wasm32 standard library"
    wb = [sys.executable, "-m", "wasmbuild"]
    rounds = [one_round(wb, tc.env["CARGO"], tc.env["RUSTC"], tc.env["WASM_TARGET"], args.project)
              for _ in range(args.rounds)]
    med = {k: statistics.median(r[k] for r in rounds) for k in rounds[0]}
    rows = [
        ("P11 one-line change", med["wb_edit"], med["native_edit"], "<= 1.5x"),
        ("P13 cold build", med["wb_cold"], med["native_cold"], "<= 1.05x"),
        ("P14 no-op rebuild (replayed)", med["wb_noop"], None, "<= 0.3 s"),
        ("P14 first no-op (not replayed)", med["wb_noop_first"], None, "<= 0.3 s"),
    ]
    load = os.getloadavg()
    result = {"median_seconds": med, "rounds": rounds, "load_average": load, "toolchain": tc.identity}
    if args.json:
        print(json.dumps(result, indent=2))
        return
    how = "vendored" if args.project == "mailscan" else "fetched from Cargo.lock"
    print(f"{args.project}: {int(med['crates'])} crates {how}; {tc.identity}; {args.rounds} rounds, medians")
    print("| benchmark | wasmbuild | native cargo | ratio | goal |\n|---|---:|---:|---:|---|")
    for name, ours, peer, goal in rows:
        ratio = f"{ours / peer:.2f}x" if peer else "-"
        print(f"| {name} | {ours:.2f} s | {f'{peer:.2f} s' if peer else '-'} | {ratio} | {goal} |")
    print(f"load average at the end (1, 5, 15 min): {load[0]:.1f} {load[1]:.1f} {load[2]:.1f}")


if __name__ == "__main__":
    main()
