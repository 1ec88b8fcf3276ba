"""Limits a hostile or broken Wasmfile runs into: a stage's wall time, its output size, the
number of entries in the image layer; and an entrypoint importing what the runtime lacks. Each
is one line with exit code 3 (build), or 2 from ``check``."""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

import pytest
import wasmtime

from tests.conftest import REPO, Runner
from tests.integration.engine_fixtures import BASE_IMAGE, docker_engine, stage_containers
from tests.support import one_line
from wasmbuild.errors import BuildError
from wasmbuild.execute.executors import StageJob, run_job
from wasmbuild.execute.executors.container import ContainerExecutor

pytestmark = pytest.mark.integration
__all__ = ["docker_engine"]


def project(tmp_path: Path, stage: str, files: str = "") -> Path:
    (tmp_path / "app.wasm").write_bytes((REPO / "tests/fixtures/golden/hello.wasm").read_bytes())
    (tmp_path / "Wasmfile").write_text(
        "wasmfile: 1\nstages:\n" + stage +
        "image:\n  files:\n    - {src: app.wasm, dest: /app.wasm}\n" + files +
        "  entrypoint: [app.wasm]\n")
    return tmp_path / "Wasmfile"


def _leftover(marker: str) -> list[str]:
    ps = subprocess.run(["ps", "-eo", "args"], capture_output=True, text=True, check=True).stdout
    return [line for line in ps.splitlines() if marker in line and "ps -eo" not in line]


def test_a_stage_over_its_timeout_is_killed(wb: Runner, tmp_path: Path) -> None:
    wasmfile = project(tmp_path, "  slow:\n    timeout: 2s\n    steps: ['sleep 600.25 & sleep 600.5']\n"
                       "    outputs: [x]\n", "    - {from: slow, path: x, dest: /x}\n")
    start = time.monotonic()
    proc = wb("build", str(wasmfile))
    one_line(proc, 3, f"{wasmfile}:3:", "stage 'slow' ran out of time (timeout 2s)", "`timeout:`")
    assert time.monotonic() - start < 10
    assert _leftover("sleep 600.") == []  # the whole step went, background jobs too


def test_the_default_timeout_comes_from_the_environment(wb: Runner, tmp_path: Path) -> None:
    wasmfile = project(tmp_path, "  slow:\n    steps: ['sleep 600.75']\n    outputs: [x]\n",
                       "    - {from: slow, path: x, dest: /x}\n")
    proc = wb("build", str(wasmfile), env={"WASMBUILD_STAGE_TIMEOUT": "1s"})
    one_line(proc, 3, "ran out of time (timeout 1s)")
    bad = wb("build", str(wasmfile), env={"WASMBUILD_STAGE_TIMEOUT": "forever"})
    one_line(bad, 2, "WASMBUILD_STAGE_TIMEOUT", "'forever' is not a duration")


def test_a_stage_writing_too_much_is_stopped(wb: Runner, tmp_path: Path) -> None:
    wasmfile = project(tmp_path, "  big:\n    steps: ['head -c 50000000 /dev/zero > $OUT/x; sleep 600.125']\n"
                       "    outputs: [x]\n", "    - {from: big, path: x, dest: /x}\n")
    start = time.monotonic()
    proc = wb("build", str(wasmfile), env={"WASMBUILD_MAX_OUTPUT": "10M"})
    one_line(proc, 3, "stage 'big' wrote more than 10,485,760 bytes to $OUT", "WASMBUILD_MAX_OUTPUT")
    assert time.monotonic() - start < 15 and _leftover("sleep 600.125") == []


def test_a_container_stage_writing_too_much_is_refused(
        docker_engine: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WASMBUILD_MAX_OUTPUT", "4M")
    src, out = tmp_path / "src", tmp_path / "out"
    src.mkdir()
    executor = ContainerExecutor(image_for=lambda _b: BASE_IMAGE, toolchain_for=lambda _b: {})
    job = StageJob(name="t", steps=("head -c 20000000 /dev/zero > /out/x",), env={}, src=src, out=out,
                   work=tmp_path / "work", builder="test")
    with pytest.raises(BuildError, match=r"stage 't' wrote more than 4,194,304 bytes to /out"):
        run_job(executor, job, lambda _line: None)
    assert not (out / "x").exists() and stage_containers(docker_engine) == []


def test_an_image_layer_with_too_many_files_is_refused(wb: Runner, tmp_path: Path) -> None:
    wasmfile = project(tmp_path, "  many:\n    steps: ['mkdir $OUT/d && cd $OUT/d && touch $(seq 1 300)']\n"
                       "    outputs: [d]\n", "    - {from: many, path: d, dest: /d}\n")
    proc = wb("build", str(wasmfile), env={"WASMBUILD_MAX_LAYER_FILES": "100"})
    one_line(proc, 3, f"{wasmfile}:", "more than 100 files and directories", "WASMBUILD_MAX_LAYER_FILES")
    assert wb("build", str(wasmfile)).returncode == 0


UNDEFINED_C = '#include <stdio.h>\nextern int host_magic(void);\nint main(void) { printf("%d\\n", host_magic()); }\n'


def test_a_module_importing_env_foo_fails_build_naming_the_import(wb: Runner, tmp_path: Path) -> None:
    (tmp_path / "m.c").write_text(UNDEFINED_C)
    (tmp_path / "Wasmfile").write_text(
        "wasmfile: 1\nstages:\n  m:\n    recipe: c\n"
        "    with: {sources: [m.c], output: m.wasm, ldflags: ['-Wl,--allow-undefined']}\n"
        "image:\n  files: [{from: m, path: m.wasm, dest: /m.wasm}]\n  entrypoint: [m.wasm]\n  tags: [undef]\n")
    proc = wb("build", str(tmp_path / "Wasmfile"))
    one_line(proc, 3, f"{tmp_path / 'Wasmfile'}:8:", "entrypoint 'm.wasm' imports function env.host_magic",
             "not WASI", "--allow-undefined")
    assert "undef" not in wb("images").stdout  # nothing tagged, nothing to push


def test_check_reports_a_context_module_with_bad_imports(wb: Runner, tmp_path: Path) -> None:
    bad = wasmtime.wat2wasm('(module (import "wasi_snapshot_preview1" "sock_listen" '
                            '(func (param i32 i32) (result i32))) (func (export "_start")))')
    (tmp_path / "app.wasm").write_bytes(bad)
    (tmp_path / "Wasmfile").write_text(
        "wasmfile: 1\nimage:\n  files: [{src: app.wasm, dest: /bin/app.wasm}]\n  entrypoint: [/bin/app.wasm]\n")
    proc = wb("check", str(tmp_path / "Wasmfile"))
    one_line(proc, 2, f"{tmp_path / 'Wasmfile'}:4:", "function wasi_snapshot_preview1.sock_listen",
             "WASI preview 1 lacks")
    build = wb("build", str(tmp_path / "Wasmfile"))
    one_line(build, 3, "wasi_snapshot_preview1.sock_listen")
    (tmp_path / "app.wasm").write_bytes((REPO / "tests/fixtures/golden/hello.wasm").read_bytes())
    assert wb("check", str(tmp_path / "Wasmfile")).returncode == 0
