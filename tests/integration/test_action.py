"""The GitHub Action: action.yml is schema-valid, and its script builds, pushes and sets outputs."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.integration.registry_fixtures import PASSWORD, USERNAME, RegistryServer, require
from tests.support import STAGED

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


def action_proc(tmp_path: Path, wasmbuild: str, env: dict[str, str] | None = None,
                **inputs: str) -> subprocess.CompletedProcess[str]:
    """Run the script as action.yml does; $GITHUB_OUTPUT is tmp_path/github_output."""
    out = tmp_path / "github_output"
    out.write_text("")
    full = {
        **os.environ,
        "GITHUB_OUTPUT": str(out),
        "WASMBUILD": wasmbuild,
        "PYTHONPATH": str(ROOT),
        **(env or {}),
        **{f"INPUT_{k.upper()}": v for k, v in inputs.items()},
    }
    full.pop("GITHUB_ACTIONS", None)
    return subprocess.run(["bash", str(SCRIPT)], cwd=ROOT, env=full, capture_output=True, text=True, timeout=600)


def outputs_of(tmp_path: Path) -> dict[str, str]:
    text = (tmp_path / "github_output").read_text()
    return dict(line.split("=", 1) for line in text.splitlines() if "=" in line)


def run_action(tmp_path: Path, wasmbuild: str, env: dict[str, str] | None = None, **inputs: str) -> dict[str, str]:
    proc = action_proc(tmp_path, wasmbuild, env, **inputs)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert PASSWORD not in proc.stdout + proc.stderr
    return outputs_of(tmp_path)


@pytest.mark.integration
@pytest.mark.usefixtures("isolated_env")
def test_action_script_with_credentials(tmp_path: Path, auth_registry: RegistryServer) -> None:
    """The script's logic (tags, registry prefix, credentials and a signing key from inputs,
    outputs); neither the password nor the key nor its passphrase reaches the log."""
    from tests.integration.signing_fixtures import PASSPHRASE, make_keypair

    project = _project(tmp_path)
    pair = make_keypair(tmp_path / "keys", "ci")
    proc = action_proc(
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
        signing_key=pair.key.read_text(),
        signing_key_passphrase=PASSPHRASE,
    )
    log = proc.stdout + proc.stderr
    assert proc.returncode == 0, log
    assert PASSWORD not in log and PASSPHRASE not in log and pair.pem_body()[:32] not in log
    outputs = outputs_of(tmp_path)
    digest = outputs["digest"]
    assert digest.startswith("sha256:")
    assert outputs["image"] == f"{auth_registry.host}/hello@{digest}"
    assert auth_registry.manifest_status("hello", "1") == 200
    assert auth_registry.manifest_status("hello", "latest") == 200
    # CI credentials come from the environment: nothing was stored.
    assert not (Path(os.environ["DOCKER_CONFIG"]) / "config.json").exists()
    # Signed by digest with the key from the secret: the public key verifies it.
    creds = {**os.environ, "WASMBUILD_USERNAME": USERNAME, "WASMBUILD_PASSWORD": PASSWORD}
    verified = subprocess.run([sys.executable, "-m", "wasmbuild", "verify", outputs["image"], "--key", str(pair.pub),
                               "--plain-http"], capture_output=True, text=True, env=creds, cwd=ROOT, timeout=120)
    assert verified.returncode == 0, verified.stderr


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




@pytest.mark.integration
def test_action_outputs_metadata_summary_and_keeps_the_stage_cache(tmp_path: Path) -> None:
    project = _project(tmp_path)
    (project / "Wasmfile").write_text(STAGED)
    summary = tmp_path / "summary.md"
    env = {"WASMBUILD_CACHE": str(tmp_path / "runner-cache"), "GITHUB_STEP_SUMMARY": str(summary)}
    results = []
    for _ in range(2):  # two CI runs sharing the cache directory action.yml restores and saves
        proc = action_proc(tmp_path, f"{sys.executable} -m wasmbuild", env, wasmfile=str(project / "Wasmfile"),
                           context=str(project), tags="demo:1")
        assert proc.returncode == 0, proc.stdout + proc.stderr
        assert re.search(r"^ +\d+\.\d{3} start app$", proc.stderr, re.M)  # --progress plain in the log
        results.append(outputs_of(tmp_path))
    first, second = (json.loads(r["metadata"]) for r in results)
    assert first["digest"] == second["digest"] == results[0]["digest"]
    assert results[0]["image"] == f"demo@{first['digest']}" and first["image"] == results[0]["image"]
    assert [s["cached"] for s in first["stages"]] == [False]
    assert [s["cached"] for s in second["stages"]] == [True]
    text = summary.read_text()
    assert text.count("### wasmbuild: `") == 2 and f"- digest: `{first['digest']}`" in text
    assert "| app | built |" in text and "| app | cached |" in text
    assert "1 of 1 stage(s) came from the cache." in text


@pytest.mark.integration
def test_action_adds_the_wasm_target_with_rustup(tmp_path: Path) -> None:
    project = _project(tmp_path)
    shutil.copy(ROOT / "examples" / "hello-rust" / "hello.rs", project / "hello.rs")
    (project / "Wasmfile").write_text(
        "wasmfile: 1\nstages:\n  hello:\n    recipe: rust\n    with: {source: hello.rs, output: hello.wasm}\n"
        "image:\n  files: [{from: hello, path: hello.wasm, dest: /hello.wasm}]\n  entrypoint: [hello.wasm]\n")
    bin_dir = tmp_path / "bin"  # a stock runner's rustup, recording what it is asked
    bin_dir.mkdir()
    (bin_dir / "rustup").write_text(f'#!/bin/sh\necho "$*" >> {tmp_path / "rustup.log"}\n')
    (bin_dir / "rustup").chmod(0o755)
    env = {"PATH": f"{bin_dir}:{os.environ['PATH']}"}
    outputs = run_action(tmp_path, f"{sys.executable} -m wasmbuild", env, wasmfile=str(project / "Wasmfile"),
                         context=str(project), tags="rusty:1")
    assert (tmp_path / "rustup.log").read_text() == "target add wasm32-wasip1\n"
    assert outputs["digest"].startswith("sha256:")
    # Without the input, nothing is set up.
    (tmp_path / "rustup.log").unlink()
    run_action(tmp_path, f"{sys.executable} -m wasmbuild", env, wasmfile=str(project / "Wasmfile"),
               context=str(project), tags="rusty:1", setup_toolchains="false")
    assert not (tmp_path / "rustup.log").exists()


@pytest.mark.integration
def test_action_fails_clearly_when_a_toolchain_is_missing(tmp_path: Path) -> None:
    project = _project(tmp_path)
    (project / "main.c").write_text("int main(void) { return 0; }\n")
    (project / "Wasmfile").write_text(
        "wasmfile: 1\nstages:\n  app:\n    recipe: c\n    with: {sources: [main.c]}\n"
        "image:\n  files: [{from: app, path: app.wasm, dest: /app.wasm}]\n  entrypoint: [app.wasm]\n")
    # No wasi-libc anywhere (and no zig stand-in): the C toolchain cannot be found.
    env = {"WASMBUILD_TOOLCHAIN_DIRS": "", "WASI_SYSROOT": str(tmp_path / "none"), "WASMBUILD_ZIG": ""}
    proc = action_proc(tmp_path, f"{sys.executable} -m wasmbuild", env, wasmfile=str(project / "Wasmfile"),
                       context=str(project), tags="c:1")
    assert proc.returncode == 4, proc.stdout + proc.stderr
    errors = [line for line in proc.stderr.splitlines() if line.startswith("::error::")]
    assert len(errors) == 1 and errors[0].startswith("::error::wasmbuild: c (stages app): MISSING: "), errors
    assert outputs_of(tmp_path) == {}  # nothing built, no outputs


@pytest.mark.integration
def test_action_without_a_usable_sandbox_says_how_to_opt_out(tmp_path: Path) -> None:
    """No bubblewrap that can run here (and no sudo to install it): two ::error:: lines, the
    reason and the `sandbox: false` way out; `sandbox: false` then builds, with a warning."""
    project = _project(tmp_path)
    (project / "Wasmfile").write_text(  # one host stage: it would run in the sandbox
        "wasmfile: 1\nstages:\n  copy:\n    inputs: [app.wasm]\n"
        "    steps: ['cp \"$SRC/app.wasm\" \"$OUT/\"']\n    outputs: [app.wasm]\n"
        "image:\n  files: [{from: copy, path: app.wasm, dest: /app.wasm}]\n  entrypoint: [/app.wasm]\n")
    env = {"WASMBUILD_BWRAP": str(tmp_path / "no-bwrap")}
    proc = action_proc(tmp_path, f"{sys.executable} -m wasmbuild", env, wasmfile=str(project / "Wasmfile"),
                       context=str(project), tags="s:1")
    assert proc.returncode == 4, proc.stdout + proc.stderr
    errors = [line for line in proc.stderr.splitlines() if line.startswith("::error::")]
    assert len(errors) == 2 and errors[0].startswith("::error::wasmbuild: sandbox (stages "), errors
    assert "sandbox: false" in errors[1]
    proc = action_proc(tmp_path, f"{sys.executable} -m wasmbuild", env, wasmfile=str(project / "Wasmfile"),
                       context=str(project), tags="s:1", sandbox="false")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "warning: --sandbox=off: host stages run unconfined" in proc.stdout + proc.stderr


@pytest.mark.integration
def test_toolchains_lists_what_the_stages_need(tmp_path: Path) -> None:
    proc = subprocess.run([sys.executable, "-m", "wasmbuild", "toolchains", "-f", "Wasmfile.example", ".", "--json"],
                          cwd=ROOT, capture_output=True, text=True, timeout=120, check=False)
    assert proc.returncode == 0, proc.stderr
    data = json.loads(proc.stdout)
    assert data["ok"] is True
    assert [(t["name"], t["stages"]) for t in data["toolchains"]] == [
        ("rust", ["hello"]), ("sandbox", ["hello", "env-c"]), ("c", ["env-c"])]
    assert all(t["found"] for t in data["toolchains"])
    # With the sandbox off (the Action's `sandbox: false`), bubblewrap is not needed.
    off = subprocess.run([sys.executable, "-m", "wasmbuild", "toolchains", "-f", "Wasmfile.example", ".", "--json"],
                         cwd=ROOT, capture_output=True, text=True, timeout=120, check=False,
                         env={**os.environ, "WASMBUILD_SANDBOX": "off"})
    assert [t["name"] for t in json.loads(off.stdout)["toolchains"]] == ["rust", "c"]
