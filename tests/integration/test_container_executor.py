"""The container executor against a real engine (scripts/dockerd-up + scripts/make-base-image)."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.integration.engine_fixtures import BASE_IMAGE, docker_engine, stage_containers
from wasmbuild.errors import BuildError, ConfigError, ToolchainError
from wasmbuild.executors import container
from wasmbuild.executors.container import ensure_builder, run_stage

pytestmark = pytest.mark.integration
__all__ = ["docker_engine"]  # the fixture, re-exported until it is in pytest_plugins

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def dirs(tmp_path: Path) -> tuple[Path, Path]:
    src, out = tmp_path / "src", tmp_path / "out"
    src.mkdir()
    (src / "input.txt").write_text("hello from src\n")
    return src, out


@pytest.fixture
def listener() -> Iterator[int]:
    """A TCP listener on the host's 127.0.0.1: reachable with host networking, not with none."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(8)
    stop = threading.Event()

    def serve() -> None:
        server.settimeout(0.2)
        while not stop.is_set():
            try:
                conn, _ = server.accept()
            except OSError:
                continue
            with conn:
                conn.sendall(b"pong\n")

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield server.getsockname()[1]
    finally:
        stop.set()
        thread.join(timeout=5)
        server.close()


CONNECT = 'exec 3<>/dev/tcp/127.0.0.1/{port} && head -n1 <&3'


def test_stage_runs_steps_streams_lines_and_writes_out(docker_engine: str,
                                                       dirs: tuple[Path, Path]) -> None:
    src, out = dirs
    lines: list[str] = []
    run_stage(
        BASE_IMAGE,
        ['echo "one"; echo "two"', 'cp "$SRC/input.txt" "$OUT/copied.txt"', 'pwd > "$OUT/cwd"',
         'touch "$WORK/scratch" && test -w "$WORK"'],
        {}, src, out, network=False, log=lines.append,
    )
    assert lines[:2] == ["one", "two"]
    assert (out / "copied.txt").read_text() == "hello from src\n"
    assert (out / "cwd").read_text().strip() == "/work"
    assert stage_containers(docker_engine) == []


def test_src_is_read_only(docker_engine: str, dirs: tuple[Path, Path]) -> None:
    src, out = dirs
    with pytest.raises(BuildError, match="Read-only file system"):
        run_stage(BASE_IMAGE, ['touch "$SRC/new"'], {}, src, out)
    assert not (src / "new").exists()


def test_network_off_cannot_connect(docker_engine: str, dirs: tuple[Path, Path],
                                    listener: int) -> None:
    src, out = dirs
    with pytest.raises(BuildError, match="exited with code 1"):
        run_stage(BASE_IMAGE, [CONNECT.format(port=listener)], {}, src, out, network=False,
                  shell="bash")
    # And no interface but loopback exists at all.
    lines: list[str] = []
    run_stage(BASE_IMAGE, ["ls /sys/class/net"], {}, src, out, network=False, log=lines.append)
    assert lines == ["lo"]


def test_network_declared_can_connect(docker_engine: str, dirs: tuple[Path, Path],
                                      listener: int) -> None:
    src, out = dirs
    lines: list[str] = []
    run_stage(BASE_IMAGE, [CONNECT.format(port=listener)], {}, src, out, network=True,
              log=lines.append, shell="bash")
    assert lines == ["pong"]


def test_env_holds_only_declared_and_fixed_variables(
        docker_engine: str, dirs: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch) -> None:
    src, out = dirs
    monkeypatch.setenv("WASMBUILD_HOST_MARKER", "leaked")
    run_stage(BASE_IMAGE, ['env > "$OUT/env"'],
              {"PY_VERSION": "3.11.2", "SOURCE_DATE_EPOCH": "1676246400"}, src, out)
    env = dict(line.split("=", 1) for line in (out / "env").read_text().splitlines())
    assert "WASMBUILD_HOST_MARKER" not in env
    assert not set(env) & {"DOCKER_HOST", "VIRTUAL_ENV", "PYTEST_CURRENT_TEST", "USER"}
    assert env["PY_VERSION"] == "3.11.2"
    assert env["SOURCE_DATE_EPOCH"] == "1676246400"
    assert (env["SRC"], env["OUT"], env["WORK"], env["HOME"]) == ("/src", "/out", "/work", "/work")
    assert env["LANG"] == "C.UTF-8"
    assert env["PATH"].startswith("/usr/local/sbin")
    # Only the fixed set, the declared ones, the image's ENV and what sh itself sets.
    expected = {"SRC", "OUT", "WORK", "HOME", "PATH", "SOURCE_DATE_EPOCH", "LANG", "PY_VERSION",
                "PWD", "HOSTNAME", "SHLVL", "_", "OLDPWD"}
    assert set(env) <= expected, set(env) - expected


def test_failing_step_reports_step_code_and_output(docker_engine: str,
                                                   dirs: tuple[Path, Path]) -> None:
    src, out = dirs
    before = stage_containers(docker_engine)
    lines: list[str] = []
    with pytest.raises(BuildError) as caught:
        run_stage(BASE_IMAGE,
                  ["echo fine", "echo compiling; echo 'boom: no such thing' >&2; exit 7",
                   "echo never"], {}, src, out, log=lines.append)
    err = caught.value
    message = str(err)
    assert "\n" not in message
    assert "step 2/3" in message and "exited with code 7" in message and "boom" in message
    assert err.exit_code == BuildError.exit_code
    assert err.step_exit_code == 7  # type: ignore[attr-defined]
    assert err.output_tail[-2:] == ["compiling", "boom: no such thing"]  # type: ignore[attr-defined]
    assert "never" not in lines
    assert stage_containers(docker_engine) == before == []


def test_stage_as_unprivileged_user(docker_engine: str, dirs: tuple[Path, Path]) -> None:
    src, out = dirs
    lines: list[str] = []
    run_stage(BASE_IMAGE, ["id -u", 'touch "$WORK/w" "$OUT/o"'], {}, src, out,
              user="65534:65534", log=lines.append)
    assert lines == ["65534"]
    assert (out / "o").stat().st_uid == 65534


def test_unset_variable_fails_the_step(docker_engine: str, dirs: tuple[Path, Path]) -> None:
    src, out = dirs
    with pytest.raises(BuildError, match="exited with code"):
        run_stage(BASE_IMAGE, ['echo "$NOT_DECLARED"'], {}, src, out)


INTERRUPTED = textwrap.dedent("""
    import sys
    from wasmbuild.executors.container import run_stage
    def log(line):
        print(line, flush=True)
    run_stage(sys.argv[1], ["echo started; sleep 600"], {}, sys.argv[2], sys.argv[3], log=log)
""")


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_interrupt_leaves_no_container(docker_engine: str, dirs: tuple[Path, Path],
                                       signum: signal.Signals) -> None:
    src, out = dirs
    proc = subprocess.Popen(
        [sys.executable, "-c", INTERRUPTED, BASE_IMAGE, str(src), str(out)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    try:
        assert proc.stdout is not None
        first = proc.stdout.readline()
        assert first.strip() == "started", proc.stderr.read() if proc.stderr else ""
        assert len(stage_containers(docker_engine, proc.pid)) == 1
        proc.send_signal(signum)
        proc.wait(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        for stream in (proc.stdout, proc.stderr):
            if stream:
                stream.close()
    assert proc.returncode != 0
    assert stage_containers(docker_engine, proc.pid) == []


@pytest.fixture
def throwaway_builders(docker_engine: str) -> Iterator[list[str]]:
    """Image ids to delete after the test (builders made from temporary definitions)."""
    ids: list[str] = []
    yield ids
    if ids:
        subprocess.run(["docker", "rmi", "-f", *ids], capture_output=True, check=False,
                       env={**os.environ, "DOCKER_HOST": docker_engine}, timeout=120)


def test_builder_reused_when_unchanged_and_rebuilt_when_changed(
        docker_engine: str, tmp_path: Path, throwaway_builders: list[str]) -> None:
    definition = tmp_path / "tiny"
    definition.mkdir()
    (definition / "Dockerfile").write_text(
        "ARG BASE=debian:bookworm-slim\nFROM ${BASE}\nCOPY marker /marker\n")
    (definition / "marker").write_text(f"one {time.time_ns()}\n")
    progress: list[str] = []
    first = ensure_builder(definition, progress=progress.append)
    throwaway_builders.append(first)
    assert any(line.startswith("building builder wasmbuild-builder/tiny:") for line in progress)

    progress.clear()
    assert ensure_builder(definition, progress=progress.append) == first
    assert not any(line.startswith("building") for line in progress)
    assert any("is up to date" in line for line in progress)

    (definition / "marker").write_text(f"two {time.time_ns()}\n")
    progress.clear()
    second = ensure_builder(definition, progress=progress.append)
    throwaway_builders.append(second)
    assert second != first
    assert any(line.startswith("building builder") for line in progress)


def test_builder_build_failure_is_one_line(docker_engine: str, tmp_path: Path) -> None:
    definition = tmp_path / "broken"
    definition.mkdir()
    (definition / "Dockerfile").write_text(
        "ARG BASE=debian:bookworm-slim\nFROM ${BASE}\nRUN echo nope >&2; exit 3\n")
    with pytest.raises(BuildError) as caught:
        ensure_builder(definition)
    assert "\n" not in str(caught.value)
    assert "building builder wasmbuild-builder/broken" in str(caught.value)


def test_builder_references_must_be_pinned(docker_engine: str) -> None:
    with pytest.raises(ConfigError, match="not pinned by digest"):
        ensure_builder("docker.io/library/debian:bookworm")
    with pytest.raises(ConfigError, match="unknown builder"):
        ensure_builder("no-such-builder")


def test_missing_base_image_says_how_to_make_it(docker_engine: str, tmp_path: Path) -> None:
    definition = tmp_path / "b"
    definition.mkdir()
    (definition / "Dockerfile").write_text("ARG BASE\nFROM ${BASE}\n")
    with pytest.raises(ToolchainError, match="docker pull or build"):
        ensure_builder(definition, base="wasmbuild-test/absent:1")


def test_missing_engine_is_one_line_toolchain_error(monkeypatch: pytest.MonkeyPatch,
                                                    tmp_path: Path) -> None:
    monkeypatch.setenv("DOCKER_HOST", f"unix://{tmp_path}/nothing.sock")
    with pytest.raises(ToolchainError) as caught:
        run_stage(BASE_IMAGE, ["true"], {}, tmp_path, tmp_path / "out")
    message = str(caught.value)
    assert "\n" not in message and "scripts/dockerd-up" in message and "DOCKER_HOST" in message
    assert not container.engine_available()
