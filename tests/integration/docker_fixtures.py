"""A Docker engine for docker-archive tests: ``DOCKER_HOST`` if it answers, else our own dockerd.

Our dockerd runs as root with the vfs storage driver, no iptables and no bridge, on a socket under
a short /tmp path (unix socket paths are limited to 108 bytes).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from tests.integration.registry_fixtures import require
from tests.support import missing


@dataclass(frozen=True)
class DockerEngine:
    host: str  # value for DOCKER_HOST
    version: str  # server version, e.g. "20.10.24+dfsg1"

    @property
    def major(self) -> int:
        return int(self.version.split(".", 1)[0])

    def run(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        env = {**os.environ, "DOCKER_HOST": self.host}
        return subprocess.run(
            ["docker", *args], env=env, capture_output=True, text=True, check=check, timeout=120
        )


def _server_version(host: str) -> str | None:
    try:
        proc = subprocess.run(
            ["docker", "version", "--format", "{{.Server.Version}}"],
            env={**os.environ, "DOCKER_HOST": host},
            capture_output=True,
            text=True,
            timeout=10,
        )
    except subprocess.TimeoutExpired:
        return None
    return proc.stdout.strip() if proc.returncode == 0 and proc.stdout.strip() else None


def _unavailable(reason: str) -> None:
    missing(reason)


@pytest.fixture(scope="session")
def publish_dockerd() -> Iterator[DockerEngine]:
    require("docker")
    host = os.environ.get("DOCKER_HOST") or "unix:///var/run/docker.sock"
    version = _server_version(host)
    if version:
        yield DockerEngine(host, version)
        return
    dockerd = require("dockerd")
    if os.geteuid() != 0:
        _unavailable("no Docker engine answers and starting dockerd needs root")
    base = tempfile.mkdtemp(prefix="wbd-", dir="/tmp")
    host = f"unix://{base}/docker.sock"
    log = open(os.path.join(base, "dockerd.log"), "wb")  # noqa: SIM115 -- closed below
    proc = subprocess.Popen(
        [
            dockerd,
            "--storage-driver=vfs",
            "--iptables=false",
            "--bridge=none",
            "-H",
            host,
            "--data-root",
            f"{base}/data",
            "--exec-root",
            f"{base}/x",
            "--pidfile",
            f"{base}/pid",
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + 60
        while not (version := _server_version(host)):
            if proc.poll() is not None or time.monotonic() > deadline:
                with open(os.path.join(base, "dockerd.log"), "rb") as fh:
                    tail = fh.read()[-1500:].decode(errors="replace")
                _unavailable(f"dockerd did not start: {tail}")
            time.sleep(0.3)
        yield DockerEngine(host, version)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()
        shutil.rmtree(base, ignore_errors=True)
