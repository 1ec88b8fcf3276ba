"""The `zig` recipe (issue 20, Zig part): examples/hello-zig built with the ziglang wheel's zig,
run by `wasmbuild run` and by podman through crun, reproducible, zig's version in the SBOM."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import REPO, Runner
from tests.integration.consumer_fixtures import Podman
from tests.support import examples

pytestmark = pytest.mark.integration
OUT = examples.OUT.replace("{lang}", "Zig")


def test_hello_zig_builds_runs_and_reproduces(wb: Runner, tmp_path: Path) -> None:
    layout, digest = examples.build_example(wb, "hello-zig", tmp_path)
    examples.assert_runs(wb, layout, OUT)
    # from scratch, in another checkout: the same bytes (-fstrip keeps this machine's paths out)
    examples.assert_reproduces(wb, "hello-zig", tmp_path, digest)
    [zig] = [p for p in examples.sbom(wb, "hello-zig:latest")["packages"] if p["name"] == "zig"]
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
