"""Signing in cosign's format and DSSE envelopes through a real registry (docs/signing.md), on the
golden module (no toolchain): ``build --push --sign`` signs by digest without changing the image,
re-signing pushes nothing, ``verify``/``pull --verify``/a policy refuse what is not signed by a
trusted key (exit 9, nothing in the store), signatures travel with ``pull`` and ``push``, DSSE
envelopes verify with securesystemslib's own verifier, and a forged precompiled extra is never
loaded. No cosign binary installs here: the format is checked against its spec's structure."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import Runner
from tests.integration.registry_fixtures import RegistryServer
from tests.integration.signing_fixtures import KeyPair, fresh, signed_by_policy
from tests.integration.test_supply_chain import ReferrersAPI, request, spec_referrers
from wasmbuild.oci.layout import Layout

pytestmark = pytest.mark.integration
SIG_TYPE = "application/vnd.dev.cosign.artifact.sig.v1+json"
DSSE = "application/vnd.dsse.envelope.v1+json"


@pytest.fixture
def referrers_api(registry: RegistryServer) -> Any:
    front = ReferrersAPI(registry)
    yield front
    front.stop()


def _sign_args(k: KeyPair) -> list[str]:
    return ["--sign", str(k.key), "--passphrase-file", str(k.passphrase_file)]


def _get(host: str, repo: str, what: str) -> tuple[int, bytes]:
    status, _, body = request("GET", f"http://{host}/v2/{repo}/manifests/{what}",
                              "application/vnd.oci.image.manifest.v1+json")
    return status, body


@pytest.mark.parametrize("api", [False, True], ids=["fallback-tag", "referrers-api"])
def test_build_push_sign_writes_cosign_tag_and_referrer_and_resigning_pushes_nothing(
        wb: Runner, app_dir: Path, registry: RegistryServer, referrers_api: ReferrersAPI,
        pairs: dict[str, KeyPair], tmp_path: Path, api: bool) -> None:
    host = referrers_api.host if api else registry.host
    ref = f"{host}/demo/app:1"
    plain = wb("build", str(app_dir), "-t", f"{host}/demo/plain:1", "--push", "--plain-http", "--json",
               env=fresh(tmp_path, "u"))
    built = wb("build", str(app_dir), "-t", ref, "--push", "--plain-http", "--json", *_sign_args(pairs["signer"]),
               env=fresh(tmp_path, "a"))
    assert plain.returncode == 0 and built.returncode == 0, built.stderr
    result, unsigned = json.loads(built.stdout), json.loads(plain.stdout)
    digest = result["digest"]
    # Signing never changes the image, nor its SBOM and provenance (same referrers as unsigned).
    assert digest == unsigned["digest"]
    assert [r["digest"] for r in result["referrers"]] == [r["digest"] for r in unsigned["referrers"]]
    [signed] = result["signed"]
    assert signed["digest"] == digest and signed["signatures"]["cosign"]
    assert len(signed["attestations"]) == 2  # SBOM and provenance
    status, raw = _get(host, "demo/app", "1")
    assert status == 200 and "sha256:" + __import__("hashlib").sha256(raw).hexdigest() == digest

    # The tag form, structurally as specs/SIGNATURE_SPEC.md documents it.
    status, raw = _get(host, "demo/app", digest.replace(":", "-") + ".sig")
    assert status == 200, raw
    sig_manifest = json.loads(raw)
    assert sig_manifest["mediaType"] == "application/vnd.oci.image.manifest.v1+json"
    assert sig_manifest["config"]["mediaType"] == "application/vnd.oci.image.config.v1+json"
    [layer] = sig_manifest["layers"]
    assert layer["mediaType"] == "application/vnd.dev.cosign.simplesigning.v1+json"
    signature = base64.b64decode(layer["annotations"]["dev.cosignproject.cosign/signature"], validate=True)
    status, _, payload = request("GET", f"http://{host}/v2/demo/app/blobs/{layer['digest']}", "*/*")
    doc = json.loads(payload)
    assert doc["critical"]["type"] == "cosign container image signature"
    assert doc["critical"]["image"]["docker-manifest-digest"] == digest
    assert doc["critical"]["identity"]["docker-reference"] == f"{host}/demo/app:1"
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    pub: Any = serialization.load_pem_public_key(pairs["signer"].pub.read_bytes())
    pub.verify(signature, payload, ec.ECDSA(hashes.SHA256()))  # raises if it does not verify

    # The referrer form: the same layer in an artifact manifest whose subject is the image.
    via, listed = spec_referrers(host, "demo/app", digest)
    assert via == ("api" if api else "tag")
    [sig_ref] = [d for d in listed if d.get("artifactType") == SIG_TYPE]
    status, raw = _get(host, "demo/app", sig_ref["digest"])
    art = json.loads(raw)
    assert art["subject"]["digest"] == digest
    assert art["layers"][0]["digest"] == layer["digest"]
    assert art["layers"][0]["annotations"]["dev.cosignproject.cosign/signature"] == \
        layer["annotations"]["dev.cosignproject.cosign/signature"]

    # Re-signing: the same bytes, nothing pushed.
    mark = registry.mark()
    k = pairs["signer"]
    again = wb("sign", ref, "--key", str(k.key), "--passphrase-file", str(k.passphrase_file),
               "--plain-http", "--json")
    assert again.returncode == 0, again.stderr
    assert json.loads(again.stdout)["signatures"] == {"cosign": []}
    puts = [(m, p) for m, p, _s in registry.access_log()[mark:] if m in ("PUT", "POST", "PATCH")]
    assert puts == [], puts

    ok = wb("verify", ref, "--key", str(pairs["signer"].pub), "--plain-http", "--json")
    assert ok.returncode == 0, ok.stderr
    verified = json.loads(ok.stdout)
    assert verified["digest"] == digest and verified["signatures"][0]["format"] == "cosign"
    assert {a["predicateType"] for a in verified["attestations"]} == {"https://spdx.dev/Document",
                                                                      "https://slsa.dev/provenance/v1"}
    bad = wb("verify", ref, "--key", str(pairs["other"].pub), "--plain-http")
    assert bad.returncode == 9
    [line] = bad.stderr.strip().splitlines()
    assert digest in line and str(pairs["other"].pub) in line
    unsigned_verify = wb("verify", f"{host}/demo/plain:1", "--key", str(pairs["signer"].pub), "--plain-http")
    assert unsigned_verify.returncode == 9 and "no cosign signature" in unsigned_verify.stderr


def test_dsse_envelopes_verify_with_securesystemslib(
        wb: Runner, app_dir: Path, registry: RegistryServer, pairs: dict[str, KeyPair], tmp_path: Path) -> None:
    from cryptography.hazmat.primitives import serialization
    from securesystemslib.dsse import Envelope
    from securesystemslib.exceptions import VerificationError
    from securesystemslib.signer import SSlibKey

    from wasmbuild.attest.sign.keys import load_public

    ref = f"{registry.host}/demo/att:1"
    built = wb("build", str(app_dir), "-t", ref, "--push", "--plain-http", "--json", *_sign_args(pairs["signer"]),
               env=fresh(tmp_path, "a"))
    assert built.returncode == 0, built.stderr
    result = json.loads(built.stdout)
    digest = result["digest"]
    _via, listed = spec_referrers(registry.host, "demo/att", digest)
    envelopes = [d for d in listed if d.get("artifactType") == DSSE]
    assert len(envelopes) == 2
    pub = load_public(str(pairs["signer"].pub))
    sslib_key = SSlibKey.from_crypto(pub.key, keyid=pub.keyid)
    other = load_public(str(pairs["other"].pub))
    other_key = SSlibKey.from_crypto(other.key, keyid=pub.keyid)  # right keyid, wrong key
    originals = {r["artifactType"]: r["digest"] for r in result["referrers"]}
    for d in envelopes:
        _s, raw = _get(registry.host, "demo/att", d["digest"])
        art = json.loads(raw)
        [layer] = art["layers"]
        assert layer["mediaType"] == DSSE and art["subject"]["digest"] == digest
        _status, _, body = request("GET", f"http://{registry.host}/v2/demo/att/blobs/{layer['digest']}", "*/*")
        env = Envelope.from_dict(json.loads(body))
        assert pub.keyid in env.verify([sslib_key], 1)  # securesystemslib's own verifier
        with pytest.raises(VerificationError, match="threshold"):
            env.verify([other_key], 1)
        statement = json.loads(env.payload)
        assert statement["subject"][0]["digest"]["sha256"] == digest.split(":")[1]
        assert layer["annotations"]["predicateType"] == statement["predicateType"]
        # The envelope holds the very document the build attached (SBOM: as the predicate).
        kind = "application/vnd.in-toto+json" if "slsa" in statement["predicateType"] else "application/spdx+json"
        _s, doc_raw = _get(registry.host, "demo/att", originals[kind])
        _st, _h, doc = request("GET", f"http://{registry.host}/v2/demo/att/blobs/"
                               f"{json.loads(doc_raw)['layers'][0]['digest']}", "*/*")
        assert (statement if kind.endswith("in-toto+json") else statement["predicate"]) == json.loads(doc)
    del serialization


def _store_blobs(store: Path) -> set[str]:
    return {p.name for p in (store / "blobs" / "sha256").glob("*")} if (store / "blobs").exists() else set()


def test_pull_verify_and_policy_refuse_before_writing_and_signatures_travel_to_a_mirror(
        wb: Runner, app_dir: Path, registry: RegistryServer, pairs: dict[str, KeyPair], tmp_path: Path) -> None:
    ref = f"{registry.host}/signed/app:1"
    unsigned = f"{registry.host}/unsigned/app:1"
    assert wb("build", str(app_dir), "-t", ref, "--push", "--plain-http", *_sign_args(pairs["signer"]),
              env=fresh(tmp_path, "a")).returncode == 0
    assert wb("build", str(app_dir), "-t", unsigned, "--push", "--plain-http", "--no-sbom",
              env=fresh(tmp_path, "a")).returncode == 0

    env = fresh(tmp_path, "wrong")
    bad = wb("pull", ref, "--plain-http", "--verify", str(pairs["other"].pub), env=env)
    assert bad.returncode == 9 and str(pairs["other"].pub) in bad.stderr
    assert _store_blobs(Path(env["WASMBUILD_STORE"])) == set()  # nothing written
    assert wb("run", "--plain-http", "--verify", str(pairs["other"].pub), ref, env=env).returncode == 9
    assert _store_blobs(Path(env["WASMBUILD_STORE"])) == set()

    env = fresh(tmp_path, "b")
    good = wb("pull", ref, "--plain-http", "--verify", str(pairs["signer"].pub), "--json", env=env)
    assert good.returncode == 0, good.stderr
    pulled = json.loads(good.stdout)
    assert pulled["verified"][0]["format"] == "cosign"
    from wasmbuild.oci.referrers import referrers

    store = Layout(Path(env["WASMBUILD_STORE"]))
    assert referrers(store, pulled["digest"], SIG_TYPE) and len(referrers(store, pulled["digest"], DSSE)) == 2
    ran = wb("run", "--plain-http", "--verify", str(pairs["signer"].pub), ref, env=fresh(tmp_path, "c"))
    assert ran.returncode == 0 and ran.stdout == "Hello Wasm\n", ran.stderr

    # push to a mirror keeps them: both forms verify there.
    mirror = f"{registry.host}/mirror/app:1"
    pushed = wb("push", f"{registry.host}/signed/app:1", mirror, "--plain-http", env=env)
    assert pushed.returncode == 0, pushed.stderr
    assert "signature" in pushed.stderr
    assert wb("verify", mirror, "--key", str(pairs["signer"].pub), "--plain-http").returncode == 0
    status, _ = _get(registry.host, "mirror/app", pulled["digest"].replace(":", "-") + ".sig")
    assert status == 200

    # A policy in containers-policy.json's shape: this repository needs the key, the rest is refused.
    policy = signed_by_policy(tmp_path / "policy.json", f"{registry.host}/signed",
                              {"type": "sigstoreSigned", "keyPath": str(pairs["signer"].pub)})
    env = fresh(tmp_path, "d")
    assert wb("pull", ref, "--plain-http", "--policy", str(policy), env=env).returncode == 0
    refused = wb("pull", unsigned, "--plain-http", "--policy", str(policy), env=fresh(tmp_path, "e"))
    assert refused.returncode == 9 and "reject" in refused.stderr
    by_env = wb("run", "--plain-http", unsigned, env={**fresh(tmp_path, "f"), "WASMBUILD_POLICY": str(policy)})
    assert by_env.returncode == 9
    assert _store_blobs(tmp_path / "e" / "store") == set() and _store_blobs(tmp_path / "f" / "store") == set()
    # What the store holds runs as it is: a policy applies where an image comes from a registry.
    from_store = wb("run", unsigned, env={**fresh(tmp_path, "a"), "WASMBUILD_POLICY": str(policy)})
    assert from_store.returncode == 0 and from_store.stdout == "Hello Wasm\n", from_store.stderr


def test_private_key_never_in_logs_errors_layers_or_documents(
        wb: Runner, app_dir: Path, registry: RegistryServer, pairs: dict[str, KeyPair], tmp_path: Path) -> None:
    from tests.integration.signing_fixtures import PASSPHRASE

    k = pairs["signer"]
    body = k.pem_body()
    wrong = tmp_path / "wrong.pass"
    wrong.write_text("not it\n")
    ref = f"{registry.host}/demo/leak:1"
    env = fresh(tmp_path, "a")
    failed = wb("build", str(app_dir), "-t", ref, "--push", "--plain-http", "--sign", str(k.key),
                "--passphrase-file", str(wrong), env=env)
    assert failed.returncode == 2 and "cannot decrypt" in failed.stderr
    ok = wb("build", str(app_dir), "-t", ref, "--push", "--plain-http", "--sign", "env://SIGNING_KEY",
            "--progress", "plain", "--json", env={**env, "SIGNING_KEY": k.key.read_text(),
                                                  "WASMBUILD_KEY_PASSPHRASE": PASSPHRASE})
    assert ok.returncode == 0, ok.stderr
    chunks = [body[i:i + 24] for i in range(0, len(body) - 24, 24)]
    for proc in (failed, ok):
        text = proc.stdout + proc.stderr
        assert PASSPHRASE not in text and not any(c in text for c in chunks)
    # every byte the registry and the store hold (layers, SBOM, provenance, signatures)
    from cryptography.hazmat.primitives import serialization

    from wasmbuild.attest.sign.keys import load_private

    priv = load_private(str(k.key), k.passphrase_file).key
    secret = priv.private_numbers().private_value.to_bytes(32, "big")
    der = priv.private_bytes(serialization.Encoding.DER, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())
    for root in (registry.root, Path(env["WASMBUILD_STORE"])):
        for f in Path(root).rglob("*"):
            if f.is_file():
                data = f.read_bytes()
                assert secret not in data and der not in data and body[:40].encode() not in data, f
                assert PASSPHRASE.encode() not in data, f


def test_signed_extra_is_used_and_a_forged_one_is_never_deserialised(
        wb: Runner, app_dir: Path, registry: RegistryServer, pairs: dict[str, KeyPair], tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch, capfd: pytest.CaptureFixture[str]) -> None:
    from wasmbuild.wasm import precompiled as fmt

    if fmt.host_target() is None:
        pytest.skip("no wasmtime target for this OS/arch: extras are neither made nor used")
    from wasmbuild.assemble.compress import _zstandard
    from wasmbuild.oci import MEDIA_MANIFEST
    from wasmbuild.oci.referrers import referrer_descriptor, referrers
    from wasmbuild.registry.referrers import push_referrers

    good, forged_ref = f"{registry.host}/demo/pre:1", f"{registry.host}/demo/forged:1"
    built = wb("build", str(app_dir), "-t", good, "--push", "--plain-http", "--precompile", "--json",
               *_sign_args(pairs["signer"]), env=fresh(tmp_path, "a"))
    assert built.returncode == 0, built.stderr
    result = json.loads(built.stdout)
    digest = result["digest"]
    [extra] = [r for r in result["referrers"] if r["artifactType"] == fmt.ARTIFACT_TYPE]
    assert result["signed"][0]["precompiled"] == [extra["digest"]]
    store_a = Layout(tmp_path / "a" / "store")
    [layer] = store_a.read_json(extra["digest"])["layers"]
    code = _zstandard().ZstdDecompressor().stream_reader(store_a.read_blob(layer["digest"])).read()

    # Signed: `run --verify` pulls it and loads it instead of compiling.
    env = fresh(tmp_path, "b")
    ran = wb("run", "--plain-http", "--verify", str(pairs["signer"].pub), good, env=env)
    assert ran.returncode == 0 and ran.stdout == "Hello Wasm\n", ran.stderr
    [cached] = (Path(env["WASMBUILD_CACHE"]) / "modules").glob("*.cwasm")
    assert cached.read_bytes() == code

    # Forged: the same image (signed), an extra with the same annotations and other bytes.
    assert wb("build", str(app_dir), "-t", forged_ref, "--push", "--plain-http", *_sign_args(pairs["signer"]),
              env=fresh(tmp_path, "c")).returncode == 0
    evil = Layout(tmp_path / "evil")
    evil.init()
    manifest = store_a.read_json(extra["digest"])  # a copy: every annotation the same, only the code differs
    blob = _zstandard().ZstdCompressor().compress(code[:-16] + b"\xcc" * 16)
    manifest["layers"][0] = {**layer, "digest": "sha256:" + __import__("hashlib").sha256(blob).hexdigest(),
                             "size": len(blob)}
    with evil.writing():
        evil.write_blob(b"{}")
        evil.write_blob(blob)
        desc = referrer_descriptor(evil.write_json(manifest, MEDIA_MANIFEST), manifest)
    assert desc.digest != extra["digest"]
    assert manifest["annotations"] == store_a.read_json(extra["digest"])["annotations"]
    push_referrers(evil, [desc], forged_ref, registry.opts())

    import wasmtime

    from wasmbuild.runtime.command import RunArgs, run_image

    calls: list[str] = []

    def never(*args: Any, **kw: Any) -> Any:
        calls.append(str(args[1:]))
        raise AssertionError("a forged extra was deserialised")

    monkeypatch.setattr(wasmtime.Module, "deserialize_file", never)
    monkeypatch.setattr(wasmtime.Module, "deserialize", never)
    env = fresh(tmp_path, "d")
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    capfd.readouterr()
    code_ = run_image(RunArgs(forged_ref, plain_http=True, verify=str(pairs["signer"].pub)))
    out, err = capfd.readouterr()
    assert code_ == 0 and out == "Hello Wasm\n" and calls == []
    assert f"precompiled code {desc.digest[:19]} not used: no signature by a trusted key" in err
    assert referrers(Layout(Path(env["WASMBUILD_STORE"])), digest, fmt.ARTIFACT_TYPE) == []
