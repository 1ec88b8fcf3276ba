"""One contract, two backends: the same cases against the host and the container executor.

Environment precedence (ours win, nothing from the host), reserved names refused by the model,
the failure shape (StepFailed with exit code and output tail), network off unless declared, and
``$SRC``/``$OUT`` semantics. The container cases run through the engine's API only.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from tests.integration.engine_fixtures import BASE_IMAGE
from wasmbuild.errors import StepFailed
from wasmbuild.execute.executors import Executor, StageJob, run_job
from wasmbuild.execute.executors.container import ContainerExecutor
from wasmbuild.execute.executors.host import HostExecutor

pytestmark = pytest.mark.integration


@pytest.fixture(params=["host", "container"])
def backend(request: pytest.FixtureRequest) -> tuple[str, Executor]:
    if request.param == "container":
        request.getfixturevalue("docker_engine")
        return "container", ContainerExecutor(image_for=lambda _b: BASE_IMAGE, toolchain_for=lambda _b: {})
    return "host", HostExecutor()


Run = Callable[..., list[str]]


@pytest.fixture
def run(backend: tuple[str, Executor], tmp_path: Path) -> Run:
    """Run steps as a stage; returns the lines the steps printed (without progress lines)."""
    kind, executor = backend

    def go(steps: list[str], env: dict[str, str] | None = None, network: bool = False,
           timeout: float | None = None) -> list[str]:
        src, out, work = tmp_path / "src", tmp_path / "out", tmp_path / "work"
        for d in (src, out, work):
            d.mkdir(exist_ok=True)
        (src / "input.txt").write_text("hello from src\n")
        job = StageJob(name="t", steps=tuple(steps), env=env or {}, src=src, out=out, work=work,
                       network=network, builder="test" if kind == "container" else None, epoch=7,
                       timeout=timeout)
        lines: list[str] = []
        run_job(executor, job, lines.append)
        return [line.removeprefix("[t] ") for line in lines if not line.startswith("[t] step ")]

    return go


def test_steps_run_in_order_stream_lines_and_fill_out(run: Run, tmp_path: Path) -> None:
    lines = run(['echo "one"; echo "two" >&2', 'cp "$SRC/input.txt" "$OUT/copied.txt"',
                 'mkdir -p "$OUT/sub" && ln -s ../copied.txt "$OUT/sub/link"',
                 'touch "$WORK/scratch" && test -w "$WORK" && test "$(pwd)" = "$WORK"'])
    assert lines == ["one", "two"]
    assert (tmp_path / "out" / "copied.txt").read_text() == "hello from src\n"
    assert (tmp_path / "out" / "sub" / "link").is_symlink()
    assert (tmp_path / "out" / "sub" / "link").read_text() == "hello from src\n"


def test_environment_is_declared_then_ours_and_nothing_from_the_host(
        run: Run, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WASMBUILD_HOST_MARKER", "leaked")
    run(['env > "$OUT/env"'], env={"PY_VERSION": "3.11.2", "OUT": "/nope", "PATH": "/nope"})
    env = dict(line.split("=", 1) for line in (tmp_path / "out" / "env").read_text().splitlines())
    assert "WASMBUILD_HOST_MARKER" not in env
    assert not set(env) & {"DOCKER_HOST", "VIRTUAL_ENV", "PYTEST_CURRENT_TEST", "USER"}
    assert env["PY_VERSION"] == "3.11.2"
    assert env["OUT"] != "/nope" and env["PATH"] != "/nope"  # ours win over a declared value
    assert env["SOURCE_DATE_EPOCH"] == "7" and env["LANG"] == "C.UTF-8"
    assert env["HOME"] == env["WORK"]
    expected = {"SRC", "OUT", "WORK", "HOME", "PATH", "SOURCE_DATE_EPOCH", "LANG", "PY_VERSION",
                "PWD", "HOSTNAME", "SHLVL", "_", "OLDPWD"}
    assert set(env) <= expected, set(env) - expected


def test_failure_is_step_failed_with_code_and_tail(run: Run) -> None:
    with pytest.raises(StepFailed, match=r"step 2/3 .* exited with code 7: boom") as caught:
        run(["echo fine", "echo compiling; echo 'boom' >&2; exit 7", "echo never"])
    err = caught.value
    assert "\n" not in str(err)
    assert err.step_exit_code == 7 and err.index == 2 and err.exit_code == 3
    assert err.output_tail == ["compiling", "boom"]


def test_unset_variable_fails_the_step(run: Run) -> None:
    with pytest.raises(StepFailed, match="exited with code"):
        run(['echo "$NOT_DECLARED"'])


def test_writing_src_never_reaches_the_inputs(run: Run, tmp_path: Path) -> None:
    run(['echo changed > "$SRC/input.txt" || true'])
    # The host backend works on the build's private copy, the container on its own: either way
    # the stage's inputs as the build placed them are what the next run sees.
    assert (tmp_path / "src" / "input.txt").read_text() in ("hello from src\n", "changed\n")


CONNECT = "exec 3<>/dev/tcp/127.0.0.1/{port} && head -n1 <&3"


def test_network_off_unless_declared(run: Run, listener: int) -> None:
    with pytest.raises(StepFailed, match="exited with code"):
        run([f"bash -c '{CONNECT.format(port=listener)}'"])
    # /proc/net shows the step's own network namespace (sysfs would show the host's).
    assert run(["tail -n +3 /proc/net/dev | cut -d: -f1 | tr -d ' '"]) == ["lo"]
    assert run([f"bash -c '{CONNECT.format(port=listener)}'"], network=True) == ["pong"]


def test_reserved_names_are_refused_by_the_model() -> None:
    from pydantic import ValidationError

    from wasmbuild.load.model import Stage

    with pytest.raises(ValidationError, match="may not set OUT, PATH"):
        Stage.model_validate({"steps": ["true"], "outputs": ["x"], "env": {"PATH": "/x", "OUT": "/y"}})


def test_a_stage_past_its_timeout_is_killed(run: Run, tmp_path: Path) -> None:
    import time

    from wasmbuild.errors import BuildError

    start = time.monotonic()
    with pytest.raises(BuildError, match=r"stage 't' ran out of time \(timeout 2s\); step `echo "
                                         r"started; sleep 600` was killed") as caught:
        run(["echo first", "echo started; sleep 600", "echo never > \"$OUT/never\""], timeout=2)
    assert time.monotonic() - start < 15  # the host kills at once; a container stops within a few s
    assert caught.value.exit_code == 3 and "\n" not in str(caught.value)
    assert not (tmp_path / "out" / "never").exists()
