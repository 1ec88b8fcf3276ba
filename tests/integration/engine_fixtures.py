"""Pytest fixtures for a real container engine (add to ``pytest_plugins``).

``docker_engine`` runs ``scripts/dockerd-up`` (when DOCKER_HOST is unset or is ours) and
``scripts/make-base-image`` once per session and exports DOCKER_HOST. A missing component skips
the test locally but fails it when ``CI`` is set: CI never skips integration tests.
"""

from __future__ import annotations

import os
import shutil
import subprocess
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
