"""ECDSA P-256 keys (cosign's format and DSSE): generate, load, name -- never print.

Private keys are PKCS#8 PEM encrypted with a passphrase (``BEGIN ENCRYPTED PRIVATE KEY``) --
cosign's own encrypted files (``BEGIN ENCRYPTED SIGSTORE/COSIGN PRIVATE KEY``) are read too -- public
keys PKIX PEM (``BEGIN PUBLIC KEY``, the file ``cosign verify --key`` reads). A key is named by
a file path or ``env://VAR`` (the GitHub Action hands a secret over that way, as cosign does).
Passphrases come from a file, ``WASMBUILD_KEY_PASSPHRASE`` or stdin -- never from argv.

No message here ever quotes a key's bytes or a passphrase: errors name the file or variable only
(``tests/integration/test_signing.py`` checks logs, errors and layers for the key).
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ...errors import ConfigError
from ...fsutil import atomic_writer

PASSPHRASE_ENV = "WASMBUILD_KEY_PASSPHRASE"


@dataclass(frozen=True)
class PublicKey:
    """A trusted public key: the cryptography object and where it came from (for messages)."""

    key: Any
    where: str

    @property
    def keyid(self) -> str:
        """sha256 of the DER SubjectPublicKeyInfo, hex (how messages and files name the key)."""
        from cryptography.hazmat.primitives import serialization

        der = self.key.public_bytes(serialization.Encoding.DER,
                                    serialization.PublicFormat.SubjectPublicKeyInfo)
        return hashlib.sha256(der).hexdigest()

    def verify(self, signature: bytes, data: bytes) -> bool:
        from cryptography.exceptions import InvalidSignature
        from cryptography.hazmat.primitives import hashes
        from cryptography.hazmat.primitives.asymmetric import ec

        try:
            self.key.verify(signature, data, ec.ECDSA(hashes.SHA256()))
        except (InvalidSignature, ValueError):
            return False
        return True


@dataclass(frozen=True)
class PrivateKey:
    key: Any
    where: str

    @property
    def public(self) -> PublicKey:
        return PublicKey(self.key.public_key(), self.where)

    def sign(self, data: bytes) -> bytes:
        """A DER ECDSA-SHA256 signature. Deterministic (RFC 6979): signing the same payload
        again gives the same bytes, so a re-sign pushes nothing new."""
        from cryptography.hazmat.primitives import hashes
        from cryptography.hazmat.primitives.asymmetric import ec

        sig: bytes = self.key.sign(data, ec.ECDSA(hashes.SHA256(), deterministic_signing=True))
        return sig


def _read(name: str, what: str) -> tuple[bytes, str]:
    """The bytes of a key named by a path or ``env://VAR``; (bytes, how to name it)."""
    if name.startswith("env://"):
        var = name.removeprefix("env://")
        value = os.environ.get(var)
        if not value:
            raise ConfigError(f"{what} {name}: the environment variable {var} is not set or empty",
                              hint="set it to the PEM text of the key (in CI: from a secret)")
        return value.encode(), name
    path = Path(name)
    try:
        return path.read_bytes(), str(path)
    except OSError as exc:
        raise ConfigError(f"{what} {path}: cannot read it: {exc.strerror or exc}",
                          hint="give the PREFIX.key / PREFIX.pub file `wasmbuild key generate` wrote") from None


def passphrase(file: Path | None, *, prompt: str = "passphrase: ", confirm: bool = False) -> bytes:
    """The passphrase from ``file``, else ``WASMBUILD_KEY_PASSPHRASE``, else stdin (a prompt on a
    terminal). One trailing newline is dropped. Never from argv."""
    if file is not None:
        try:
            text = file.read_bytes()
        except OSError as exc:
            raise ConfigError(f"--passphrase-file {file}: cannot read it: {exc.strerror or exc}") from None
    elif os.environ.get(PASSPHRASE_ENV):
        text = os.environ[PASSPHRASE_ENV].encode()
    elif sys.stdin is not None and sys.stdin.isatty():
        import getpass

        text = getpass.getpass(prompt).encode()
        if confirm and getpass.getpass("again: ").encode() != text:
            raise ConfigError("the passphrases differ", hint="type the same passphrase twice")
    else:
        text = sys.stdin.buffer.read() if sys.stdin is not None else b""
    text = text[:-1] if text.endswith(b"\n") else text
    return text[:-1] if text.endswith(b"\r") else text


def generate(prefix: Path, secret: bytes) -> tuple[Path, Path]:
    """Write ``PREFIX.key`` (encrypted with ``secret``, mode 0600) and ``PREFIX.pub``."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    if not secret:
        raise ConfigError("key generate: the passphrase is empty",
                          hint="give one with --passphrase-file FILE, WASMBUILD_KEY_PASSPHRASE or stdin")
    key_path, pub_path = Path(f"{prefix}.key"), Path(f"{prefix}.pub")
    for p in (key_path, pub_path):
        if p.exists():
            raise ConfigError(f"key generate: {p} exists", hint="choose another --output PREFIX or remove it")
    key = ec.generate_private_key(ec.SECP256R1())
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                            serialization.BestAvailableEncryption(secret))
    pub = key.public_key().public_bytes(serialization.Encoding.PEM,
                                        serialization.PublicFormat.SubjectPublicKeyInfo)
    key_path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_writer(key_path, 0o600) as out:
        os.fchmod(out.fileno(), 0o600)  # before the first byte: the temp file is not readable by others either
        out.write(pem)
    with atomic_writer(pub_path) as out:
        out.write(pub)
    return key_path, pub_path


def load_private(name: str, passphrase_file: Path | None = None) -> PrivateKey:
    """The ECDSA P-256 private key named by ``name`` (asks for the passphrase if encrypted)."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    data, where = _read(name, "--key")
    if b"PRIVATE KEY-----" not in data:
        raise ConfigError(f"--key {where}: not a PEM private key",
                          hint="give PREFIX.key from `wasmbuild key generate` (PREFIX.pub is for verify)")
    secret = passphrase(passphrase_file, prompt=f"passphrase for {where}: ") if b"ENCRYPTED" in data else None
    try:
        if b"COSIGN PRIVATE KEY" in data or b"SIGSTORE PRIVATE KEY" in data:
            key = serialization.load_der_private_key(_cosign_der(data, secret or b""), password=None)
        else:
            key = serialization.load_pem_private_key(data, password=secret)
    except (ValueError, TypeError, KeyError):
        # Never the library's message: it could quote what it failed to parse.
        raise ConfigError(f"--key {where}: cannot decrypt or parse the private key",
                          hint="check the passphrase (--passphrase-file, WASMBUILD_KEY_PASSPHRASE)") from None
    if not isinstance(key, ec.EllipticCurvePrivateKey) or key.curve.name != "secp256r1":
        raise ConfigError(f"--key {where}: not an ECDSA P-256 key", hint="cosign's format signs with P-256")
    return PrivateKey(key, where)


def _cosign_der(data: bytes, secret: bytes) -> bytes:
    """The PKCS#8 DER inside cosign's own encrypted key file (``cosign generate-key-pair``):
    PEM around JSON ``{kdf: scrypt(N, r, p, salt), cipher: nacl/secretbox(nonce), ciphertext}``
    (go-securesystemslib's ``encrypted`` package). ValueError if it does not open."""
    from cryptography.hazmat.primitives.kdf.scrypt import Scrypt

    lines = [x for x in data.decode("ascii", "replace").splitlines() if x and not x.startswith("-----")]
    doc = json.loads(base64.b64decode("".join(lines)))
    kdf, cipher = doc["kdf"], doc["cipher"]
    if kdf.get("name") != "scrypt" or cipher.get("name") != "nacl/secretbox":
        raise ValueError("unknown cosign key encryption")
    p = kdf["params"]
    box_key = Scrypt(salt=base64.b64decode(kdf["salt"]), length=32, n=int(p["N"]), r=int(p["r"]),
                     p=int(p["p"])).derive(secret)
    import nacl.exceptions
    import nacl.secret

    try:
        return bytes(nacl.secret.SecretBox(box_key).decrypt(base64.b64decode(doc["ciphertext"]),
                                                            base64.b64decode(cipher["nonce"])))
    except nacl.exceptions.CryptoError:
        raise ValueError("wrong passphrase") from None


def load_public(name: str) -> PublicKey:
    """The ECDSA P-256 public key (PKIX PEM) named by ``name``."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    data, where = _read(name, "--key")
    if b"PRIVATE KEY" in data:
        raise ConfigError(f"--key {where}: this is a private key; verify takes the public one",
                          hint="give PREFIX.pub")
    try:
        key = serialization.load_pem_public_key(data)
    except (ValueError, TypeError):
        raise ConfigError(f"--key {where}: not a PEM public key", hint="give PREFIX.pub") from None
    if not isinstance(key, ec.EllipticCurvePublicKey) or key.curve.name != "secp256r1":
        raise ConfigError(f"--key {where}: not an ECDSA P-256 public key", hint="cosign's format verifies with P-256")
    return PublicKey(key, where)


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def unb64(text: str) -> bytes | None:
    try:
        return base64.b64decode(text, validate=True)
    except (ValueError, TypeError):
        return None
