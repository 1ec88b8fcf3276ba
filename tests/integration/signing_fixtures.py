"""Fixtures of the signing tests: a project on the golden module (no toolchain), cosign-format
key pairs, an OpenPGP key in a throw-away GnuPG home, and policy/registries.d files."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.support import require
from tests.support.pipeline import GOLDEN

WASMFILE = """\
wasmfile: 1
image:
  files: [{src: hello.wasm, dest: /hello.wasm}]
  entrypoint: [hello.wasm]
"""
PASSPHRASE = "correct horse battery staple"


@dataclass(frozen=True)
class KeyPair:
    key: Path
    pub: Path
    passphrase_file: Path

    def pem_body(self) -> str:
        """The base64 body of the (encrypted) private key: what must never show up anywhere."""
        lines = self.key.read_text().splitlines()
        return "".join(lines[1:-1])


@dataclass(frozen=True)
class GpgKey:
    home: Path
    fingerprint: str
    pub: Path


def fresh(tmp_path: Path, name: str) -> dict[str, str]:
    return {"WASMBUILD_STORE": str(tmp_path / name / "store"), "WASMBUILD_CACHE": str(tmp_path / name / "cache")}


@pytest.fixture
def app_dir(tmp_path: Path) -> Path:
    """A Wasmfile copying the golden module: an image in a second, no toolchain."""
    (tmp_path / "p").mkdir()
    shutil.copy(GOLDEN, tmp_path / "p" / "hello.wasm")
    (tmp_path / "p" / "Wasmfile").write_text(WASMFILE)
    return tmp_path / "p"


def make_keypair(directory: Path, name: str) -> KeyPair:
    from wasmbuild.attest.sign.keys import generate

    directory.mkdir(parents=True, exist_ok=True)
    secret = directory / f"{name}.pass"
    secret.write_text(PASSPHRASE + "\n")
    key, pub = generate(directory / name, PASSPHRASE.encode())
    return KeyPair(key, pub, secret)


@pytest.fixture(scope="module")
def pairs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, KeyPair]:
    d = tmp_path_factory.mktemp("keys")
    return {"signer": make_keypair(d, "signer"), "other": make_keypair(d, "other")}


def make_gpg(home: Path, name: str, expire: str = "never") -> GpgKey:
    gpg = require("gpg")
    home.mkdir(mode=0o700, parents=True)
    env = {**os.environ, "GNUPGHOME": str(home)}
    subprocess.run([gpg, "--batch", "--passphrase", "", "--quick-gen-key", f"{name} <{name}@example.test>",
                    "rsa2048", "sign", expire], env=env, check=True, capture_output=True)
    listing = subprocess.run([gpg, "--with-colons", "--list-secret-keys"], env=env, check=True,
                             capture_output=True, text=True).stdout
    fpr = next(x.split(":")[9] for x in listing.splitlines() if x.startswith("fpr:"))
    pub = home.parent / f"{name}.asc"
    subprocess.run([gpg, "--armor", "--output", str(pub), "--export", fpr], env=env, check=True, capture_output=True)
    return GpgKey(home, fpr, pub)


@pytest.fixture(scope="module")
def gpg_keys(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, GpgKey]]:
    d = tmp_path_factory.mktemp("gpg")
    keys = {"signer": make_gpg(d / "signer", "signer"), "other": make_gpg(d / "other", "other")}
    yield keys
    for k in keys.values():
        subprocess.run(["gpgconf", "--homedir", str(k.home), "--kill", "gpg-agent"], check=False, capture_output=True)


def signed_by_policy(path: Path, scope: str, requirement: dict[str, object]) -> Path:
    """A containers-policy.json: reject by default, ``requirement`` for ``scope``, and anything
    into local directories (skopeo's destination)."""
    path.write_text(json.dumps({"default": [{"type": "reject"}],
                                "transports": {"docker": {scope: [requirement]},
                                               "dir": {"": [{"type": "insecureAcceptAnything"}]}}}))
    return path


def registries_d(home: Path, host: str, lookaside: Path) -> Path:
    """``$HOME/.config/containers/registries.d`` naming ``lookaside`` for ``host`` (podman, skopeo
    and wasmbuild read it there)."""
    d = home / ".config" / "containers" / "registries.d"
    d.mkdir(parents=True, exist_ok=True)
    (d / "wasmbuild-test.yaml").write_text(f"docker:\n  {host}:\n    lookaside: file://{lookaside}\n")
    return d
