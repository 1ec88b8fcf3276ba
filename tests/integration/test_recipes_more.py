"""Recipes beyond the example: a cargo crate on the host, and the rust and c recipes unchanged
inside the wasi-toolchain builder container (its toolchain.env supplies $RUSTC, $CC...)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from tests.conftest import REPO, Runner
from tests.integration.engine_fixtures import docker_engine

pytestmark = pytest.mark.integration
__all__ = ["docker_engine"]


def test_cargo_crate_on_the_host(wb: Runner, tmp_path: Path) -> None:
    crate = tmp_path / "greeter"
    (crate / "src").mkdir(parents=True)
    (crate / "Cargo.toml").write_text('[package]\nname = "greeter"\nversion = "0.1.0"\nedition = "2021"\n')
    (crate / "src" / "main.rs").write_text('fn main() { println!("Hello from a crate"); }\n')
    (tmp_path / "Wasmfile").write_text(
        "wasmfile: 1\nstages:\n  app:\n    recipe: rust\n    with: {crate: greeter, output: greeter.wasm}\n"
        "image:\n  files: [{from: app, path: greeter.wasm, dest: /greeter.wasm}]\n"
        "  entrypoint: [greeter.wasm]\n  tags: [greeter]\n")
    assert wb("build", str(tmp_path / "Wasmfile")).returncode == 0
    proc = wb("run", "greeter")
    assert proc.returncode == 0 and proc.stdout == "Hello from a crate\n"


def test_rust_and_c_recipes_in_the_wasi_toolchain_builder(wb: Runner, tmp_path: Path,
                                                          docker_engine: str) -> None:
    shutil.copytree(REPO / "examples", tmp_path / "examples")
    text = (REPO / "Wasmfile.example").read_text()
    text = text.replace("      output: hello.wasm\n", "      output: hello.wasm\n    builder: wasi-toolchain\n")
    text = text.replace("      output: env.wasm\n", "      output: env.wasm\n    builder: wasi-toolchain\n")
    assert text.count("builder: wasi-toolchain") == 2
    (tmp_path / "Wasmfile").write_text(text)
    plan = wb("plan", str(tmp_path / "Wasmfile"), "--json")
    assert {s["executor"] for s in json.loads(plan.stdout)["stages"]} == {"container:wasi-toolchain"}
    proc = wb("build", str(tmp_path / "Wasmfile"), "--json", env={"DOCKER_HOST": docker_engine}, timeout=1200)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert [s["cached"] for s in json.loads(proc.stdout)["stages"]] == [False, False]
    run = wb("run", "hello-wasm")
    assert run.returncode == 0 and run.stdout == "Hello Wasm\n"


def test_a_builder_stage_keeps_its_caches_between_builds(wb: Runner, tmp_path: Path, docker_engine: str) -> None:
    """`caches:` in a builder container: what the last build left under $WORK/PATH is there
    again (sent in with the inputs, brought back after the steps), never in the output: the
    image equals a --no-cache build's. The rust recipe's target directory rides the same way."""
    (tmp_path / "input.txt").write_text("one\n")
    (tmp_path / "Wasmfile").write_text(
        "wasmfile: 1\nstages:\n  app:\n    builder: wasi-toolchain\n    inputs: [input.txt]\n"
        "    caches: [{name: state, path: state/deep}]\n"
        "    steps:\n"
        "      - 'n=$(cat state/deep/runs 2>/dev/null || echo 0); echo $((n + 1)) > state/deep/runs; "
        "echo \"runs before: $n\"'\n"
        "      - printf '\\0asm\\1\\0\\0\\0' > \"$OUT/app.wasm\"\n"
        "    outputs: [app.wasm]\n"
        "image:\n  files: [{from: app, path: app.wasm, dest: /app.wasm}]\n  entrypoint: [app.wasm]\n")
    env = {"DOCKER_HOST": docker_engine}

    def build(*extra: str) -> tuple[str, str]:
        proc = wb("build", str(tmp_path / "Wasmfile"), "--json", "--progress", "plain", *extra, env=env, timeout=1200)
        assert proc.returncode == 0, proc.stderr[-2000:]
        return json.loads(proc.stdout)["digest"], proc.stderr

    _, first = build()
    assert "runs before: 0" in first
    (tmp_path / "input.txt").write_text("two\n")  # the stage runs again, with its cache
    digest, second = build()
    assert "runs before: 1" in second, second
    clean, third = build("--no-cache")  # ignores the cache, and gives the same image
    assert "runs before: 0" in third and clean == digest
