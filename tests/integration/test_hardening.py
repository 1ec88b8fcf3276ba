"""Issue 8's table, the rows that need more than a Wasmfile: a registry behind a proxy that
drops connections or flips a byte, podman loading an oci-archive, a toolchain probe under
faketime, and the build-time limits and import checks. Each ends in one clear line with the
documented exit code (README, "Exit codes")."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.conftest import REPO, Runner, copy_example
from tests.integration.registry_fixtures import CUT, FaultProxy, RegistryServer, require
from tests.support import one_line
from tests.support.images import make_image, random_gzip_layer
from wasmbuild.oci import Descriptor
from wasmbuild.oci.layout import Layout
from wasmbuild.registry import ops as reg

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("isolated_env")]

BIG = 20 << 20
HELLO_RS = """\
wasmfile: 1
stages:
  hello:
    recipe: rust
    with: {source: examples/hello-rust/hello.rs, output: hello.wasm}
image:
  files: [{from: hello, path: hello.wasm, dest: /hello.wasm}]
  entrypoint: [hello.wasm]
"""


@pytest.fixture
def big_image(tmp_path: Path, registry: RegistryServer) -> tuple[Descriptor, str]:
    """An image with a 20 MiB layer, pushed as ``hello:1``; returns it and the layer digest."""
    layout = Layout(tmp_path / "src").init()
    desc = make_image(layout, [{"app.wasm": b"\0asm\x01\0\0\0"}], raw_layers=[random_gzip_layer(BIG)])
    reg.push(layout, desc, registry.ref("hello", "1"), registry.opts())
    big = max(layout.read_json(desc.digest)["layers"], key=lambda layer: layer["size"])
    assert big["size"] > BIG
    return desc, big["digest"]


def _blob_gets(proxy: FaultProxy, digest: str) -> list[int]:
    return [status for method, path, status in proxy.requests
            if method == "GET" and path.endswith(f"/blobs/{digest}")]


def test_pull_survives_one_connection_cut_mid_blob(
    wb: Runner, registry: RegistryServer, fault_proxy: Callable[..., FaultProxy],
    big_image: tuple[Descriptor, str],
) -> None:
    desc, layer = big_image
    cuts = {"left": 1}

    def cut_once(method: str, path: str) -> bool:
        if path.endswith(f"/blobs/{layer}") and cuts["left"]:
            cuts["left"] -= 1
            return True
        return False

    proxy = fault_proxy(registry, lambda m, p: False, cut=cut_once)
    proc = wb("pull", f"{proxy.host}/hello:1", "--plain-http", "--json")
    assert proc.returncode == 0, proc.stderr
    assert desc.digest in proc.stdout
    assert _blob_gets(proxy, layer) == [CUT, 200]  # cut halfway, then retried in full


def test_pull_cut_every_time_is_a_registry_error(
    wb: Runner, registry: RegistryServer, fault_proxy: Callable[..., FaultProxy],
    big_image: tuple[Descriptor, str], isolated_dirs: dict[str, Path],
) -> None:
    _desc, layer = big_image
    proxy = fault_proxy(registry, lambda m, p: False, cut=lambda m, p: p.endswith(f"/blobs/{layer}"))
    start = time.monotonic()
    proc = wb("pull", f"{proxy.host}/hello:1", "--plain-http", "--timeout", "8")
    elapsed = time.monotonic() - start
    line = one_line(proc, 5, f"downloading blob {layer} on {proxy.host} failed after",
                    "connection lost after", "the connection closed before the end of the body")
    assert "cannot write" not in line and "None" not in line
    assert 1 < len(_blob_gets(proxy, layer)) <= 5  # retried within the budget
    assert elapsed < 12
    blobs = isolated_dirs["store"] / "blobs" / "sha256"
    assert not list(blobs.glob(".tmp-*")) and not (blobs / layer.split(":")[1]).exists()


def test_pull_of_a_flipped_byte_says_what_it_got_and_what_it_expected(
    wb: Runner, registry: RegistryServer, fault_proxy: Callable[..., FaultProxy],
    big_image: tuple[Descriptor, str],
) -> None:
    _desc, layer = big_image

    def flip(method: str, path: str, body: bytes) -> bytes:
        return body[:100] + bytes([body[100] ^ 1]) + body[101:] if path.endswith(layer) else body

    proxy = fault_proxy(registry, lambda m, p: False, flip)
    proc = wb("pull", f"{proxy.host}/hello:1", "--plain-http")
    line = one_line(proc, 5, f"blob {layer} from {proxy.host} is damaged", "its content has digest sha256:",
                    f"the manifest says {layer} and")
    assert "(expected size" not in line


def test_oci_archive_loads_into_podman_under_its_full_name(wb: Runner, tmp_path: Path) -> None:
    podman = require("podman")
    (tmp_path / "app.wasm").write_bytes((REPO / "tests/fixtures/golden/hello.wasm").read_bytes())
    (tmp_path / "Wasmfile").write_text(
        "wasmfile: 1\nimage:\n  files: [{src: app.wasm, dest: /app.wasm}]\n  entrypoint: [app.wasm]\n")
    archive = tmp_path / "img.tar"
    proc = wb("build", str(tmp_path / "Wasmfile"), "-t", "wasm/hello:1", "-o", f"oci-archive:{archive}",
              "--json")
    assert proc.returncode == 0, proc.stderr
    short = Path(tempfile.mkdtemp(prefix="wbp-", dir="/tmp"))  # podman: runroot <= 50 chars
    base = [podman, "--root", str(short / "root"), "--runroot", str(short / "run"),
            "--storage-driver", "vfs"]
    try:
        loaded = subprocess.run([*base, "load", "-i", str(archive)], check=True, capture_output=True,
                                text=True).stdout
        names = subprocess.run([*base, "images", "--format", "{{.Repository}}:{{.Tag}}"],
                               check=True, capture_output=True, text=True).stdout.split()
    finally:
        shutil.rmtree(short, ignore_errors=True)
    assert "localhost/wasm/hello:1" in loaded
    assert names == ["localhost/wasm/hello:1"]


def _fake_rustc(bindir: Path, body: str) -> None:
    bindir.mkdir(parents=True, exist_ok=True)
    (bindir / "rustc").write_text(f"#!/bin/sh\n{body}\n")
    (bindir / "rustc").chmod(0o755)


def _faketime() -> dict[str, str]:
    require("faketime")
    lib = next(str(p) for p in Path("/usr/lib").rglob("libfaketime.so.1") if p.is_file())
    return {"LD_PRELOAD": lib, "FAKETIME": "@2031-05-05 12:00:00"}


def test_probe_under_faketime_does_not_stall_on_a_jemalloc_rustc(wb: Runner, tmp_path: Path) -> None:
    """rustup's rustc (jemalloc) deadlocks under libfaketime's LD_PRELOAD (wolfcw/libfaketime#130);
    this stand-in hangs exactly when it sees the preload. The probe does not pass it on."""
    fake = tmp_path / "rustup-bin"
    _fake_rustc(fake, 'case "${LD_PRELOAD:-}" in *faketime*) exec /usr/bin/sleep 600;; esac\nexec /usr/bin/rustc "$@"')
    wasmfile = copy_example(tmp_path / "src")
    start = time.monotonic()
    proc = wb("build", str(wasmfile), env={"PATH": f"{fake}:{os.environ['PATH']}", **_faketime()})
    elapsed = time.monotonic() - start
    assert proc.returncode == 0, proc.stderr
    assert "timed out" not in proc.stderr
    assert elapsed < 8  # the probe used to stall until its timeout (30 s, now 10 s) every build


def test_a_probe_that_times_out_says_so(wb: Runner, tmp_path: Path) -> None:
    fake = tmp_path / "stuck-bin"
    _fake_rustc(fake, "exec /usr/bin/sleep 600")
    wasmfile = copy_example(tmp_path / "src")
    proc = wb("build", str(wasmfile), env={"PATH": f"{fake}:{os.environ['PATH']}",
                                           "WASMBUILD_PROBE_TIMEOUT": "1"})
    assert proc.returncode == 0, proc.stderr
    warning = next(line for line in proc.stderr.splitlines() if "toolchain probe" in line)
    assert f"{fake / 'rustc'} (`rustc --print` timed out after 1s); using rustc=/usr/bin/rustc" in warning
    rust_only = tmp_path / "src" / "Wasmfile.rust"
    rust_only.write_text(HELLO_RS)
    stuck = wb("build", str(rust_only), "--no-cache", env={
        "PATH": str(fake), "WASMBUILD_PROBE_TIMEOUT": "1", "WASMBUILD_TOOLCHAIN_DIRS": "",
        "WASMBUILD_CACHE": str(tmp_path / "other-cache")})
    one_line(stuck, 4, "no Rust compiler", "timed out after 1s")
