"""Simple signing with real peers (docs/signing.md): podman 4.3 and skopeo 1.9 verify wasmbuild's
signatures under a ``signedBy`` policy with a registries.d lookaside -- and refuse an unsigned
image, one signed by another key and one whose manifest is not the signed one, each with its own
error -- and wasmbuild verifies what ``skopeo copy --sign-by`` wrote: the format is the shared one."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
import threading
import time
import urllib.parse
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from tests.conftest import Runner
from tests.integration.registry_fixtures import RegistryServer
from tests.integration.signing_fixtures import GpgKey, fresh, registries_d, signed_by_policy
from tests.support import require

pytestmark = pytest.mark.integration


def _peer_env(home: Path, gpg: GpgKey) -> dict[str, str]:
    return {**os.environ, "HOME": str(home), "GNUPGHOME": str(gpg.home)}


def _skopeo_copy(policy: Path, ref: str, dest: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    shutil.rmtree(dest, ignore_errors=True)
    return subprocess.run([require("skopeo"), "--policy", str(policy), "copy", "--src-tls-verify=false",
                           f"docker://{ref}", f"dir:{dest}"], capture_output=True, text=True, env=env, timeout=120)


@pytest.fixture
def podman_run() -> Iterator[str]:
    """podman's runroot: at most 50 characters, the same for every pull into one root."""
    run = tempfile.mkdtemp(prefix="wbp-")
    yield run
    shutil.rmtree(run, ignore_errors=True)


def _podman_pull(tmp: Path, run: str, policy: Path, ref: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([require("podman"), "--root", str(tmp / "podman-root"), "--runroot", run,
                           "--storage-driver", "vfs", "pull", "--tls-verify=false", "--signature-policy",
                           str(policy), ref], capture_output=True, text=True, env=env, timeout=180)


def test_podman_and_skopeo_verify_wasmbuild_simple_signatures(
        wb: Runner, app_dir: Path, registry: RegistryServer, gpg_keys: dict[str, GpgKey], tmp_path: Path,
        podman_run: str) -> None:
    signer, other = gpg_keys["signer"], gpg_keys["other"]
    sigs, home = tmp_path / "sigs", tmp_path / "home"
    registries_d(home, registry.host, sigs)
    env = {**fresh(tmp_path, "a"), "GNUPGHOME": str(signer.home)}
    signed, unsigned, by_other, moved = (f"{registry.host}/demo/{n}:1"
                                         for n in ("signed", "unsigned", "other", "moved"))
    built = wb("build", str(app_dir), "-t", signed, "--push", "--plain-http",
               "--sign-gpg", signer.fingerprint, "--lookaside", f"file://{sigs}", env=env)
    assert built.returncode == 0, built.stderr
    assert wb("build", str(app_dir), "-t", unsigned, "--push", "--plain-http", env=env).returncode == 0
    assert wb("build", str(app_dir), "-t", by_other, "--push", "--plain-http", "--sign-gpg", other.fingerprint,
              "--lookaside", f"file://{sigs}", env={**env, "GNUPGHOME": str(other.home)}).returncode == 0
    # "moved": a tag whose manifest is another image than the one its signature names.
    (app_dir / "extra.txt").write_text("other bytes\n")
    (app_dir / "Wasmfile").write_text((app_dir / "Wasmfile").read_text().replace(
        "files: [", "files: [{src: extra.txt, dest: /extra.txt}, "))
    assert wb("build", str(app_dir), "-t", moved, "--push", "--plain-http", env=env).returncode == 0
    [sig_dir] = (sigs / "demo").glob("signed@*")
    moved_digest = json.loads(wb("pull", moved, "--plain-http", "--json", env=env).stdout)["digest"]
    forged = sigs / "demo" / f"moved@{moved_digest.replace(':', '=')}"
    forged.mkdir(parents=True)
    shutil.copy(sig_dir / "signature-1", forged / "signature-1")

    policy = signed_by_policy(tmp_path / "policy.json", f"{registry.host}/demo",
                              {"type": "signedBy", "keyType": "GPGKeys", "keyPath": str(signer.pub)})
    peer = _peer_env(home, signer)
    ok = _skopeo_copy(policy, signed, tmp_path / "out", peer)
    assert ok.returncode == 0, ok.stderr
    refusals = {
        unsigned: "A signature was required, but no signature exists",
        by_other: "Invalid GPG signature",
        moved: "does not match",
    }
    for ref, why in refusals.items():
        got = _skopeo_copy(policy, ref, tmp_path / "out", peer)
        assert got.returncode != 0 and why in got.stderr, (ref, got.stderr)
    pulled = _podman_pull(tmp_path, podman_run, policy, signed, peer)
    assert pulled.returncode == 0, pulled.stderr
    for ref, why in refusals.items():
        got = _podman_pull(tmp_path, podman_run, policy, ref, peer)
        assert got.returncode != 0 and why in got.stderr, (ref, got.stderr)

    # wasmbuild refuses the same three, each with its own reason, and accepts the signed one.
    look = ["--lookaside", f"file://{sigs}"]
    assert wb("verify", signed, "--gpg-pubkey", str(signer.pub), *look, "--plain-http").returncode == 0
    reasons = {unsigned: "no simple signature", by_other: "signed by another key", moved: "signs another manifest"}
    for ref, why in reasons.items():
        got = wb("verify", ref, "--gpg-pubkey", str(signer.pub), *look, "--plain-http")
        assert got.returncode == 9 and why in got.stderr, (ref, got.stderr)
    # pull with the same policy file, lookaside from the same registries.d
    wenv = {**fresh(tmp_path, "w"), "HOME": str(home)}
    assert wb("pull", signed, "--plain-http", "--policy", str(policy), env=wenv).returncode == 0
    assert wb("pull", moved, "--plain-http", "--policy", str(policy), env=wenv).returncode == 9

    # re-signing writes nothing new
    again = wb("sign", signed, "--gpg-key", signer.fingerprint, *look, "--plain-http", env=env)
    assert again.returncode == 0 and "nothing written" in again.stdout
    assert sorted(p.name for p in sig_dir.iterdir()) == ["signature-1"]


def test_wasmbuild_verifies_skopeo_sign_by_signatures(
        wb: Runner, app_dir: Path, registry: RegistryServer, gpg_keys: dict[str, GpgKey], tmp_path: Path) -> None:
    signer = gpg_keys["signer"]
    sigs, home = tmp_path / "sigs", tmp_path / "home"
    registries_d(home, registry.host, sigs)
    src, dst = f"{registry.host}/demo/src:1", f"{registry.host}/demo/by-skopeo:1"
    assert wb("build", str(app_dir), "-t", src, "--push", "--plain-http", env=fresh(tmp_path, "a")).returncode == 0
    copied = subprocess.run([require("skopeo"), "--insecure-policy", "copy", "--src-tls-verify=false",
                             "--dest-tls-verify=false", "--sign-by", signer.fingerprint, f"docker://{src}",
                             f"docker://{dst}"], capture_output=True, text=True, env=_peer_env(home, signer),
                            timeout=120)
    assert copied.returncode == 0, copied.stderr
    assert list((sigs / "demo").glob("by-skopeo@sha256=*/signature-1"))  # the lookaside layout
    got = wb("verify", dst, "--gpg-pubkey", str(signer.pub), "--lookaside", f"file://{sigs}", "--plain-http",
             "--json")
    assert got.returncode == 0, got.stderr
    assert '"format": "simple"' in got.stdout and signer.fingerprint in got.stdout
    other = wb("verify", dst, "--gpg-pubkey", str(gpg_keys["other"].pub), "--lookaside", f"file://{sigs}",
               "--plain-http")
    assert other.returncode == 9 and "signed by another key" in other.stderr


class _Lookaside(BaseHTTPRequestHandler):
    """An http(s) lookaside as a web server offers one: GET a signature, PUT one (staging)."""

    root: Path

    def log_message(self, format: str, *args: object) -> None:
        pass

    def _path(self) -> Path:
        return self.root / urllib.parse.unquote(self.path.lstrip("/"))

    def do_GET(self) -> None:
        f = self._path()
        body = f.read_bytes() if f.is_file() else b""
        self.send_response(200 if f.is_file() else 404)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_PUT(self) -> None:
        f = self._path()
        f.parent.mkdir(parents=True, exist_ok=True)
        f.write_bytes(self.rfile.read(int(self.headers["Content-Length"])))
        self.send_response(201)
        self.send_header("Content-Length", "0")
        self.end_headers()


def test_http_lookaside_and_pull_verify_gpg_and_an_expired_key(
        wb: Runner, app_dir: Path, registry: RegistryServer, gpg_keys: dict[str, GpgKey], tmp_path: Path) -> None:
    signer = gpg_keys["signer"]
    handler = type("Handler", (_Lookaside,), {"root": tmp_path / "served"})
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{httpd.server_address[1]}/sigs"
    try:
        ref = f"{registry.host}/demo/http:1"
        env = {**fresh(tmp_path, "a"), "GNUPGHOME": str(signer.home)}
        assert wb("build", str(app_dir), "-t", ref, "--push", "--plain-http", env=env).returncode == 0
        signed = wb("sign", ref, "--gpg-key", signer.fingerprint, "--lookaside", url, "--plain-http", env=env)
        assert signed.returncode == 0, signed.stderr
        assert list((tmp_path / "served" / "sigs" / "demo").glob("http@sha256=*/signature-1"))
        pulled = wb("pull", ref, "--plain-http", "--verify-gpg", str(signer.pub), "--lookaside", url, "--json",
                    env=fresh(tmp_path, "b"))
        assert pulled.returncode == 0, pulled.stderr
        assert json.loads(pulled.stdout)["verified"][0]["format"] == "simple"
        other = wb("pull", ref, "--plain-http", "--verify-gpg", str(gpg_keys["other"].pub), "--lookaside", url,
                   env=fresh(tmp_path, "c"))
        assert other.returncode == 9 and "signed by another key" in other.stderr
    finally:
        httpd.shutdown()
        httpd.server_close()

    # A key that expires: its signature verifies while it is valid, and is refused after.
    from tests.integration.signing_fixtures import make_gpg
    from wasmbuild.attest.sign import KeyOptions, Target
    from wasmbuild.attest.sign.simple import signer as simple_signer
    from wasmbuild.attest.sign.simple import verifier as simple_verifier
    from wasmbuild.errors import TrustError

    short = make_gpg(tmp_path / "short", "short", expire="seconds=4")
    target = Target("registry.example/app:1", "sha256:" + "2" * 64)
    look = f"file://{tmp_path / 'short-sigs'}"
    os.environ["GNUPGHOME"] = str(short.home)
    try:
        s = simple_signer(KeyOptions(gpg_key=short.fingerprint, lookaside=look))
        assert s is not None and s.sign(target)
    finally:
        del os.environ["GNUPGHOME"]
    v = simple_verifier(KeyOptions(gpg_pubkey=str(short.pub), lookaside=look))
    assert v is not None and v.verify(target).format == "simple"
    time.sleep(5)
    with pytest.raises(TrustError, match="expired"):
        v.verify(target)
