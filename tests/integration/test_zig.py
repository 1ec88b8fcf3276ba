"""The `zig` recipe (issue 20, Zig part): examples/hello-zig built with the ziglang wheel's zig,
run by `wasmbuild run` and by podman through crun, reproducible, zig's version in the SBOM."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from tests.conftest import REPO, Runner
from tests.integration.consumer_fixtures import Podman
from tests.support import validate_spdx

pytestmark = pytest.mark.integration
OUT = "env: GREETING=hi\nargs: {args}\nHello from Zig on WASI\n"


def test_hello_zig_builds_runs_and_reproduces(wb: Runner, tmp_path: Path) -> None:
    ctx = tmp_path / "hello-zig"
    shutil.copytree(REPO / "examples" / "hello-zig", ctx)
    built = wb("build", str(ctx), "--json", "-o", f"oci:{tmp_path / 'oci'}", timeout=900)
    assert built.returncode == 0, built.stderr
    digest = json.loads(built.stdout)["digest"]
    run = wb("run", f"oci:{tmp_path / 'oci'}", "a", "b")
    assert (run.returncode, run.stdout) == (0, OUT.format(args="a b")), run.stderr
    failing = wb("run", f"oci:{tmp_path / 'oci'}", "fail")
    assert failing.returncode == 7 and failing.stdout == OUT.format(args="fail")
    # from scratch, in another checkout: the same bytes (-fstrip keeps this machine's paths out)
    other = tmp_path / "elsewhere" / "hello-zig"
    shutil.copytree(REPO / "examples" / "hello-zig", other)
    clean = wb("build", str(other), "--json", "--no-cache", timeout=900)
    assert json.loads(clean.stdout)["digest"] == digest
    sbom = json.loads(wb("inspect", "hello-zig:latest", "--sbom", "--json").stdout)
    assert validate_spdx(sbom) == []
    [zig] = [p for p in sbom["packages"] if p["name"] == "zig"]
    assert zig["versionInfo"].startswith("0."), zig


def test_podman_runs_the_zig_image_through_crun(wb: Runner, tmp_path: Path, podman: Podman) -> None:
    """Unlike Go's port, Zig's std opens a file under whichever directory the runner preopens:
    crun's "." (the container root) serves /etc/greeting.txt."""
    built = wb("build", str(REPO / "examples" / "hello-zig"), "-o", f"oci:{tmp_path / 'oci'}", timeout=900)
    assert built.returncode == 0, built.stderr
    proc = podman.run_layout(tmp_path / "oci", ["x"])
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines()[1:] == ["args: x", "Hello from Zig on WASI"], proc.stdout
    assert "GREETING=hi" in proc.stdout.splitlines()[0]
