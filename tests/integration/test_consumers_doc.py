"""docs/consumers-crun.md's copy-paste blocks, run from the page's own text (issue 22 item 3).

The blocks are executed as written. What this machine needs besides (its quirks, in the page's
table) comes from the environment a user would configure once, not from edits to the lines:
podman's storage and defaults through CONTAINERS_STORAGE_CONF / CONTAINERS_CONF, ctr's socket
through CONTAINERD_ADDRESS, and the private mount namespace of hybrid-cgroup hosts."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from tests.conftest import REPO
from tests.integration.consumer_fixtures import Containerd, engine_command
from tests.integration.registry_fixtures import RegistryServer
from tests.support import require

pytestmark = pytest.mark.integration
DOC = REPO / "docs" / "consumers-crun.md"


def block(name: str) -> str:
    """The fenced block right after ``<!-- consumers: NAME -->``."""
    found = re.search(rf"<!-- consumers: {re.escape(name)} -->\n```\w*\n(.*?)```", DOC.read_text(), re.S)
    assert found, f"docs/consumers-crun.md has no block {name!r}"
    return found.group(1)


def run_block(name: str, env: dict[str, str], timeout: float = 1200) -> subprocess.CompletedProcess[str]:
    script = block(name)
    return subprocess.run(engine_command(["bash", "-euo", "pipefail", "-c", script]), cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=timeout)


def user_env() -> dict[str, str]:
    """The calling environment, with the installed wasmbuild on PATH (the venv's bin)."""
    env = dict(os.environ)
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    return env


def test_the_crun_block_builds_a_crun_with_the_wasm_handler(crun_wasm: Path) -> None:
    proc = run_block("crun", user_env())
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "+WASM:wasmtime" in proc.stdout


def test_the_podman_block_runs_the_example(crun_wasm: Path, tmp_path: Path) -> None:
    require("podman")
    base = Path(tempfile.mkdtemp(prefix="wb-podman-doc-", dir="/tmp"))
    env = {**user_env(), "CONTAINERS_STORAGE_CONF": str(base / "storage.conf"),
           "CONTAINERS_CONF": str(base / "containers.conf")}
    try:
        (base / "storage.conf").write_text(
            f'[storage]\ndriver = "vfs"\ngraphroot = "{base}/root"\nrunroot = "{base}/runroot"\n')
        (base / "containers.conf").write_text(
            '[containers]\ndefault_ulimits = ["nofile=1024:1024", "nproc=1024:1024"]\nnetns = "none"\n'
            '[engine]\ncgroup_manager = "cgroupfs"\nevents_logger = "file"\n'
            f'tmp_dir = "{base}/tmp"\n')
        proc = run_block("podman", env)
        assert proc.returncode == 0, proc.stderr[-3000:]
        assert proc.stdout.endswith("Hello Wasm\n"), proc.stdout
    finally:
        subprocess.run(engine_command(["podman", "system", "reset", "--force"]), env=env, capture_output=True,
                       timeout=300, check=False)
        shutil.rmtree(base, ignore_errors=True)
        shutil.rmtree("/tmp/hello-oci", ignore_errors=True)


def test_the_containerd_block_pulls_and_runs_the_example(containerd: Containerd,
                                                        registry: RegistryServer) -> None:
    env = {**user_env(), "CONTAINERD_ADDRESS": containerd.address, "REGISTRY": registry.host}
    proc = run_block("containerd", env)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout.endswith("Hello Wasm\n"), proc.stdout


def test_the_containerd_config_snippet_registers_crun(tmp_path: Path) -> None:
    containerd = require("containerd")
    config = tmp_path / "config.toml"
    config.write_text(block("containerd-config"))
    dump = subprocess.run([containerd, "--config", str(config), "config", "dump"], capture_output=True,
                          text=True, timeout=60)
    assert dump.returncode == 0, dump.stderr
    runtime = re.search(r'\[plugins\."io\.containerd\.grpc\.v1\.cri"\.containerd\.runtimes\.crun-wasm\]'
                        r'(.*?)(?=\n\s*\[plugins\."io\.containerd\.grpc\.v1\.cri"\.containerd\.runtimes\.(?!crun-wasm)|\Z)',
                        dump.stdout, re.S)
    assert runtime, dump.stdout
    assert 'runtime_type = "io.containerd.runc.v2"' in runtime.group(1)
    assert 'BinaryName = "/usr/local/lib/crun-wasm/crun"' in runtime.group(1)
    assert '"module.wasm.image/variant"' in runtime.group(1)
