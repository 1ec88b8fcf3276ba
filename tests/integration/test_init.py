"""``wasmbuild init`` on a cargo crate, a C folder and a Python app: the Wasmfile it writes builds
and runs on the first try, and `target/`-like folders stay out of the build."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from tests.conftest import Runner

pytestmark = pytest.mark.integration
FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "init"


def init_build_run(wb: Runner, folder: Path, *args: str) -> tuple[dict[str, object], str]:
    proc = wb("init", "--json", cwd=folder)
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout)
    build = wb("build", "--json", cwd=folder, timeout=900)
    assert build.returncode == 0, build.stderr
    run = wb("run", f"{report['detected']['name']}:latest", *args, cwd=folder)  # type: ignore[index]
    assert run.returncode == 0, run.stderr
    return report, run.stdout


def test_init_a_cargo_crate(wb: Runner, tmp_path: Path) -> None:
    crate = tmp_path / "greeter-crate"
    shutil.copytree(FIXTURES / "rust-crate", crate)
    (crate / "target" / "debug").mkdir(parents=True)  # what `cargo build` left behind
    (crate / "target" / "debug" / "greeter").write_bytes(b"\x7fELF" + b"\0" * 4096)
    report, out = init_build_run(wb, crate, "a", "b")
    assert report["detected"] == {
        "kind": "rust", "name": "greeter-crate", "recipe": "rust",
        "with": {"crate": ".", "output": "greeter.wasm"}, "output": "greeter.wasm",
        "sources": ["Cargo.toml"], "notes": []}
    assert report["written"] == ["Wasmfile", ".wasmignore"]
    assert out == 'Hello from a crate, args ["a", "b"]\n'
    # target/ is ignored: what cargo writes there on the host does not rebuild the stage.
    (crate / "target" / "debug" / "greeter").write_bytes(b"changed")
    again = wb("build", "--json", cwd=crate)
    assert [s["cached"] for s in json.loads(again.stdout)["stages"]] == [True]


def test_init_a_c_folder(wb: Runner, tmp_path: Path) -> None:
    folder = tmp_path / "shouter"
    shutil.copytree(FIXTURES / "c-app", folder)
    report, out = init_build_run(wb, folder, "x")
    assert report["detected"]["with"] == {  # type: ignore[index]
        "sources": ["main.c", "shout.c"], "output": "shouter.wasm", "include_dirs": ["include"]}
    assert out == "HELLO FROM C, 1 arg(s)\n"


def test_init_an_ordinary_c_project_with_a_header(wb: Runner, tmp_path: Path) -> None:
    """Issue 22 item 9: main.c and util.c including util.h, no include/ folder: the header is an
    input of the stage, so the Wasmfile init writes builds and runs."""
    folder = tmp_path / "counter"
    shutil.copytree(FIXTURES / "c-headers", folder)
    report, out = init_build_run(wb, folder, "a", "b")
    assert report["detected"]["with"] == {  # type: ignore[index]
        "sources": ["main.c", "util.c"], "output": "counter.wasm", "headers": ["util.h"]}
    assert out == "util says 2 arg(s)\n"


def test_a_missing_header_is_named_by_its_context_path_with_the_fix(wb: Runner, tmp_path: Path) -> None:
    """The same project without `headers:`: the failure names main.c (not the stage's temporary
    $SRC) and says the header is not an input, instead of blaming the source."""
    folder = tmp_path / "counter"
    shutil.copytree(FIXTURES / "c-headers", folder)
    (folder / "Wasmfile").write_text(
        "wasmfile: 1\nstages:\n  app:\n    recipe: c\n    with: {sources: [main.c, util.c]}\n"
        "image:\n  files: [{from: app, path: app.wasm, dest: /app.wasm}]\n  entrypoint: [app.wasm]\n")
    build = wb("build", cwd=folder, timeout=900)
    assert build.returncode != 0
    last = build.stderr.strip().splitlines()[-1]
    assert last.startswith("error: Wasmfile:3: stage 'app': step 1/1 "), last
    assert "main.c:3:10: fatal error: 'util.h' file not found" in last, last
    assert "'util.h' is not among the stage's inputs: add it to the stage's `inputs:`" in last, last
    assert "/src/main.c" not in build.stderr and str(Path.home()) not in last, build.stderr


def test_init_a_go_module(wb: Runner, tmp_path: Path) -> None:
    folder = tmp_path / "gopher"
    folder.mkdir()
    (folder / "go.mod").write_text("module example.com/gopher\n\ngo 1.21\n")
    (folder / "main.go").write_text('package main\n\nimport (\n\t"fmt"\n\t"os"\n)\n\n'
                                    'func main() { fmt.Println("gopher", len(os.Args)-1) }\n')
    report, out = init_build_run(wb, folder, "x", "y")
    assert report["detected"]["recipe"] == "go"  # type: ignore[index]
    assert out == "gopher 2\n"


def test_init_a_cxx_folder(wb: Runner, tmp_path: Path) -> None:
    folder = tmp_path / "cxx"
    shutil.copytree(FIXTURES / "cxx-app", folder)
    report, out = init_build_run(wb, folder, "x", "y")
    assert report["detected"]["recipe"] == "cxx"  # type: ignore[index]
    assert out == "hello from c++, 2 arg(s)\n"


def test_init_a_python_app(wb: Runner, tmp_path: Path) -> None:
    folder = tmp_path / "py-app"
    shutil.copytree(FIXTURES / "python-app", folder)
    report, out = init_build_run(wb, folder, "one")
    assert report["detected"]["recipe"] == "python-component"  # type: ignore[index]
    assert json.loads(out) == {"message": "hello wasm", "args": ["one"]}


def test_init_never_replaces_a_wasmfile_without_force(wb: Runner, tmp_path: Path) -> None:
    folder = tmp_path / "c"
    shutil.copytree(FIXTURES / "c-app", folder)
    (folder / "Wasmfile").write_text("# mine\n")
    (folder / ".wasmignore").write_text("# mine too\n")
    proc = wb("init", cwd=folder)
    assert proc.returncode == 2
    assert proc.stderr.strip() == "error: Wasmfile exists already (use --force to replace it)"
    assert (folder / "Wasmfile").read_text() == "# mine\n"
    dry = wb("init", "--force", "--dry-run", "--json", cwd=folder)
    assert json.loads(dry.stdout)["written"] == ["Wasmfile"] and (folder / "Wasmfile").read_text() == "# mine\n"
    proc = wb("init", "--force", cwd=folder)
    assert proc.returncode == 0, proc.stderr
    assert (folder / "Wasmfile").read_text().startswith("# Wasmfile written by `wasmbuild init`")
    assert (folder / ".wasmignore").read_text() == "# mine too\n"  # an ignore file is never replaced
    assert "kept .wasmignore" in proc.stdout


def test_init_in_a_folder_with_no_project(wb: Runner, tmp_path: Path) -> None:
    (tmp_path / "README.md").write_text("hi\n")
    proc = wb("init", str(tmp_path))
    assert proc.returncode == 2
    # every recipe folder's init files, in the order they are asked (each folder's `init:`)
    assert proc.stderr.startswith(f"error: found no project in {tmp_path}: no Cargo.toml/*.rs (rust), ")
    for part in ("CMakeLists.txt (cmake)", "meson.build (meson)", "configure.ac", "Makefile", "go.mod (go)",
                 "build.zig/main.zig (zig)", "asconfig.json", "*.cpp/*.cc/*.cxx (cxx), *.c (c)", "main.rb",
                 "*.py (python-component) ("):
        assert part in proc.stderr, proc.stderr
    assert proc.stderr.count("\n") == 1
    assert not (tmp_path / "Wasmfile").exists()
