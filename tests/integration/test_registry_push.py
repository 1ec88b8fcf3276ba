"""Push/pull against a real registry (docker-registry), read back by skopeo and umoci."""

from __future__ import annotations

import subprocess
import time
import warnings
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.integration.registry_fixtures import (
    PASSWORD,
    FaultProxy,
    RegistryServer,
    TokenServer,
    dead_port,
    require,
)
from tests.support.images import hello_files, make_image, make_index
from wasmbuild.errors import ImageNotFound, RegistryError
from wasmbuild.oci import Descriptor
from wasmbuild.oci.layout import Layout
from wasmbuild.registry import ops as reg
from wasmbuild.registry.ops import PushStats
from wasmbuild.registry.transport import MAX_ATTEMPTS, RegistryOptions

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("isolated_env")]


def _image(tmp_path: Path, message: bytes = b"hello") -> tuple[Layout, Descriptor]:
    layout = Layout(tmp_path / "src").init()
    desc = make_image(
        layout, [hello_files(message), {"lib/big.txt": b"x" * 4096}], tag="hello:latest"
    )
    return layout, desc


def test_push_exact_bytes_and_skopeo_reads_back(tmp_path: Path, registry: RegistryServer) -> None:
    layout, desc = _image(tmp_path)
    ref = registry.ref("hello", "1.0")
    out = reg.push(layout, desc, ref, registry.opts())
    assert out == f"{registry.host}/hello@{desc.digest}"

    skopeo = require("skopeo")
    raw = subprocess.run(
        [skopeo, "inspect", "--raw", "--tls-verify=false", f"docker://{ref}"],
        check=True,
        capture_output=True,
    ).stdout
    assert raw == layout.read_blob(desc.digest)
    digest = subprocess.run(
        [skopeo, "inspect", "--tls-verify=false", "--format", "{{.Digest}}", f"docker://{ref}"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
    assert digest == desc.digest

    umoci = require("umoci")
    oci_dir = tmp_path / "copied"
    subprocess.run(
        [skopeo, "copy", "--src-tls-verify=false", f"docker://{ref}", f"oci:{oci_dir}:t"],
        check=True,
        capture_output=True,
    )
    # `umoci unpack` (0.4.7) stops at generating the runtime config.json: "unsupported OS: wasi".
    # `umoci raw unpack` extracts the same layers without a runtime config.
    rootfs = tmp_path / "rootfs"
    subprocess.run(
        [umoci, "raw", "unpack", "--rootless", "--image", f"{oci_dir}:t", str(rootfs)],
        check=True,
        capture_output=True,
    )
    assert (rootfs / "etc" / "message.txt").read_bytes() == b"hello"
    assert (rootfs / "app.wasm").read_bytes().startswith(b"\0asm")
    assert (rootfs / "lib" / "big.txt").stat().st_size == 4096


def test_repush_uploads_nothing_and_change_uploads_only_changed(
    tmp_path: Path, registry: RegistryServer
) -> None:
    layout, desc = _image(tmp_path)
    ref = registry.ref("hello", "1.0")
    first = PushStats()
    reg.push(layout, desc, ref, registry.opts(), stats=first)
    assert first.blobs_uploaded == 3  # two layers + config
    assert len(registry.blob_uploads()) == 3

    mark = registry.mark()
    again = PushStats()
    assert reg.push(layout, desc, ref, registry.opts(), stats=again).endswith(desc.digest)
    assert again.blobs_uploaded == 0 and again.blobs_skipped == 3
    assert registry.blob_uploads(mark) == []

    # Change one file in one layer: only that layer and the config are new.
    old = layout.read_json(desc.digest)
    desc2 = make_image(layout, [hello_files(b"changed"), {"lib/big.txt": b"x" * 4096}])
    new = layout.read_json(desc2.digest)
    mark = registry.mark()
    stats = PushStats()
    reg.push(layout, desc2, ref, registry.opts(), stats=stats)
    uploaded = set(registry.blob_uploads(mark))
    assert uploaded == {new["config"]["digest"], new["layers"][0]["digest"]}
    assert new["layers"][1]["digest"] == old["layers"][1]["digest"]
    assert set(stats.uploaded) == uploaded


def test_pull_roundtrip_verifies_and_picks_wasi_from_index(
    tmp_path: Path, registry: RegistryServer
) -> None:
    layout, desc = _image(tmp_path)
    index = make_index(layout, desc)
    reg.push(layout, index, registry.ref("multi", "v1"), registry.opts())
    dest = Layout(tmp_path / "pulled")
    got = reg.pull(registry.ref("multi", "v1"), dest, registry.opts())
    assert got.digest == desc.digest
    assert got.platform == {"os": "wasi", "architecture": "wasm32"}
    for blob in [desc.digest, *(d["digest"] for d in layout.read_json(desc.digest)["layers"])]:
        assert dest.read_blob(blob) == layout.read_blob(blob)

    info = reg.inspect_remote(registry.ref("multi", "v1"), registry.opts())
    assert info["digest"] == desc.digest
    assert info["index_digest"] == index.digest
    assert info["config"]["os"] == "wasi"

    by_digest = reg.pull(
        f"{registry.host}/multi@{desc.digest}", Layout(tmp_path / "p2"), registry.opts()
    )
    assert by_digest.digest == desc.digest


def test_pull_missing_tag_is_image_not_found(registry: RegistryServer, tmp_path: Path) -> None:
    with pytest.raises(ImageNotFound, match="not found") as err:
        reg.pull(registry.ref("nope", "x"), Layout(tmp_path / "d"), registry.opts())
    assert "\n" not in str(err.value)


def test_registry_down_fails_fast_with_one_line(tmp_path: Path) -> None:
    layout, desc = _image(tmp_path)
    ref = f"127.0.0.1:{dead_port()}/hello:1"
    start = time.monotonic()
    with pytest.raises(RegistryError, match="refused") as err:
        reg.push(layout, desc, ref, RegistryOptions(plain_http=True, timeout=3))
    elapsed = time.monotonic() - start
    assert elapsed < 5
    msg = str(err.value)
    assert "\n" not in msg
    assert ref.split("/")[0] in msg and "hello:1" in msg and "refused" in msg


def test_timeout_from_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("WASMBUILD_REGISTRY_TIMEOUT", "2")
    assert RegistryOptions().budget() == 2.0
    layout, desc = _image(tmp_path)
    start = time.monotonic()
    with pytest.raises(RegistryError, match="failed after"):
        reg.push(layout, desc, f"127.0.0.1:{dead_port()}/x:1", RegistryOptions(plain_http=True))
    assert time.monotonic() - start < 4


def test_injected_500_bounded_retries_and_no_dangling_tag(
    tmp_path: Path, registry: RegistryServer, fault_proxy: Callable[..., FaultProxy]
) -> None:
    layout, desc = _image(tmp_path)
    proxy = fault_proxy(registry, lambda method, path: "/blobs/uploads/" in path)
    ref = f"{proxy.host}/hello:1"
    start = time.monotonic()
    with pytest.raises(RegistryError, match="HTTP 500") as err:
        reg.push(layout, desc, ref, RegistryOptions(plain_http=True, timeout=4))
    elapsed = time.monotonic() - start
    assert elapsed < 6
    msg = str(err.value)
    assert "\n" not in msg and "500" in msg and proxy.host in msg and "hello:1" in msg
    faults = [r for r in proxy.requests if r[2] == 500]
    assert 1 < len(faults) <= MAX_ATTEMPTS * 3  # three blobs, retried in parallel
    assert not any(m == "PUT" and "/manifests/" in p for m, p, _ in proxy.requests)
    assert registry.manifest_status("hello", "1") == 404


def test_transient_500_recovers(
    tmp_path: Path, registry: RegistryServer, fault_proxy: Callable[..., FaultProxy]
) -> None:
    layout, desc = _image(tmp_path)
    failures = {"left": 2}

    def flaky(method: str, path: str) -> bool:
        if method == "PUT" and "/blobs/uploads/" in path and failures["left"] > 0:
            failures["left"] -= 1
            return True
        return False

    proxy = fault_proxy(registry, flaky)
    out = reg.push(
        layout, desc, f"{proxy.host}/hello:1", RegistryOptions(plain_http=True, timeout=10)
    )
    assert out.endswith(desc.digest)
    assert registry.manifest_status("hello", "1") == 200


def test_tls_registry_with_ca_file_and_no_verify(
    tmp_path: Path, tls_registry: RegistryServer
) -> None:
    layout, desc = _image(tmp_path)
    ref = tls_registry.ref("hello", "tls")
    with pytest.raises(RegistryError, match="certificate") as err:
        reg.push(layout, desc, ref, RegistryOptions(timeout=5))
    assert "certificate" in str(err.value) and "--ca-file" in str(err.value)
    assert reg.push(layout, desc, ref, tls_registry.opts()).endswith(desc.digest)
    insecure = RegistryOptions(tls_verify=False, timeout=5)
    filters = list(warnings.filters)
    # With filterwarnings=error an InsecureRequestWarning would fail these calls.
    assert reg.inspect_remote(ref, insecure)["digest"] == desc.digest
    assert reg.push(layout, desc, tls_registry.ref("other", "1"), insecure).endswith(desc.digest)
    assert reg.pull(ref, Layout(tmp_path / "p"), insecure).digest == desc.digest
    assert warnings.filters == filters  # nothing silenced process-wide


def test_plain_http_hint_when_tls_used_against_http(
    tmp_path: Path, registry: RegistryServer
) -> None:
    layout, desc = _image(tmp_path)
    with pytest.raises(RegistryError, match="plain HTTP") as err:
        reg.push(layout, desc, registry.ref("x"), RegistryOptions(timeout=3))
    assert "--plain-http" in str(err.value)


def test_push_without_credentials_says_how_to_login(
    tmp_path: Path, auth_registry: RegistryServer
) -> None:
    layout, desc = _image(tmp_path)
    with pytest.raises(RegistryError, match="requires authentication") as err:
        reg.push(layout, desc, auth_registry.ref("hello"), auth_registry.opts())
    msg = str(err.value)
    assert f"wasmbuild login {auth_registry.host}" in msg and "\n" not in msg


def test_login_then_push_and_password_never_leaks(
    tmp_path: Path, auth_registry: RegistryServer, isolated_env: Path
) -> None:
    from wasmbuild.registry import auth

    with pytest.raises(RegistryError, match="rejected the credentials") as err:
        reg.login(auth_registry.host, "wasm-user", "wrong-password", auth_registry.opts())
    assert "wrong-password" not in str(err.value)
    where = reg.login(auth_registry.host, "wasm-user", PASSWORD, auth_registry.opts())
    cfg_path = isolated_env / ".docker" / "config.json"
    assert Path(where) == cfg_path
    assert cfg_path.stat().st_mode & 0o777 == 0o600
    assert PASSWORD not in cfg_path.read_text()  # base64, as docker stores it
    layout, desc = _image(tmp_path)
    out = reg.push(layout, desc, auth_registry.ref("hello"), auth_registry.opts())
    assert out.endswith(desc.digest)
    assert auth.logout(auth_registry.host)
    with pytest.raises(RegistryError, match="requires authentication"):
        reg.push(layout, desc, auth_registry.ref("hello", "2"), auth_registry.opts())


def test_bearer_token_auth(
    tmp_path: Path, token_registry: tuple[RegistryServer, TokenServer]
) -> None:
    from tests.integration.registry_fixtures import USERNAME
    from wasmbuild.registry.auth import Credentials

    server, tokens = token_registry
    layout, desc = _image(tmp_path)
    ref = server.ref("team/hello", "1")
    with pytest.raises(RegistryError, match="requires authentication") as err:
        reg.push(layout, desc, ref, server.opts())
    assert f"wasmbuild login {server.host}" in str(err.value)

    creds = Credentials(USERNAME, PASSWORD)
    assert reg.push(layout, desc, ref, server.opts(credentials=creds)).endswith(desc.digest)
    assert any("push" in scope and had for scope, had in tokens.requests)
    got = reg.pull(ref, Layout(tmp_path / "pulled"), server.opts(credentials=creds))
    assert got.digest == desc.digest

    with pytest.raises(RegistryError, match="rejected") as err:
        reg.inspect_remote(ref, server.opts(credentials=Credentials(USERNAME, "wrong")))
    assert "rejected" in str(err.value) and "wrong" not in str(err.value)


def test_pull_rejects_corrupt_blob_and_stores_no_manifest(
    tmp_path: Path, registry: RegistryServer, fault_proxy: Callable[..., FaultProxy]
) -> None:
    layout, desc = _image(tmp_path)
    reg.push(layout, desc, registry.ref("hello", "1"), registry.opts())
    layer = layout.read_json(desc.digest)["layers"][0]["digest"]

    def corrupt(method: str, path: str, body: bytes) -> bytes:
        return b"X" + body[1:] if path.endswith(f"/blobs/{layer}") and body else body

    proxy = fault_proxy(registry, lambda m, p: False, corrupt)
    dest = Layout(tmp_path / "pulled")
    with pytest.raises(RegistryError, match="damaged") as err:
        reg.pull(f"{proxy.host}/hello:1", dest, RegistryOptions(plain_http=True, timeout=5))
    assert layer in str(err.value) and "\n" not in str(err.value)
    assert not dest.has_blob(layer) and not dest.has_blob(desc.digest)
    assert not list((dest.path / "blobs" / "sha256").glob(".tmp-*"))


def test_pull_gives_up_on_500_within_budget(
    tmp_path: Path, registry: RegistryServer, fault_proxy: Callable[..., FaultProxy]
) -> None:
    layout, desc = _image(tmp_path)
    reg.push(layout, desc, registry.ref("hello", "1"), registry.opts())
    proxy = fault_proxy(registry, lambda m, p: m == "GET" and "/blobs/" in p)
    start = time.monotonic()
    with pytest.raises(RegistryError, match="HTTP 500") as err:
        reg.pull(
            f"{proxy.host}/hello:1",
            Layout(tmp_path / "p"),
            RegistryOptions(plain_http=True, timeout=3),
        )
    assert time.monotonic() - start < 5
    assert "500" in str(err.value)


def test_big_blobs_are_streamed_not_read_whole(tmp_path: Path, registry: RegistryServer) -> None:
    import gzip
    import os
    import tracemalloc

    from tests.support.images import tar_layer

    size = 48 << 20
    layer = gzip.compress(tar_layer({"big.bin": os.urandom(size)}), compresslevel=1, mtime=0)
    layout = Layout(tmp_path / "src").init()
    desc = make_image(layout, [hello_files()], raw_layers=[layer])
    del layer

    tracemalloc.start()
    try:
        reg.push(layout, desc, registry.ref("big", "1"), registry.opts())
        _, push_peak = tracemalloc.get_traced_memory()
        tracemalloc.reset_peak()
        reg.pull(registry.ref("big", "1"), Layout(tmp_path / "pulled"), registry.opts())
        _, pull_peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert push_peak < 16 << 20, push_peak  # a few 1 MiB chunks per parallel upload
    assert pull_peak < 16 << 20, pull_peak
