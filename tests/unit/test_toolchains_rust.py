"""Which Rust wasmbuild builds with, and a crate that Rust cannot build, said before cargo runs:
fake rustc/cargo scripts on PATH (rustup's new one without a wasm std, a distribution's old one
with it), plus the real machine's toolchains."""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
import typer

from tests.support import missing
from tests.support.pipeline import FakeExecutor
from wasmbuild.errors import ToolchainError
from wasmbuild.execute import toolchains

RUST = toolchains.module("rust")  # the rust recipe folder's toolchain.py
RUSTUP_FIX, crate_problem, rust = RUST.RUSTUP_FIX, RUST.crate_problem, RUST.probe

CARGO_NEW = '[package]\nname = "hello"\nversion = "0.1.0"\nedition = "{edition}"\n{extra}\n[dependencies]\n'


def fake_rust(root: Path, version: str, cargo: str, *, wasm: bool) -> Path:
    """A toolchain folder (a sysroot) whose bin/rustc and bin/cargo print their versions."""
    bin_dir = root / "bin"
    bin_dir.mkdir(parents=True)
    if wasm:
        (root / "lib" / "rustlib" / "wasm32-wasi" / "lib").mkdir(parents=True)
    (bin_dir / "rustc").write_text(
        "#!/bin/sh\n"
        f'if [ "$1" = --print ]; then echo {root}; else echo "rustc {version} (0000000 2026-01-01)"; fi\n')
    (bin_dir / "cargo").write_text(f'#!/bin/sh\necho "cargo {cargo} (0000000 2026-01-01)"\n')
    for tool in ("rustc", "cargo"):
        (bin_dir / tool).chmod(0o755)
    return bin_dir


@pytest.fixture
def two_rusts(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Path, Path]]:
    """rustup's stable 1.95 first on PATH (no wasm32 std), Debian's 1.63 / cargo 1.65 after it."""
    rustup = fake_rust(tmp_path / "rustup" / "toolchains" / "stable-x86_64-unknown-linux-gnu",
                       "1.95.0", "1.95.0", wasm=False)
    debian = fake_rust(tmp_path / "debian", "1.63.0", "1.65.0", wasm=True)
    monkeypatch.setenv("PATH", f"{rustup}:{debian}")  # no /usr/bin: its rustc is the machine's
    monkeypatch.setenv("WASMBUILD_TOOLCHAIN_DIRS", "")
    monkeypatch.delenv("WASMBUILD_RUSTC", raising=False)
    rust.cache_clear()
    yield rustup, debian
    rust.cache_clear()


def test_the_probe_says_which_rust_was_chosen_and_names_rustups_fix(two_rusts: tuple[Path, Path]) -> None:
    rustup, debian = two_rusts
    found = toolchains.get("rust")
    assert found is not None and found.env["RUSTC"] == str(debian / "rustc")
    assert found.env["CARGO"] == str(debian / "cargo") and found.env["WASM_TARGET"] == "wasm32-wasi"
    assert (found.info["rustc"], found.info["cargo"]) == ("1.63.0", "1.65.0")
    assert found.info["chosen"].startswith(f"{debian / 'rustc'} (rustc 1.63.0), cargo 1.65.0, wasm32-wasi: "
                                           "the first rustc")
    [other] = found.info["others"]
    assert other["rustc"] == str(rustup / "rustc") and other["why"] == RUSTUP_FIX
    assert other["rustup"] == "stable-x86_64-unknown-linux-gnu" and other["version"] == "1.95.0"
    assert RUSTUP_FIX == "no wasm32-wasip1 target: run `rustup target add wasm32-wasip1`"
    again = toolchains.get("rust")  # remembered: the same facts without probing
    assert again is not None and again.info == found.info


def test_an_edition_newer_than_the_chosen_cargo_is_one_line_at_its_line(
        two_rusts: tuple[Path, Path], tmp_path: Path) -> None:
    rustup, debian = two_rusts
    found = toolchains.get("rust")
    assert found is not None
    manifest = tmp_path / "crate" / "Cargo.toml"
    manifest.parent.mkdir()
    manifest.write_text(CARGO_NEW.format(edition="2024", extra=""))
    problem = crate_problem(manifest, found)
    assert problem is not None and problem.exit_code == 4
    assert problem.render() == (
        f"{manifest}:4: edition 2024 needs cargo 1.85 or newer, and wasmbuild's Rust is "
        f"{debian / 'cargo'}, cargo 1.65.0 (run `rustup target add wasm32-wasip1` for {rustup / 'rustc'} "
        "(rustc 1.95.0, rustup toolchain stable-x86_64-unknown-linux-gnu), or set edition = \"2021\")")
    manifest.write_text(CARGO_NEW.format(edition="2021", extra='rust-version = "1.70"'))
    problem = crate_problem(manifest, found)
    assert problem is not None and problem.render().startswith(
        f"{manifest}:5: rust-version 1.70 is newer than wasmbuild's Rust is {debian / 'cargo'}, rustc 1.63.0")
    assert "or lower rust-version to 1.63.0" in problem.render()
    manifest.write_text(CARGO_NEW.format(edition="2021", extra='rust-version = "1.60"'))
    assert crate_problem(manifest, found) is None


def _crate_project(root: Path, edition: str) -> Path:
    root.mkdir()
    (root / "Cargo.toml").write_text(CARGO_NEW.format(edition=edition, extra=""))
    (root / "src").mkdir()
    (root / "src" / "main.rs").write_text('fn main() { println!("hi"); }\n')
    (root / "Wasmfile").write_text(
        "wasmfile: 1\nstages:\n  app:\n    recipe: rust\n    with: {crate: ., output: hello.wasm}\n"
        "image:\n  files: [{from: app, path: hello.wasm, dest: /hello.wasm}]\n  entrypoint: [hello.wasm]\n")
    return root


def test_the_build_stops_before_cargo_runs(two_rusts: tuple[Path, Path], tmp_path: Path) -> None:
    from wasmbuild.oci.layout import Layout
    from wasmbuild.pipeline import BuildOptions, ExecuteOptions, build, prepare

    root = _crate_project(tmp_path / "p", "2024")
    fake = FakeExecutor()
    options = BuildOptions(store=Layout(tmp_path / "store").init(), uncached=True,
                           execute=ExecuteOptions(executor_factory=fake.factory))
    with pytest.raises(ToolchainError) as err:
        build(prepare(root / "Wasmfile"), options)
    assert err.value.render().startswith(f"{root / '.' / 'Cargo.toml'}:4: edition 2024 needs cargo 1.85")
    assert fake.ran == []  # no step ran: cargo never printed "older than the 2024 edition"


def test_toolchains_and_init_say_it_too(two_rusts: tuple[Path, Path], tmp_path: Path,
                                       capsys: pytest.CaptureFixture[str]) -> None:
    from wasmbuild.cli.setup import toolchains_cmd
    from wasmbuild.scaffold import init

    rustup, debian = two_rusts
    root = _crate_project(tmp_path / "p", "2024")
    with pytest.raises(typer.Exit) as done:
        toolchains_cmd(root / "Wasmfile", None, json_out=True)
    assert done.value.exit_code == 4
    [row] = [r for r in json.loads(capsys.readouterr().out)["toolchains"] if r["name"] == "rust"]
    assert row["ok"] is False and ":4: edition 2024 needs cargo 1.85" in row["error"]
    assert row["chosen"].startswith(f"{debian / 'rustc'} (rustc 1.63.0)")
    assert row["others"] == [f"{rustup / 'rustc'} (rustc 1.95.0, rustup toolchain "
                             f"stable-x86_64-unknown-linux-gnu): {RUSTUP_FIX}"]
    (root / "Wasmfile").unlink()
    notes = init(root, dry_run=True)["detected"]["notes"]
    assert [n for n in notes if n.startswith("warning: ")] == [
        f"warning: {root / 'Cargo.toml'}:4: edition 2024 needs cargo 1.85 or newer, and wasmbuild's Rust is "
        f"{debian / 'cargo'}, cargo 1.65.0 (run `rustup target add wasm32-wasip1` for {rustup / 'rustc'} "
        "(rustc 1.95.0, rustup toolchain stable-x86_64-unknown-linux-gnu), or set edition = \"2021\")"]
    (root / "Cargo.toml").write_text(CARGO_NEW.format(edition="2021", extra=""))
    assert not [n for n in init(root, dry_run=True)["detected"]["notes"] if n.startswith("warning: ")]


def test_this_machines_rust_is_described_as_it_answers() -> None:
    rust.cache_clear()
    try:
        found = rust()
    except ToolchainError as exc:
        missing(f"no Rust with a WASI std on this machine: {exc.render()}")
    finally:
        rust.cache_clear()
    rustc = subprocess.run([found.env["RUSTC"], "--version"], capture_output=True, text=True, check=True)
    assert found.info["rustc"] in rustc.stdout and found.info["chosen"].startswith(found.env["RUSTC"])
    if "CARGO" in found.env:
        cargo = subprocess.run([found.env["CARGO"], "--version"], capture_output=True, text=True, check=True)
        assert f"cargo {found.info['cargo']}" in cargo.stdout
    for other in found.info["others"]:  # a rustup toolchain without a wasm std: the fix is rustup's
        if other.get("rustup") and other.get("target") is None:
            assert other["why"] == RUSTUP_FIX
    assert os.environ.get("WASMBUILD_RUSTC") or "first rustc" in found.info["chosen"]
