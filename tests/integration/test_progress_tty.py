"""The live display on a real terminal (tmux): what a person sees during a parallel build.

buildx's shape: a line per stage with its state and time, the running ones with their last log
lines under them, finished ones collapsed to ``DONE``/``CACHED`` with their time.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.integration.registry_fixtures import RegistryServer
from tests.integration.tmux_screen import Screen

pytestmark = pytest.mark.integration
GOLDEN = Path(__file__).resolve().parents[1] / "fixtures" / "golden" / "hello.wasm"

# Two independent stages that run at once; each prints, then holds until the test lets it go
# (a file in the context), so the screen is read while both are surely running.
WASMFILE = """\
wasmfile: 1
stages:
  left:
    inputs: [hello.wasm]
    steps:
      - "echo left-one; echo left-two"
      - "while [ ! -e {go} ]; do sleep 0.1; done; cp $SRC/hello.wasm $OUT/app.wasm"
    outputs: [app.wasm]
  right:
    steps:
      - "echo right-one"
      - "while [ ! -e {go} ]; do sleep 0.1; done; echo data > $OUT/data.txt"
    outputs: [data.txt]
image:
  files:
    - {{from: left, path: app.wasm, dest: /app.wasm}}
    - {{from: right, path: data.txt, dest: /data.txt}}
  entrypoint: [app.wasm]
  tags: [tty-demo:1]
"""


def line_of(screen: str, stage: str) -> str:
    found = [ln for ln in screen.splitlines() if ln.startswith(f" => [{stage}]")]
    assert len(found) == 1, screen
    return found[0]


def header(screen: str) -> str:
    return next((ln for ln in screen.splitlines() if ln.startswith("[+] ")), screen)


def setup(tmp_path: Path) -> tuple[Path, Path, dict[str, str]]:
    """The project, its release file and the terminal's environment."""
    ctx, go = tmp_path / "ctx", tmp_path / "go"
    ctx.mkdir()
    shutil.copy(GOLDEN, ctx / "hello.wasm")
    (ctx / "Wasmfile").write_text(WASMFILE.format(go=go))
    env = {k: os.environ[k] for k in ("PATH", "HOME", "WASMBUILD_STORE", "WASMBUILD_CACHE")}
    env.update(TERM="xterm-256color", PYTHONPATH=os.environ.get("PYTHONPATH", ""))
    return ctx, go, env


def test_parallel_stages_each_show_their_state_logs_and_time(tmp_path: Path) -> None:
    ctx, go, env = setup(tmp_path)
    # --sandbox off: bwrap's private /tmp would hide the release file from the steps.
    args = ["build", str(ctx), "--jobs", "2", "--sandbox", "off"]
    screen = Screen(tmp_path, args, env)
    try:
        running = screen.wait_for(lambda s: "right-one" in s and "left-two" in s)
        assert re.match(r"\[\+\] Building \d+\.\ds \(0/2 stages\)", header(running)), running
        for stage in ("left", "right"):
            assert re.fullmatch(rf" => \[{stage}\] running +\d+\.\ds", line_of(running, stage))
        lines = running.splitlines()
        left = lines.index(line_of(running, "left"))
        right = lines.index(line_of(running, "right"))
        under_left = lines[left + 1:right] if left < right else lines[left + 1:]
        under_right = lines[right + 1:left] if right < left else lines[right + 1:]
        # each stage's own log lines sit under its line, not the other's
        assert " => => left-one" in under_left and " => => left-two" in under_left, running
        assert " => => right-one" in under_right and " => => left-one" not in under_right, running
        go.touch()
        assert screen.exit_code() == 0, screen.text()
        done = screen.wait_for(lambda s: "Built" in s)
        for stage in ("left", "right"):
            assert re.fullmatch(rf" => \[{stage}\] DONE +\d+\.\ds", line_of(done, stage)), done
        assert "left-one" not in done and "right-one" not in done, done  # collapsed
        assert re.match(r"\[\+\] Built \d+\.\ds \(2/2 stages\)", header(done)), done
    finally:
        go.touch()  # a failed assertion must not leave the steps waiting for ever
        screen.close()

    again = Screen(tmp_path, args, env)
    try:
        assert again.exit_code() == 0, again.text()
        cached = again.wait_for(lambda s: "Built" in s)
        for stage in ("left", "right"):
            assert re.fullmatch(rf" => \[{stage}\] CACHED +\d+\.\ds", line_of(cached, stage)), cached
    finally:
        again.close()


def test_layer_compression_and_push_show_bytes_and_rate(tmp_path: Path, registry: RegistryServer) -> None:
    ctx, go, env = setup(tmp_path)
    go.touch()  # no need to watch the stages here
    ref = registry.ref("tty/demo")
    screen = Screen(tmp_path, ["build", str(ctx), "--sandbox", "off", "--plain-http",
                               "-o", f"docker://{ref}"], env)
    try:
        assert screen.exit_code() == 0, screen.text()
        done = screen.wait_for(lambda s: "Built" in s)
    finally:
        screen.close()
    amount = r"(?P<n>\d+(\.\d)? k?B) / (?P=n) \d+(\.\d)? [kMG]?B/s +\d+\.\ds"
    lines = done.splitlines()
    assert any(re.fullmatch(rf" => DONE compressing layer \(full\) {amount}", ln) for ln in lines), done
    assert any(re.fullmatch(rf" => DONE pushing {re.escape(ref)} {amount}", ln) for ln in lines), done
    assert registry.manifest_status("tty/demo", "latest") == 200


def slow_module() -> bytes:
    """A command module whose compilation takes seconds (one function of 300k instructions:
    Cranelift's time grows faster than its size), as CPython or a component does on a first run."""
    import wasmtime

    ops = " ".join(f"local.get 0 i32.const {i} i32.mul i32.add" for i in range(300_000))
    return wasmtime.wat2wasm(f'(module (func $big (param i32) (result i32) i32.const 1 {ops}) '
                             '(func (export "_start") i32.const 0 call $big drop) (memory (export "memory") 1))')


def test_a_first_run_shows_that_it_compiles_then_runs_quietly(tmp_path: Path) -> None:
    """Issue 22 item 12: compiling a module before its first run is shown on a terminal (what,
    how big, the time so far), then says how long it took; the next run, cached, shows nothing."""
    ctx = tmp_path / "ctx"
    ctx.mkdir()
    (ctx / "big.wasm").write_bytes(slow_module())
    (ctx / "Wasmfile").write_text(
        "wasmfile: 1\nstages:\n  big:\n    inputs: [big.wasm]\n    steps: ['cp $SRC/big.wasm $OUT/']\n"
        "    outputs: [big.wasm]\nimage:\n  files: [{from: big, path: big.wasm, dest: /big.wasm}]\n"
        "  entrypoint: [big.wasm]\n  tags: [slow-compile:1]\n")
    build = subprocess.run([sys.executable, "-m", "wasmbuild", "build", str(ctx)], capture_output=True,
                           text=True, timeout=600)
    assert build.returncode == 0, build.stderr
    env = {k: os.environ[k] for k in ("PATH", "HOME", "WASMBUILD_STORE")}
    env.update(TERM="xterm-256color", PYTHONPATH=os.environ.get("PYTHONPATH", ""),
               WASMBUILD_CACHE=str(tmp_path / "fresh-cache"))  # no compiled code yet
    first = Screen(tmp_path, ["run", "slow-compile:1"], env)
    try:
        compiling = first.wait_for(lambda s: "compiling big.wasm" in s, timeout=120)
        line = next(ln for ln in compiling.splitlines() if "compiling big.wasm" in ln)
        assert re.fullmatch(r"[⠋⠙⠹⠸⠼⠴⠦⠧⠇⠏] compiling big\.wasm \(\d+\.\d MB\) for this machine, once "
                            r"0:00:\d\d", line.strip()), line
        assert first.exit_code() == 0, first.text()
        done = first.wait_for(lambda s: "compiled big.wasm" in s)
        assert re.search(r"^wasmbuild: compiled big\.wasm \(kept for the next runs\) in \d+\.\d s$", done,
                         re.MULTILINE), done
        assert "compiling big.wasm" not in done, done  # the spinner line was replaced
    finally:
        first.close()
    again = Screen(tmp_path, ["run", "slow-compile:1"], env)
    try:
        assert again.exit_code() == 0, again.text()
        assert "compil" not in again.text(), again.text()
    finally:
        again.close()
