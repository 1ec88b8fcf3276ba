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
* P14 no-op: `wasmbuild build` once more with nothing changed.

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
from pathlib import Path

REGISTRY = Path("/usr/share/cargo/registry")
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


def one_round(wb: list[str], cargo: str, rustc: str, target: str) -> dict[str, float]:
    with tempfile.TemporaryDirectory(prefix="cargo-bench-") as tmp:
        root = Path(tmp)
        crate = project(root / "p", cargo)
        native = root / "native"
        shutil.copytree(crate, native)
        env = {**os.environ, "WASMBUILD_CACHE": str(root / "cache"), "WASMBUILD_STORE": str(root / "store")}
        cargo_cmd = [cargo, "build", "--offline", "--release", "--target", target]
        nenv = {**os.environ, "CARGO_HOME": str(root / "cargo-home"), "RUSTC": rustc}
        build = [*wb, "build", str(root / "p" / "Wasmfile")]
        r = {"native_cold": timed(cargo_cmd, native, nenv), "wb_cold": timed(build, root, env)}
        for where in (crate, native):
            (where / "src" / "main.rs").write_text(MAIN.replace("LINE", "1"))
        r["native_edit"] = timed(cargo_cmd, native, nenv)
        r["wb_edit"] = timed(build, root, env)
        r["wb_noop"] = timed(build, root, env)
        out = subprocess.run([*wb, "run", "mailscan"], env=env, capture_output=True, text=True)
        if out.stdout.strip() != "50 addresses (1)":
            sys.exit(f"the built module printed {out.stdout!r} {out.stderr[-500:]}")
        r["crates"] = float(len(list((crate / "vendor").iterdir())))
        return r


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    from wasmbuild.execute import toolchains

    tc = toolchains.get("rust")
    assert tc is not None, "no rust toolchain with a wasm32 standard library"
    wb = [sys.executable, "-m", "wasmbuild"]
    rounds = [one_round(wb, tc.env["CARGO"], tc.env["RUSTC"], tc.env["WASM_TARGET"]) for _ in range(args.rounds)]
    med = {k: statistics.median(r[k] for r in rounds) for k in rounds[0]}
    rows = [
        ("P11 one-line change", med["wb_edit"], med["native_edit"], "<= 1.5x"),
        ("P13 cold build", med["wb_cold"], med["native_cold"], "<= 1.05x"),
        ("P14 no-op rebuild", med["wb_noop"], None, "<= 0.3 s"),
    ]
    load = os.getloadavg()
    result = {"median_seconds": med, "rounds": rounds, "load_average": load, "toolchain": tc.identity}
    if args.json:
        print(json.dumps(result, indent=2))
        return
    print(f"{int(med['crates'])} vendored crates; {tc.identity}; {args.rounds} rounds, medians")
    print("| benchmark | wasmbuild | native cargo | ratio | goal |\n|---|---:|---:|---:|---|")
    for name, ours, peer, goal in rows:
        ratio = f"{ours / peer:.2f}x" if peer else "-"
        print(f"| {name} | {ours:.2f} s | {f'{peer:.2f} s' if peer else '-'} | {ratio} | {goal} |")
    print(f"load average at the end (1, 5, 15 min): {load[0]:.1f} {load[1]:.1f} {load[2]:.1f}")


if __name__ == "__main__":
    main()
