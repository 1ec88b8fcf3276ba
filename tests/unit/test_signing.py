"""The signing formats without a registry: payloads, cosign's layer and tag, DSSE's encoding (and
securesystemslib verifying our envelopes), keys, policies and the one list of formats."""

from __future__ import annotations

import importlib
import json
import os
import stat
from pathlib import Path

import pytest

from wasmbuild.attest.sign import FORMATS, KeyOptions
from wasmbuild.attest.sign.keys import generate, load_private, load_public
from wasmbuild.attest.sign.payload import ATOMIC, COSIGN, check, identity, payload
from wasmbuild.errors import ConfigError, TrustError

DIGEST = "sha256:97fc222cee7991b5b061d4d4afdb5f3428fcb0c9054e1690313786befa1e4e36"  # the spec's example
OTHER = "sha256:" + "1" * 64


@pytest.fixture
def pair(tmp_path: Path) -> tuple[Path, Path]:
    return generate(tmp_path / "k", b"pass phrase")


def test_every_format_is_one_module_with_a_signer_and_a_verifier() -> None:
    for name, module in FORMATS.items():
        m = importlib.import_module(module)
        assert m.signer(KeyOptions()) is None and m.verifier(KeyOptions()) is None  # only when its key is named
        assert {getattr(m, c).format for c in dir(m) if c.endswith(("Signer", "Verifier")) and c[0] != "_"} == {name}


def test_payload_is_simple_signing_and_identity_follows_match_repo_digest_or_exact() -> None:
    doc = json.loads(payload("reg.example:5000/ns/app:1", DIGEST, ATOMIC))
    assert doc["critical"] == {"identity": {"docker-reference": "reg.example:5000/ns/app:1"},
                               "image": {"docker-manifest-digest": DIGEST}, "type": ATOMIC}
    assert identity(f"reg.example/app@{DIGEST}") == "reg.example/app"
    data = payload("reg.example/app:1", DIGEST, ATOMIC)
    assert check(data, ATOMIC, DIGEST, "reg.example/app:1") is None
    assert check(data, ATOMIC, DIGEST, f"reg.example/app@{DIGEST}") is None  # by digest: the repository
    assert "another manifest" in str(check(data, ATOMIC, OTHER, "reg.example/app:1"))
    assert "the tag 1, not 2" in str(check(data, ATOMIC, DIGEST, "reg.example/app:2"))
    assert "names reg.example/app, not reg.example/other" in str(check(data, ATOMIC, DIGEST, "reg.example/other:1"))
    assert "type" in str(check(data, COSIGN, DIGEST, None))
    assert check(b"not json", ATOMIC, DIGEST, None) == "its payload is not a simple-signing document"


def test_cosign_layer_and_tag_follow_the_spec(pair: tuple[Path, Path], tmp_path: Path) -> None:
    from wasmbuild.attest.sign import cosign

    assert cosign.sig_tag(DIGEST) == "sha256-97fc222cee7991b5b061d4d4afdb5f3428fcb0c9054e1690313786befa1e4e36.sig"
    os.environ["WASMBUILD_KEY_PASSPHRASE"] = "pass phrase"
    try:
        key = load_private(str(pair[0]))
    finally:
        del os.environ["WASMBUILD_KEY_PASSPHRASE"]
    body, layer = cosign.signature_layer(key, "reg.example/app:1", DIGEST)
    assert layer["mediaType"] == "application/vnd.dev.cosign.simplesigning.v1+json"
    assert set(layer["annotations"]) == {"dev.cosignproject.cosign/signature"}
    assert json.loads(body)["critical"]["type"] == "cosign container image signature"
    assert cosign.signature_layer(key, "reg.example/app:1", DIGEST) == (body, layer)  # deterministic
    manifest, config = cosign.tag_manifest([layer])
    assert manifest["config"]["mediaType"] == "application/vnd.oci.image.config.v1+json"
    assert json.loads(config)["rootfs"]["diff_ids"] == [layer["digest"]]
    blobs = {layer["digest"]: body}
    pub = load_public(str(pair[1]))
    assert cosign.verify_layers(pub, [layer], blobs.get, DIGEST, None) == []
    assert cosign.verify_layers(pub, [layer], blobs.get, OTHER, None) == [f"it signs another manifest ({DIGEST})"]
    tampered = {layer["digest"]: body.replace(b"wasmbuild", b"wasmbuilt")}
    assert cosign.verify_layers(pub, [layer], tampered.get, DIGEST, None) == [
        "a signature does not verify with this key"]
    other = generate(tmp_path / "other", b"x")[1]
    with pytest.raises(TrustError, match=f"{DIGEST}: not signed by {other}"):
        cosign.CosignVerifier([load_public(str(other))]).check([("tag", manifest, blobs.get)], DIGEST, None, DIGEST)


def test_dsse_pae_and_securesystemslib_verifies_our_envelope(pair: tuple[Path, Path]) -> None:
    from securesystemslib.dsse import Envelope
    from securesystemslib.signer import SSlibKey

    from wasmbuild.attest.sign import dsse

    # The DSSE spec's (protocol.md) test vector.
    assert dsse.pae("http://example.com/HelloWorld", b"hello world") == \
        b"DSSEv1 29 http://example.com/HelloWorld 11 hello world"
    key = load_private(str(pair[0]), _pass(pair[0].parent))
    predicate, body = dsse.statement("application/spdx+json", b'{"spdxVersion": "SPDX-2.3"}', "reg/app", DIGEST)
    assert predicate == "https://spdx.dev/Document"
    raw = dsse.envelope(key, body)
    pub = load_public(str(pair[1]))
    assert Envelope.from_dict(json.loads(raw)).verify([SSlibKey.from_crypto(pub.key, keyid=pub.keyid)], 1)
    opened = dsse.open_envelope([pub], raw, DIGEST)
    assert isinstance(opened, tuple) and opened[1]["predicate"] == {"spdxVersion": "SPDX-2.3"}
    assert dsse.open_envelope([pub], raw, OTHER) == f"it is about another image (not {OTHER})"


def _pass(d: Path) -> Path:
    (d / "pass").write_text("pass phrase\n")
    return d / "pass"


def test_keys_are_encrypted_private_and_errors_never_quote_them(pair: tuple[Path, Path], tmp_path: Path,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    key, pub = pair
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    text = key.read_text()
    assert text.startswith("-----BEGIN ENCRYPTED PRIVATE KEY-----")
    wrong = tmp_path / "wrong"
    wrong.write_text("nope")
    with pytest.raises(ConfigError, match="cannot decrypt") as err:
        load_private(str(key), wrong)
    body = "".join(text.splitlines()[1:-1])
    assert "cannot decrypt" in str(err.value) and body[:20] not in str(err.value) and "nope" not in str(err.value)
    with pytest.raises(ConfigError, match="this is a private key"):
        load_public(str(key))
    monkeypatch.setenv("SIGNING_KEY", text)
    assert load_private("env://SIGNING_KEY", _pass(tmp_path)).public.keyid == load_public(str(pub)).keyid
    with pytest.raises(ConfigError, match="SIGNING_KEY_2 is not set"):
        load_private("env://SIGNING_KEY_2")
    with pytest.raises(ConfigError, match="exists"):
        generate(tmp_path / "k", b"again")
    with pytest.raises(ConfigError, match="passphrase is empty"):
        generate(tmp_path / "new", b"")


def test_policy_scopes_and_registries_d(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from wasmbuild.attest.sign.policy import find_policy, lookaside, requirements

    (tmp_path / "p.json").write_text(json.dumps({
        "default": [{"type": "reject"}],
        "transports": {"docker": {
            "reg.example/team": [{"type": "sigstoreSigned", "keyPath": "/keys/team.pub"}],
            "reg.example/team/app:dev": [{"type": "insecureAcceptAnything"}],
            "reg.example/team/gpg": [{"type": "signedBy", "keyType": "GPGKeys", "keyPaths": ["/a.asc", "/b.asc"]}],
            "*.example": [{"type": "signedBy", "keyType": "GPGKeys", "keyData": "AAAA"}]}}}))
    policy = find_policy(tmp_path / "p.json")
    assert policy is not None
    assert requirements(policy, "reg.example/team/app:1") == [KeyOptions(key="/keys/team.pub")]
    assert requirements(policy, "reg.example/team/app:dev") == []
    with pytest.raises(TrustError, match=r"rejected by .*scope 'default'"):
        requirements(policy, "other.registry/x:1")
    with pytest.raises(ConfigError, match="keyData is not supported"):
        requirements(policy, "mirror.example/x:1")
    d = tmp_path / "registries.d"
    d.mkdir()
    (d / "a.yaml").write_text("default-docker:\n  lookaside: file:///all\ndocker:\n"
                              "  reg.example/team:\n    lookaside: https://sigs.example/team\n")
    monkeypatch.setenv("WASMBUILD_REGISTRIES_D", str(d))
    assert requirements(policy, "reg.example/team/gpg:1") == [
        KeyOptions(gpg_pubkey="/a.asc,/b.asc", lookaside="https://sigs.example/team")]
    assert lookaside("elsewhere.example/x:1") == "file:///all"
    (tmp_path / "bad.json").write_text("{\n  nope")
    with pytest.raises(ConfigError, match=r"bad.json:2: the policy is not JSON"):
        find_policy(tmp_path / "bad.json")


def test_command_line_mistakes_are_one_line_before_any_work(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from tests.unit.test_hostile_images import cli

    (tmp_path / "Wasmfile").write_text("wasmfile: 1\nimage:\n  files: [{src: a.wasm, dest: /a.wasm}]\n"
                                       "  entrypoint: [a.wasm]\n")
    (tmp_path / "a.wasm").write_bytes(b"\0asm\x01\0\0\0")
    key, _pub = generate(tmp_path / "k", b"pass phrase")
    cases = [
        (["build", str(tmp_path), "--sign", str(key)], 2, "--sign signs what --push pushed"),
        (["sign", "localhost:5000/a:1", "--gpg-key", "ABC"], 2, "--gpg-key needs --lookaside"),
        (["sign", "localhost:5000/a:1"], 2, "sign: no key"),
        (["verify", "localhost:5000/a:1", "--key", str(key)], 2, "this is a private key"),
        (["verify", "localhost:5000/a:1", "--gpg-pubkey", str(tmp_path / "none.asc"), "--lookaside", "file:///x"],
         2, "no such file"),
        (["sign", "localhost:5000/a:1", "--gpg-key", "ABC", "--lookaside", "ftp://x"], 2, "not a file://DIR"),
        (["key", "generate", "--output", str(tmp_path / "k")], 2, "exists"),
    ]
    monkeypatch.setenv("WASMBUILD_KEY_PASSPHRASE", "pass phrase")
    for argv, code, text in cases:
        got = cli(*argv)
        lines = got.stderr.strip().splitlines()
        assert got.returncode == code and len(lines) == 1 and text in lines[0], (argv, got.stderr)


def _cosign_key_file(path: Path, secret: bytes) -> Path:
    """A key in cosign's own encrypted format (what `cosign generate-key-pair` writes: PEM around
    go-securesystemslib's scrypt + nacl/secretbox JSON), made here from its documented parts."""
    import base64

    import nacl.secret
    import nacl.utils
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.hazmat.primitives.kdf.scrypt import Scrypt

    der = ec.generate_private_key(ec.SECP256R1()).private_bytes(
        serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    salt, nonce = nacl.utils.random(32), nacl.utils.random(24)
    box = nacl.secret.SecretBox(Scrypt(salt=salt, length=32, n=1 << 15, r=8, p=1).derive(secret))
    doc = {"kdf": {"name": "scrypt", "params": {"N": 1 << 15, "r": 8, "p": 1}, "salt": base64.b64encode(salt).decode()},
           "cipher": {"name": "nacl/secretbox", "nonce": base64.b64encode(nonce).decode()},
           "ciphertext": base64.b64encode(box.encrypt(der, nonce).ciphertext).decode()}
    body = base64.b64encode(json.dumps(doc).encode()).decode()
    lines = [body[i:i + 64] for i in range(0, len(body), 64)]
    path.write_text("\n".join(["-----BEGIN ENCRYPTED SIGSTORE PRIVATE KEY-----", *lines,
                               "-----END ENCRYPTED SIGSTORE PRIVATE KEY-----", ""]))
    return path


def test_cosign_encrypted_key_files_are_read(tmp_path: Path) -> None:
    key = _cosign_key_file(tmp_path / "cosign.key", b"s3cret")
    (tmp_path / "right").write_text("s3cret\n")
    (tmp_path / "wrong").write_text("nope\n")
    loaded = load_private(str(key), tmp_path / "right")
    assert loaded.key.curve.name == "secp256r1"
    with pytest.raises(ConfigError, match="cannot decrypt or parse") as err:
        load_private(str(key), tmp_path / "wrong")
    assert "nope" not in str(err.value)
