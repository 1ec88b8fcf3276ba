"""The build-system recipes (make, cmake, autotools, meson) on small real projects
(tests/fixtures/cross: a static library and a program linking it), with clang + wasi-libc and
with zig: each image runs under ``wasmbuild run``; after a one-line edit the persistent build
directory makes the rebuild recompile only the edited file, and the image is byte for byte the
one a clean build (``--no-cache``) makes."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from tests.conftest import REPO, Runner
from tests.support import require

pytestmark = pytest.mark.integration
FIXTURES = REPO / "tests" / "fixtures" / "cross"

MAKE = ("-c -o greet.o", "-c -o main.o")  # make's and automake's command lines
CMAKE = ("Building C object greet/CMakeFiles/greet.dir/greet.c.o", "Building C object CMakeFiles/app.dir/main.c.o")
MESON = ("Compiling C object libgreet.a.p/greet.c.o", "Compiling C object app.wasm.p/main.c.o")
#: (build system, toolchain, recipe parameters, what compiling greet.c and main.c prints)
CASES = [
    ("make", "auto", "outputs: [app.wasm]", MAKE),
    ("make", "zig", "outputs: [app.wasm]", MAKE),
    ("cmake", "auto", "outputs: [app.wasm], defines: [CMAKE_C_STANDARD=99]", CMAKE),
    ("cmake", "zig", "outputs: [app.wasm]", CMAKE),
    ("autotools", "auto", "outputs: ['app:app.wasm'], autoreconf: true", MAKE),
    ("meson", "auto", "outputs: [app.wasm], options: [warning_level=3]", MESON),
]
TOOLS = {"make": ["make"], "cmake": ["cmake", "make"], "autotools": ["autoreconf", "automake", "make"],
         "meson": ["meson", "ninja"]}


@pytest.fixture(autouse=True)
def shared_zig_cache(monkeypatch: pytest.MonkeyPatch) -> None:
    """zig compiles wasi-libc once (a minute or two) into this cache, shared by every test run."""
    monkeypatch.setenv("WASMBUILD_ZIG_CACHE", str(REPO / ".wasmbuild-cache" / "zig"))


def project(root: Path, system: str, toolchain: str, params: str) -> Path:
    shutil.copytree(FIXTURES / system, root / "proj")
    (root / "Wasmfile").write_text(
        "wasmfile: 1\nstages:\n  app:\n    recipe: " + system + "\n"
        f"    with: {{project: proj, toolchain: {toolchain}, {params}}}\n"
        "image:\n  files: [{from: app, path: app.wasm, dest: /app.wasm}]\n"
        "  entrypoint: [app.wasm]\n  tags: [greeter]\n")
    return root / "proj"


def build(wb: Runner, root: Path, *extra: str) -> tuple[str, str]:
    proc = wb("build", str(root / "Wasmfile"), "--json", "--verbose", *extra, timeout=900)
    assert proc.returncode == 0, proc.stderr[-4000:]
    return json.loads(proc.stdout)["digest"], proc.stderr


def compiled(log: str, marks: tuple[str, str]) -> list[str]:
    """Which of greet.c and main.c the build log shows compiled."""
    return [name for name, mark in zip(("greet.c", "main.c"), marks, strict=True) if mark in log]


@pytest.mark.parametrize(("system", "toolchain", "params", "marks"), CASES,
                         ids=[f"{c[0]}-{c[1]}" for c in CASES])
def test_builds_runs_and_rebuilds_incrementally(wb: Runner, tmp_path: Path, system: str, toolchain: str,
                                                params: str, marks: tuple[str, str]) -> None:
    for tool in TOOLS[system]:
        require(tool)
    src = project(tmp_path, system, toolchain, params)
    _, log = build(wb, tmp_path)
    assert compiled(log, marks) == ["greet.c", "main.c"], log[-3000:]
    run = wb("run", "greeter")
    assert run.returncode == 0 and run.stdout == f"hello from {system}: 55\n", run.stderr

    main_c = src / "main.c"
    main_c.write_text(main_c.read_text().replace("greet_sum(10)", "greet_sum(11)"))
    incremental, log = build(wb, tmp_path)
    # the build directory persisted, and greet.c kept its mtime: only main.c compiles
    assert compiled(log, marks) == ["main.c"], log[-3000:]
    run = wb("run", "greeter")
    assert run.returncode == 0 and run.stdout == f"hello from {system}: 66\n", run.stderr

    clean, log = build(wb, tmp_path, "--no-cache")
    assert compiled(log, marks) == ["greet.c", "main.c"], log[-3000:]  # --no-cache: an empty build dir
    assert clean == incremental


def test_a_failing_configure_shows_the_end_of_config_log(wb: Runner, tmp_path: Path) -> None:
    require("autoreconf")
    src = project(tmp_path, "autotools", "auto", "outputs: ['app:app.wasm'], autoreconf: true")
    configure_ac = src / "configure.ac"
    configure_ac.write_text(configure_ac.read_text().replace(
        "AC_CHECK_HEADERS([stdio.h])", "AC_CHECK_HEADERS([nosuch.h], [], [AC_MSG_ERROR([nosuch.h is required])])"))
    proc = wb("build", str(tmp_path / "Wasmfile"), "--verbose", timeout=600)
    assert proc.returncode == 3, proc.stderr[-2000:]
    assert "configure failed; the end of config.log:" in proc.stderr
    shown = proc.stderr.split("the end of config.log:", 1)[1]
    assert "#include <nosuch.h>" in shown and "error: nosuch.h is required" in shown  # the failed test


@pytest.mark.parametrize("system", ["make", "cmake", "autotools", "meson"])
def test_init_writes_a_wasmfile_that_builds_and_runs(wb: Runner, tmp_path: Path, system: str) -> None:
    """`wasmbuild init` on each project (the recipe folder's `init:`): the program is found
    (CMake's add_executable, Meson's executable(), Makefile.am's bin_PROGRAMS, the Makefile's
    NAME.wasm), the stage builds, the image runs."""
    require(system if system != "autotools" else "autoreconf")
    src = tmp_path / system
    shutil.copytree(FIXTURES / system, src)
    init = wb("init", str(src), "--json")
    assert init.returncode == 0, init.stderr
    detected = json.loads(init.stdout)["detected"]
    assert detected["recipe"] == system and detected["notes"] == [], detected
    built = wb("build", str(src), timeout=900)
    assert built.returncode == 0, built.stderr
    run = wb("run", f"{src.name}:latest")
    assert (run.returncode, run.stdout) == (0, f"hello from {system}: 55\n"), run.stderr
