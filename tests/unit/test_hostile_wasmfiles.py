"""Issue 8's table, the rows a Wasmfile alone triggers: each ends in one clear line naming the
file and line, with the documented exit code, within 2 s, through the real CLI (a subprocess,
as pre-commit runs it). Rows that need a registry, podman, toolchains or the sandbox are in
tests/integration/test_hardening.py and test_sandbox.py."""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

import pytest

from tests.conftest import Runner
from tests.support import one_line

HELLO = """\
wasmfile: 1
stages:
  hello:
    recipe: rust
    with: {source: hello.rs, output: hello.wasm}
image:
  files: [{from: hello, path: hello.wasm, dest: /hello.wasm}]
  entrypoint: [hello.wasm]
"""


def billion_laughs() -> str:
    """9 levels of 9 aliases (~390 million strings once expanded) in well under 1 KB."""
    lines = ['a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    for prev, name in zip("abcdefgh", "bcdefghi", strict=True):
        lines.append(f"{name}: &{name} [{', '.join(['*' + prev] * 9)}]")
    return "\n".join(lines) + "\n"


def timed(wb: Runner, *args: str, cwd: Path | None = None) -> tuple[subprocess.CompletedProcess[str], float]:
    start = time.monotonic()
    proc = wb(*args, cwd=cwd, timeout=60)
    return proc, time.monotonic() - start


def write(tmp_path: Path, text: str) -> Path:
    (tmp_path / "hello.rs").write_text("fn main() {}\n")
    wasmfile = tmp_path / "Wasmfile"
    wasmfile.write_text(text)
    return wasmfile


def test_alias_bomb_is_refused_fast_without_expanding(wb: Runner, tmp_path: Path) -> None:
    text = billion_laughs()
    assert len(text) < 1024
    wasmfile = write(tmp_path, text)
    proc, seconds = timed(wb, "check", str(wasmfile))
    one_line(proc, 2, f"{wasmfile}:", "expands to more than 20,000 values", "alias")
    assert seconds < 2


@pytest.mark.parametrize("depth", [100, 5000])
def test_deep_nesting_is_refused_fast(wb: Runner, tmp_path: Path, depth: int) -> None:
    wasmfile = write(tmp_path, "x: " + "[" * depth + "]" * depth + "\n")
    proc, seconds = timed(wb, "check", str(wasmfile))
    line = one_line(proc, 2, f"{wasmfile}:1:")
    assert "nest" in line  # ours (deeper than 64) or libyaml's own bound (1000)
    assert seconds < 2


def test_a_huge_file_is_refused_before_parsing(wb: Runner, tmp_path: Path) -> None:
    wasmfile = write(tmp_path, "wasmfile: 1\n# " + "x" * (300 * 1024) + "\n")
    proc, seconds = timed(wb, "check", str(wasmfile))
    one_line(proc, 2, str(wasmfile), "larger than 256 KiB")
    assert seconds < 2


@pytest.mark.parametrize("command", ["check", "build"])
def test_dest_root_is_refused_at_its_line(wb: Runner, tmp_path: Path, command: str) -> None:
    text = HELLO.replace("dest: /hello.wasm}]", "dest: /hello.wasm}, {src: hello.rs, dest: /}]")
    wasmfile = write(tmp_path, text)
    proc, seconds = timed(wb, command, str(wasmfile))
    one_line(proc, 2, f"{wasmfile}:7:", "is the image root")
    assert seconds < 2


def test_output_escaping_out_is_refused_at_its_line(wb: Runner, tmp_path: Path) -> None:
    wasmfile = write(tmp_path, """\
        wasmfile: 1
        stages:
          s:
            steps: ["true"]
            outputs: [../escape.txt]
        image:
          files: [{from: s, path: escape.txt, dest: /app.wasm}]
          entrypoint: [app.wasm]
        """.replace("\n        ", "\n").lstrip())
    for command in ("check", "build"):
        proc, seconds = timed(wb, command, str(wasmfile))
        assert "PathEscape" not in proc.stderr
        errors = [line for line in proc.stderr.splitlines() if line.startswith("error: ")]
        assert proc.returncode == 2 and seconds < 2 and "Traceback" not in proc.stderr
        assert errors[0].startswith(f"error: {wasmfile}:5: stage 's': output '../escape.txt'")


def test_image_path_escaping_the_stage_is_refused_at_its_line(wb: Runner, tmp_path: Path) -> None:
    wasmfile = write(tmp_path, HELLO.replace("path: hello.wasm", "path: ../x"))
    proc, seconds = timed(wb, "check", str(wasmfile))
    one_line(proc, 2, f"{wasmfile}:7:", "'../x'")
    assert seconds < 2


def test_rust_recipe_without_source_or_crate_names_the_wasmfile(wb: Runner, tmp_path: Path) -> None:
    wasmfile = write(tmp_path, HELLO.replace("{source: hello.rs, output: hello.wasm}", "{output: hello.wasm}"))
    proc, seconds = timed(wb, "check", str(wasmfile))
    line = one_line(proc, 2, f"{wasmfile}:3:", "exactly one of `source` or `crate`")
    assert "stage.yaml.j2" not in line and seconds < 2


def test_env_name_gets_the_posix_message(wb: Runner, tmp_path: Path) -> None:
    wasmfile = write(tmp_path, HELLO.replace("    with:", "    env: {'A=B': x}\n    with:"))
    proc, seconds = timed(wb, "check", str(wasmfile))
    line = one_line(proc, 2, f"{wasmfile}:", "invalid environment variable name 'A=B'", "POSIX")
    assert "lowercase" not in line and seconds < 2


@pytest.mark.parametrize("command", ["check", "build"])
def test_non_wasm_platform_is_refused(wb: Runner, tmp_path: Path, command: str) -> None:
    wasmfile = write(tmp_path, HELLO + "  platform: windows/zz80\n")
    proc, seconds = timed(wb, command, str(wasmfile))
    one_line(proc, 2, f"{wasmfile}:", "'windows/zz80' is not a Wasm platform", "custom_platform")
    assert seconds < 2
    (tmp_path / "Wasmfile").write_text(HELLO + "  platform: windows/zz80\n  custom_platform: true\n")
    assert wb("check", str(wasmfile)).returncode == 0


def test_bad_stage_timeout_is_refused_at_its_line(wb: Runner, tmp_path: Path) -> None:
    wasmfile = write(tmp_path, HELLO.replace("    with:", "    timeout: soon\n    with:"))
    proc, _ = timed(wb, "check", str(wasmfile))
    one_line(proc, 2, f"{wasmfile}:5:", "'soon' is not a duration")


def test_debug_shows_the_traceback(wb: Runner, tmp_path: Path) -> None:
    wasmfile = write(tmp_path, billion_laughs())
    plain = wb("plan", str(wasmfile))
    assert plain.returncode == 2 and "Traceback" not in plain.stderr
    debug = wb("--debug", "plan", str(wasmfile))
    assert debug.returncode == 2 and "Traceback" in debug.stderr
    assert debug.stderr.strip().splitlines()[-1] == plain.stderr.strip()
    env = wb("plan", str(wasmfile), env={"WASMBUILD_DEBUG": "1"})
    assert "Traceback" in env.stderr


GOLDEN_WASM = Path(__file__).resolve().parents[1] / "fixtures" / "golden" / "hello.wasm"


def _context(tmp_path: Path) -> Path:
    ctx = tmp_path / "ctx"
    (ctx / "d").mkdir(parents=True)
    (ctx / "hello.wasm").write_bytes(GOLDEN_WASM.read_bytes())
    (ctx / "Wasmfile").write_text("wasmfile: 1\nimage:\n  files: [{src: hello.wasm, dest: /hello.wasm},"
                                  " {src: d, dest: /d}]\n  entrypoint: [hello.wasm]\n")
    return ctx


def test_special_files_never_hang_and_never_trace_back(wb: Runner, tmp_path: Path) -> None:
    """A FIFO read blocks forever and a symlink loop raised RuntimeError: each is one line."""
    import os

    ctx = _context(tmp_path)
    os.symlink("loop", ctx / "d" / "loop")
    one_line(timed(wb, "check", str(ctx))[0], 2, "Wasmfile:3:", "image file 'd' holds a symlink loop")
    (ctx / "d" / "loop").unlink()
    os.mkfifo(ctx / "d" / "pipe")
    one_line(timed(wb, "build", str(ctx))[0], 3, "pipe is a FIFO, socket or device")
    (ctx / "d" / "pipe").unlink()
    os.mkfifo(ctx / ".wasmignore")
    one_line(timed(wb, "check", str(ctx))[0], 2, ".wasmignore is not a regular file")
    (ctx / ".wasmignore").unlink()
    os.mkfifo(tmp_path / "Wasmfile")
    one_line(timed(wb, "check", str(tmp_path / "Wasmfile"))[0], 2, "Wasmfile is not a regular file")


def test_ignore_file_mistakes_are_named_at_check_time(wb: Runner, tmp_path: Path) -> None:
    ctx = _context(tmp_path)
    (ctx / ".wasmignore").write_text("# fine\nfoo\\\n")
    one_line(wb("check", str(ctx)), 2, ".wasmignore:2:", "is not a valid pattern", "trailing \\ escapes nothing")
    (ctx / ".wasmignore").write_text("d\n")
    # named by the Wasmfile but ignored: refused by check and plan, not after the stages ran
    for command in ("check", "plan"):
        one_line(wb(command, str(ctx)), 2, "Wasmfile:3:", "image file 'd' is excluded by")


def test_init_writes_a_wasmfile_it_can_read_whatever_the_binary_is_called(wb: Runner, tmp_path: Path) -> None:
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "main.rs").write_text("fn main() {}\n")
    (tmp_path / "Cargo.toml").write_text('[package]\nname = "weird"\nversion = "0.1.0"\nedition = "2021"\n\n'
                                         '[[bin]]\nname = "we ird: #x"\npath = "src/main.rs"\n')
    assert wb("init", str(tmp_path)).returncode == 0
    checked = wb("check", str(tmp_path))
    assert checked.returncode == 0, checked.stderr
    assert 'entrypoint: ["/we ird: #x.wasm"]' in (tmp_path / "Wasmfile").read_text()


@pytest.mark.parametrize("name", ["SRC", "OUT", "WORK", "HOME", "PATH", "LANG", "SOURCE_DATE_EPOCH"])
def test_each_reserved_stage_env_name_is_refused_at_its_line(wb: Runner, tmp_path: Path, name: str) -> None:
    """wasmbuild sets these for every stage (ours win): a Wasmfile may not, and `check` says where."""
    (tmp_path / "Wasmfile").write_text(
        "wasmfile: 1\nstages:\n  s:\n    steps: ['true']\n    outputs: [x]\n"
        f"    env:\n      {name}: /elsewhere\n"
        "image:\n  files: [{from: s, path: x, dest: /x.wasm}]\n  entrypoint: [x.wasm]\n")
    one_line(wb("check", str(tmp_path)), 2, f"{tmp_path / 'Wasmfile'}:6: stages.s.env:", f"may not set {name}")


@pytest.mark.parametrize(("name", "value"), [("WASMBUILD_STAGE_TIMEOUT", "abc"), ("WASMBUILD_MAX_OUTPUT", "lots"),
                                             ("WASMBUILD_MAX_LAYER_FILES", "0")])
def test_a_bad_limit_in_the_environment_is_refused_before_any_stage(
        wb: Runner, tmp_path: Path, name: str, value: str) -> None:
    (tmp_path / "Wasmfile").write_text(
        "wasmfile: 1\nstages:\n  s:\n    steps: ['echo ran > $OUT/x']\n    outputs: [x]\n"
        "image:\n  files: [{from: s, path: x, dest: /x.wasm}]\n  entrypoint: [x.wasm]\n")
    proc = wb("build", str(tmp_path), "--progress", "plain", env={name: value})
    one_line(proc, 2, name)
    assert " start " not in proc.stderr  # no stage ran
