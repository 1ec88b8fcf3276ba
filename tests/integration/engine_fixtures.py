"""Pytest fixtures for a real container engine (add to ``pytest_plugins``).

``docker_engine`` runs ``scripts/dockerd-up`` (when DOCKER_HOST is unset or is ours) and
``scripts/make-base-image`` once per session and exports DOCKER_HOST. A missing component skips
the test locally but fails it when ``CI`` is set: CI never skips integration tests.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support import in_ci, missing

__all__ = ["in_ci", "missing"]

ROOT = Path(__file__).resolve().parents[2]
SCRIPTS = ROOT / "scripts"
DEFAULT_DOCKER_HOST = "unix:///var/run/wasmbuild-docker/docker.sock"
BASE_IMAGE = "debian:bookworm-slim"


def _run(cmd: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=900, check=False)


@pytest.fixture(scope="session")
def docker_engine() -> Iterator[str]:
    """DOCKER_HOST of a running engine holding ``debian:bookworm-slim``."""
    for tool in ("dockerd", "docker", "debootstrap"):
        if shutil.which(tool) is None:
            missing(f"{tool} is not installed (apt-get install docker.io debootstrap)")
    env = dict(os.environ)
    env.setdefault("DOCKER_HOST", DEFAULT_DOCKER_HOST)
    if env["DOCKER_HOST"] == DEFAULT_DOCKER_HOST and os.geteuid() != 0:
        probe = _run([str(SCRIPTS / "dockerd-up")], env)
        if probe.returncode != 0:
            missing(f"no engine at {DEFAULT_DOCKER_HOST} and not root to start one")
    up = _run([str(SCRIPTS / "dockerd-up")], env)
    if up.returncode != 0:
        missing(f"scripts/dockerd-up failed: {(up.stderr or up.stdout).strip()[-500:]}")
    base = _run([str(SCRIPTS / "make-base-image"), BASE_IMAGE], env)
    if base.returncode != 0:
        missing(f"scripts/make-base-image failed: {(base.stderr or base.stdout).strip()[-500:]}")
    previous = os.environ.get("DOCKER_HOST")
    os.environ["DOCKER_HOST"] = env["DOCKER_HOST"]
    try:
        yield env["DOCKER_HOST"]
    finally:
        if previous is None:
            os.environ.pop("DOCKER_HOST", None)
        else:
            os.environ["DOCKER_HOST"] = previous


def stage_containers(docker_host: str, pid: int | None = None) -> list[str]:
    """Ids of all containers (running or not) that stages of process ``pid`` (default: this
    one) created; other processes' builds on the same engine do not count."""
    label = f"org.wasmbuild.pid={os.getpid() if pid is None else pid}"
    out = subprocess.run(
        ["docker", "ps", "-a", "-q", "--filter", "label=org.wasmbuild.stage", "--filter",
         f"label={label}"],
        env={**os.environ, "DOCKER_HOST": docker_host},
        capture_output=True, text=True, check=True, timeout=60,
    )
    return out.stdout.split()


def all_containers(docker_host: str) -> list[str]:
    out = subprocess.run(
        ["docker", "ps", "-a", "-q"], env={**os.environ, "DOCKER_HOST": docker_host},
        capture_output=True, text=True, check=True, timeout=60,
    )
    return out.stdout.split()


REMOTE_DATA = Path(os.environ.get("WASMBUILD_REMOTE_DOCKER_DATA", "/var/lib/wasmbuild-docker-remote"))


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="session")
def remote_docker_engine(docker_engine: str) -> Iterator[str]:
    """A second dockerd that does NOT share this machine's /tmp, reached over TCP.

    It runs in its own mount namespace with a fresh tmpfs on /tmp, so the build directories
    (under /tmp in the tests) do not exist for it: a stage only works if its inputs and outputs
    go through the engine's API, as they must with a remote ``DOCKER_HOST``. Its base image is
    copied from the local engine (``docker save | docker load``), through the API as well.
    """
    import socket
    import time

    if os.geteuid() != 0:
        missing("starting a second dockerd needs root")
    for tool in ("unshare", "dockerd"):
        if shutil.which(tool) is None:
            missing(f"{tool} is not installed")
    port = _free_port()
    host = f"tcp://127.0.0.1:{port}"
    run_dir = Path(tempfile.mkdtemp(prefix="wbr-", dir="/var/tmp"))
    REMOTE_DATA.mkdir(parents=True, exist_ok=True)
    script = (
        "mount --make-rprivate / && mount -t tmpfs tmpfs /tmp && "
        f"exec dockerd --storage-driver=vfs --iptables=false --ip6tables=false --bridge=none "
        f"-H {host} --data-root {REMOTE_DATA} --exec-root {run_dir}/exec --pidfile {run_dir}/pid"
    )
    log = open(run_dir / "dockerd.log", "wb")  # noqa: SIM115 -- closed below
    proc = subprocess.Popen(["unshare", "--mount", "sh", "-c", script], stdout=log,
                            stderr=subprocess.STDOUT, start_new_session=True)
    env = {**os.environ, "DOCKER_HOST": host}
    try:
        deadline = time.monotonic() + 90
        while True:  # poll with a deadline: the engine answers on its TCP port when ready
            with socket.socket() as s:
                s.settimeout(1)
                if s.connect_ex(("127.0.0.1", port)) == 0 and _run(["docker", "version"], env).returncode == 0:
                    break
            if proc.poll() is not None or time.monotonic() > deadline:
                missing(f"the remote dockerd did not start: {(run_dir / 'dockerd.log').read_text()[-1500:]}")
            time.sleep(0.5)
        if _run(["docker", "image", "inspect", BASE_IMAGE], env).returncode != 0:
            save = subprocess.Popen(["docker", "save", BASE_IMAGE], stdout=subprocess.PIPE,
                                    env={**os.environ, "DOCKER_HOST": docker_engine})
            load = subprocess.run(["docker", "load"], stdin=save.stdout, env=env, capture_output=True,
                                  text=True, timeout=600)
            assert save.stdout is not None
            save.stdout.close()
            save.wait(timeout=600)
            if load.returncode != 0 or save.returncode != 0:
                missing(f"cannot copy {BASE_IMAGE} to the remote engine: {load.stderr[-500:]}")
        yield host
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()
        shutil.rmtree(run_dir, ignore_errors=True)
