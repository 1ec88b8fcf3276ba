"""Persistent stage caches (``caches:``) with the rust recipe: a one-line change re-runs the
stage, but cargo finds its target directory and recompiles only the changed crate; the image is
byte for byte the one a clean build (``--no-cache``) makes."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from tests.conftest import Runner
from tests.support import missing, require

pytestmark = pytest.mark.integration

#: A crate from Debian's packaged crate sources (librust-anyhow-dev, scripts/bootstrap --test).
ANYHOW = Path("/usr/share/cargo/registry/anyhow-1.0.69")
MAIN = ('use anyhow::Context;\nfn main() -> anyhow::Result<()> {\n'
        '    let n: u32 = "41".parse().context("n")?;\n    println!("{}", n + LINE);\n    Ok(())\n}\n')


def crate_project(root: Path) -> Path:
    """A crate depending on anyhow, vendored the way `cargo vendor` does (source replacement)."""
    if not ANYHOW.is_dir():
        missing(f"{ANYHOW} is missing (apt-get install librust-anyhow-dev: scripts/bootstrap --test)")
    crate = root / "calc"
    (crate / "src").mkdir(parents=True)
    shutil.copytree(ANYHOW, crate / "vendor" / "anyhow", ignore=shutil.ignore_patterns("tests", ".github"))
    (crate / ".cargo").mkdir()
    (crate / ".cargo" / "config.toml").write_text(
        '[source.crates-io]\nreplace-with = "vendored"\n[source.vendored]\ndirectory = "vendor"\n')
    (crate / "Cargo.toml").write_text('[package]\nname = "calc"\nversion = "0.1.0"\nedition = "2021"\n'
                                      '[dependencies]\nanyhow = "1"\n')
    (crate / "src" / "main.rs").write_text(MAIN.replace("LINE", "1"))
    (root / "Wasmfile").write_text(
        "wasmfile: 1\nstages:\n  app:\n    recipe: rust\n    with: {crate: calc, output: calc.wasm}\n"
        "image:\n  files: [{from: app, path: calc.wasm, dest: /calc.wasm}]\n"
        "  entrypoint: [calc.wasm]\n  tags: [calc]\n")
    return crate


def build(wb: Runner, root: Path, *extra: str) -> tuple[str, str]:
    proc = wb("build", str(root / "Wasmfile"), "--json", "--verbose", *extra, timeout=900)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout)["digest"], proc.stderr


def test_incremental_rebuild_recompiles_one_crate_and_equals_a_clean_build(wb: Runner, tmp_path: Path) -> None:
    require("cargo")
    crate = crate_project(tmp_path)
    _, log = build(wb, tmp_path)
    assert "Compiling anyhow" in log and "Compiling calc" in log
    (crate / "src" / "main.rs").write_text(MAIN.replace("LINE", "2"))
    incremental, log = build(wb, tmp_path)
    # the persistent target directory had anyhow (its build script too: unchanged inputs keep
    # their mtimes), so only the edited crate compiles
    assert [line.split("Compiling ")[1].split()[0] for line in log.splitlines() if "Compiling " in line] == ["calc"]
    run = wb("run", "calc")
    assert run.returncode == 0 and run.stdout == "43\n", run.stderr
    clean, log = build(wb, tmp_path, "--no-cache")
    assert "Compiling anyhow" in log  # --no-cache ignores the persistent caches too
    assert clean == incremental
    assert json.loads(wb("cache", "ls", "--json").stdout)["areas"]["caches"] > 1_000_000
    pruned = json.loads(wb("cache", "prune", "--max-size", "0", "--json").stdout)
    assert pruned["areas"]["caches"] == 0
