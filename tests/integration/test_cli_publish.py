"""The publish commands end to end, run as the real CLI in a subprocess."""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.integration.registry_fixtures import (
    PASSWORD,
    USERNAME,
    RegistryServer,
    dead_port,
)
from tests.support.images import hello_files, make_image
from wasmbuild.oci import Descriptor
from wasmbuild.oci.layout import Layout
from wasmbuild.store import normalize_tag

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("isolated_env")]
ROOT = Path(__file__).resolve().parents[2]


def wasmbuild(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "wasmbuild", *args],
        cwd=ROOT,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )


def store_image(name: str = "hello:1", message: bytes = b"hello") -> Descriptor:
    store = Layout(os.environ["WASMBUILD_STORE"]).init()
    desc = make_image(store, [hello_files(message)], tag=normalize_tag(name))
    return desc


def test_cli_import_is_light() -> None:
    code = (
        "import sys, wasmbuild.cli, wasmbuild.cli.images, wasmbuild.cli.maintain; "
        "print([m for m in ('oras', 'requests', 'urllib3', 'docker') if m in sys.modules])"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_login_push_inspect_pull_logout_never_leak_the_password(
    auth_registry: RegistryServer, isolated_env: Path, tmp_path: Path
) -> None:
    desc = store_image()
    host = auth_registry.host
    outputs: list[str] = []

    def run(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
        proc = wasmbuild(*args, stdin=stdin)
        outputs.extend([proc.stdout, proc.stderr])
        return proc

    denied = run("push", "hello:1", f"{host}/hello:1", "--plain-http")
    assert denied.returncode == 5
    assert denied.stderr.count("\n") == 1 and denied.stderr.startswith("error: ")
    assert f"wasmbuild login {host}" in denied.stderr

    bad = run("login", host, "-u", USERNAME, "--password-stdin", "--plain-http", stdin="nope\n")
    assert bad.returncode == 5 and "rejected" in bad.stderr
    ok = run(
        "login", host, "-u", USERNAME, "--password-stdin", "--plain-http", stdin=PASSWORD + "\n"
    )
    assert ok.returncode == 0, ok.stderr
    assert "Login succeeded" in ok.stdout
    again = run("login", host, "-u", USERNAME, "--password-stdin", "--plain-http", "--json",
                stdin=PASSWORD + "\n")
    assert again.returncode == 0, again.stderr
    said = json.loads(again.stdout)
    assert (said["registry"], said["username"]) == (host, USERNAME) and PASSWORD not in again.stdout

    pushed = run("push", "hello:1", f"{host}/hello:1", "--plain-http", "--json")
    assert pushed.returncode == 0, pushed.stderr
    data = json.loads(pushed.stdout)
    assert data["digest"] == desc.digest
    assert data["reference"] == f"{host}/hello@{desc.digest}"
    assert data["uploaded_blobs"] == 2

    again = run("push", "hello:1", f"{host}/hello:1", "--plain-http", "--json")
    assert json.loads(again.stdout)["uploaded_blobs"] == 0

    remote = run("inspect", f"{host}/hello:1", "--plain-http", "--json")
    assert remote.returncode == 0, remote.stderr
    info = json.loads(remote.stdout)
    assert info["source"] == "registry" and info["digest"] == desc.digest
    assert info["platform"] == {"os": "wasi", "architecture": "wasm32"}
    assert info["annotations"]["module.wasm.image/variant"] == "compat"

    pulled = run("pull", f"{host}/hello:1", "--plain-http", "--json")
    assert pulled.returncode == 0, pulled.stderr
    assert json.loads(pulled.stdout) == {"digest": desc.digest, "reference": f"{host}/hello:1", "referrers": []}
    local = run("inspect", f"{host}/hello:1", "--json")
    assert json.loads(local.stdout)["source"] == "store"

    out = run("logout", host, "--json")
    assert out.returncode == 0 and json.loads(out.stdout) == {"registry": host, "removed": True}
    again = run("logout", host, "--json")
    assert json.loads(again.stdout) == {"registry": host, "removed": False}
    after = run("push", "hello:1", f"{host}/hello:2", "--plain-http")
    assert after.returncode == 5 and "wasmbuild login" in after.stderr

    secret_b64 = base64.b64encode(f"{USERNAME}:{PASSWORD}".encode()).decode()
    for text in outputs:
        assert PASSWORD not in text and secret_b64 not in text
    for path in tmp_path.rglob("*"):
        if path.is_file():
            content = path.read_bytes()
            assert PASSWORD.encode() not in content, path
            assert secret_b64.encode() not in content, path  # logout removed it too


def test_push_to_tls_registry_with_ca_file_or_no_verify(tls_registry: RegistryServer) -> None:
    desc = store_image()
    host = tls_registry.host
    refused = wasmbuild("push", "hello:1", f"{host}/a:1", "--timeout", "5")
    assert refused.returncode == 5 and "--ca-file" in refused.stderr
    with_ca = wasmbuild("push", "hello:1", f"{host}/a:1", "--ca-file", str(tls_registry.ca_file))
    assert with_ca.returncode == 0, with_ca.stderr
    assert with_ca.stdout.strip() == f"{host}/a@{desc.digest}"
    for flag in ("--tls-verify=false", "--no-tls-verify"):
        proc = wasmbuild("push", "hello:1", f"{host}/b:1", flag, "--json")
        assert proc.returncode == 0, proc.stderr
        assert "Warning" not in proc.stderr  # InsecureRequestWarning stays silenced
        assert json.loads(proc.stdout)["digest"] == desc.digest


def test_push_to_dead_registry_fails_in_time_with_one_line() -> None:
    store_image()
    start = time.monotonic()
    proc = wasmbuild(
        "push", "hello:1", f"127.0.0.1:{dead_port()}/hello:1", "--plain-http", "--timeout", "2"
    )
    assert time.monotonic() - start < 6
    assert proc.returncode == 5
    assert proc.stderr.count("\n") == 1 and "connection refused" in proc.stderr


def test_push_needs_a_destination_and_an_image() -> None:
    store_image()
    proc = wasmbuild("push", "hello:1")
    assert proc.returncode == 2 and "REGISTRY/NAME:TAG" in proc.stderr
    proc = wasmbuild("push", "missing:1", "localhost:5000/x:1")
    assert proc.returncode == 6 and proc.stderr.startswith("error: ")


def test_inspect_store_and_oci_layout(tmp_path: Path) -> None:
    desc = store_image("inspect-me:2")
    text = wasmbuild("inspect", "inspect-me:2")
    assert text.returncode == 0, text.stderr
    assert desc.digest in text.stdout and "wasi/wasm32" in text.stdout
    assert "module.wasm.image/variant=compat" in text.stdout

    layout = Layout(tmp_path / "oci").init()
    other = make_image(layout, [hello_files(b"x")], tag="v9", entrypoint=["/x.wasm"])
    proc = wasmbuild("inspect", f"oci:{tmp_path / 'oci'}:v9", "--json")
    info = json.loads(proc.stdout)
    assert info["digest"] == other.digest and info["source"] == "oci"
    assert info["config"]["entrypoint"] == ["/x.wasm"]
    assert [layer["size"] for layer in info["layers"]] == [
        d["size"] for d in layout.read_json(other.digest)["layers"]
    ]
    missing = wasmbuild("inspect", "nothing-here:1")
    assert missing.returncode == 6 and "local store" in missing.stderr
