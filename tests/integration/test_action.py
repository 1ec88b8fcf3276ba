"""The GitHub Action: action.yml is schema-valid, and its script builds, pushes and sets outputs."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.integration.registry_fixtures import PASSWORD, USERNAME, RegistryServer, require

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "scripts" / "action-run.sh"


def test_action_yml_is_valid() -> None:
    tool = shutil.which("check-jsonschema") or str(Path(sys.executable).parent / "check-jsonschema")
    if not Path(tool).exists():
        require("check-jsonschema")
    proc = subprocess.run(
        [tool, "--builtin-schema", "vendor.github-actions", str(ROOT / "action.yml")],
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr


def _project(tmp_path: Path) -> Path:
    project = tmp_path / "project"
    project.mkdir()
    (project / "app.wasm").write_bytes(b"\0asm\x01\0\0\0")
    (project / "Wasmfile").write_text(
        "wasmfile: 1\n"
        "image:\n"
        "  files:\n"
        "    - {src: app.wasm, dest: /app.wasm}\n"
        '  entrypoint: ["/app.wasm"]\n'
    )
    return project


def run_action(tmp_path: Path, wasmbuild: str, **inputs: str) -> dict[str, str]:
    out = tmp_path / "github_output"
    out.write_text("")
    env = {
        **os.environ,
        "GITHUB_OUTPUT": str(out),
        "WASMBUILD": wasmbuild,
        "PYTHONPATH": str(ROOT),
        **{f"INPUT_{k.upper()}": v for k, v in inputs.items()},
    }
    env.pop("GITHUB_ACTIONS", None)
    proc = subprocess.run(
        ["bash", str(SCRIPT)], cwd=ROOT, env=env, capture_output=True, text=True, timeout=600
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert PASSWORD not in proc.stdout + proc.stderr
    return dict(line.split("=", 1) for line in out.read_text().splitlines() if "=" in line)


@pytest.mark.integration
@pytest.mark.usefixtures("isolated_env")
def test_action_script_with_credentials(tmp_path: Path, auth_registry: RegistryServer) -> None:
    """The script's logic (tags, registry prefix, credentials from inputs, outputs)."""
    project = _project(tmp_path)
    outputs = run_action(
        tmp_path,
        f"{sys.executable} -m wasmbuild",
        wasmfile=str(project / "Wasmfile"),
        context=str(project),
        tags="hello:1, hello:latest",
        registry=auth_registry.host,
        push="true",
        username=USERNAME,
        password=PASSWORD,
        plain_http="true",
    )
    digest = outputs["digest"]
    assert digest.startswith("sha256:")
    assert outputs["image"] == f"{auth_registry.host}/hello@{digest}"
    assert auth_registry.manifest_status("hello", "1") == 200
    assert auth_registry.manifest_status("hello", "latest") == 200
    # CI credentials come from the environment: nothing was stored.
    assert not (Path(os.environ["DOCKER_CONFIG"]) / "config.json").exists()


@pytest.mark.integration
@pytest.mark.usefixtures("isolated_env")
def test_action_script_with_real_build(tmp_path: Path, registry: RegistryServer) -> None:
    """End to end with the real `wasmbuild build` (needs the core CLI on this branch)."""
    project = _project(tmp_path)
    outputs = run_action(
        tmp_path,
        f"{sys.executable} -m wasmbuild",
        wasmfile=str(project / "Wasmfile"),
        context=str(project),
        tags=f"{registry.host}/action-demo:1",
        push="true",
        plain_http="true",
    )
    assert outputs["image"] == f"{registry.host}/action-demo@{outputs['digest']}"
    raw = subprocess.run(
        [
            require("skopeo"),
            "inspect",
            "--tls-verify=false",
            "--format",
            "{{.Digest}}",
            f"docker://{registry.host}/action-demo:1",
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    assert raw == outputs["digest"]
