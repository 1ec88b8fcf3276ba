"""The container executor against a real engine (scripts/dockerd-up + scripts/make-base-image)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.integration.engine_fixtures import BASE_IMAGE, docker_engine, stage_containers
from wasmbuild.errors import BuildError, ConfigError, StepFailed, ToolchainError
from wasmbuild.execute.executors import StageJob, engine, run_job
from wasmbuild.execute.executors.container import ContainerExecutor
from wasmbuild.execute.executors.engine import ensure_builder

pytestmark = pytest.mark.integration
__all__ = ["docker_engine"]  # the fixture, re-exported until it is in pytest_plugins

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def dirs(tmp_path: Path) -> tuple[Path, Path]:
    src, out = tmp_path / "src", tmp_path / "out"
    src.mkdir()
    (src / "input.txt").write_text("hello from src\n")
    return src, out


def run_stage(image: str, steps: list[str], src: Path, out: Path, *, user: str | None = None,
              log: Callable[[str], None] | None = None) -> None:
    """Run ``steps`` as a stage in ``image`` through the container executor."""
    executor = ContainerExecutor(image_for=lambda _b: image, toolchain_for=lambda _b: {})
    job = StageJob(name="t", steps=tuple(steps), env={}, src=src, out=out, work=src.parent / "work",
                   builder="test", user=user)
    run_job(executor, job, log or (lambda _line: None))


def test_stage_leaves_no_container(docker_engine: str, dirs: tuple[Path, Path]) -> None:
    src, out = dirs
    run_stage(BASE_IMAGE, ['cp "$SRC/input.txt" "$OUT/copied.txt"'], src, out)
    assert (out / "copied.txt").read_text() == "hello from src\n"
    assert stage_containers(docker_engine) == []
    with pytest.raises(StepFailed, match="exited with code 3"):
        run_stage(BASE_IMAGE, ["exit 3"], src, out)
    assert stage_containers(docker_engine) == []


def test_stage_as_unprivileged_user(docker_engine: str, dirs: tuple[Path, Path]) -> None:
    src, out = dirs
    lines: list[str] = []
    run_stage(BASE_IMAGE, ["id -u", 'touch "$WORK/w" "$OUT/o"'], src, out,
              user="65534:65534", log=lines.append)
    assert "[t] 65534" in lines
    assert (out / "o").is_file()


INTERRUPTED = textwrap.dedent("""
    import sys
    from pathlib import Path
    from wasmbuild.execute.executors import StageJob, run_job
    from wasmbuild.execute.executors.container import ContainerExecutor
    def log(line):
        print(line, flush=True)
    executor = ContainerExecutor(image_for=lambda _b: sys.argv[1], toolchain_for=lambda _b: {})
    src = Path(sys.argv[2])
    job = StageJob(name="t", steps=("echo started; sleep 600",), env={}, src=src,
                   out=Path(sys.argv[3]), work=src.parent / "work", builder="test")
    run_job(executor, job, log)
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
        first = ""
        while first.strip() != "[t] started":
            first = proc.stdout.readline()
            assert first, proc.stderr.read() if proc.stderr else ""
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
    with pytest.raises(BuildError, match="building builder wasmbuild-builder/broken") as caught:
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
    with pytest.raises(ToolchainError, match="no container engine answers") as caught:
        run_stage(BASE_IMAGE, ["true"], tmp_path, tmp_path / "out")
    message = str(caught.value)
    assert "\n" not in message and "scripts/dockerd-up" in message and "DOCKER_HOST" in message
    assert not engine.engine_available()
