"""Simple signing (containers-signature(5)) with an OpenPGP key: the signer/verifier pair.

The signature is an OpenPGP signed message (not detached) of the simple-signing payload (type
``atomic container signature``), made and checked by GnuPG (``gpg``, Debian's ``gnupg``), as
containers/image does through GPGME. It is stored where podman and skopeo look (containers-
registries.d(5), "lookaside"): ``BASE/REPOSITORY@sha256=HEX/signature-N``, N = 1, 2, ... --
``file://DIR`` is written directly, an ``http(s)`` URL is written with PUT and read with GET.

A key is a fingerprint (or user id) in the user's GnuPG keyring, or an armored key file
(imported into a throw-away keyring); its passphrase comes from ``--passphrase-file``. Signing
again with a key that already signed the digest writes nothing (its signature is found first).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import unquote, urlparse

from ...errors import ConfigError, RegistryError, ToolchainError, TrustError
from ...fsutil import atomic_writer
from ...reference import parse
from . import KeyOptions, Target, Verified
from .payload import ATOMIC, check, payload

#: containers/image stops at the first missing signature-N; so do we, and never read past this.
_MAX_SIGNATURES = 64


def _gpg() -> str:
    found = shutil.which("gpg")
    if found is None:
        raise ToolchainError("simple signing needs GnuPG (gpg), which is not installed",
                             hint="apt-get install gnupg (scripts/bootstrap installs it)")
    return found


@contextmanager
def _homedir(import_files: list[Path] | None) -> Iterator[str | None]:
    """The user's keyring (None) or, given key files, a throw-away one holding just them."""
    if import_files is None:
        yield None
        return
    home = tempfile.mkdtemp(prefix="wb-gpg-")  # short: gpg-agent's socket path has a limit
    try:
        os.chmod(home, 0o700)
        for f in import_files:
            r = _run(home, ["--import", str(f)])
            if r.returncode != 0:
                raise ConfigError(f"{f}: GnuPG cannot import it as an OpenPGP key",
                                  hint="give an armored key (gpg --export --armor / --export-secret-keys)")
        yield home
    finally:
        subprocess.run(["gpgconf", "--homedir", home, "--kill", "gpg-agent"], capture_output=True, check=False)
        shutil.rmtree(home, ignore_errors=True)


def _run(home: str | None, args: list[str], data: bytes | None = None) -> subprocess.CompletedProcess[bytes]:
    cmd = [_gpg(), "--batch", "--no-tty", "--quiet", *(["--homedir", home] if home else []), *args]
    return subprocess.run(cmd, input=data, capture_output=True, check=False, timeout=120)


def _status(home: str | None, signature: bytes) -> tuple[bytes, list[list[str]]]:
    """(the signed payload, gpg's status lines split) of an OpenPGP signed message."""
    with tempfile.TemporaryDirectory(prefix="wb-gpgs-") as tmp:
        status = Path(tmp) / "status"
        r = _run(home, ["--status-file", str(status), "--decrypt"], signature)
        lines = [x.split() for x in status.read_text(errors="replace").splitlines() if x.startswith("[GNUPG:]")]
    return (r.stdout if r.returncode == 0 else b""), [x[1:] for x in lines]


def _verdict(lines: list[list[str]], fingerprints: set[str] | None) -> tuple[str | None, str]:
    """(fingerprint of a good, unexpired signature by one of ``fingerprints``, else None; why not)."""
    codes = {x[0]: x[1:] for x in lines if x}
    if "EXPKEYSIG" in codes or "EXPSIG" in codes:
        return None, "the signature or its key has expired"
    if "REVKEYSIG" in codes:
        return None, "the signing key is revoked"
    if "BADSIG" in codes:
        return None, "the signature does not match its payload (tampered)"
    if "NO_PUBKEY" in codes or "ERRSIG" in codes:
        return None, "it is signed by another key"
    valid = codes.get("VALIDSIG")
    if "GOODSIG" not in codes or not valid:
        return None, "it is not an OpenPGP signed message"
    fprs = {valid[0], valid[-1]}  # the signing (sub)key and its primary key
    if fingerprints is not None and not fprs & fingerprints:
        return None, "it is signed by another key"
    return valid[-1], ""


class Lookaside:
    """A lookaside location: ``file://DIR`` or ``http(s)://...``."""

    def __init__(self, url: str):
        parsed = urlparse(url)
        if parsed.scheme not in ("file", "http", "https") or (parsed.scheme == "file" and not parsed.path):
            raise ConfigError(f"--lookaside {url!r}: not a file://DIR or http(s):// URL",
                              hint="e.g. --lookaside file:///var/lib/containers/sigstore")
        self.url = url.rstrip("/")
        self.scheme = parsed.scheme
        self.path = Path(unquote(parsed.path)) if parsed.scheme == "file" else None

    def location(self, ref: str, digest: str, n: int) -> str:
        """Where signature ``n`` of ``digest`` in ``ref``'s repository lives (registries.d(5))."""
        repo = parse(ref.removeprefix("docker://"), default_tag=None).repository
        algo, _, hexpart = digest.partition(":")
        return f"{repo}@{algo}={hexpart}/signature-{n}"

    def read(self, ref: str, digest: str) -> list[bytes]:
        out: list[bytes] = []
        for n in range(1, _MAX_SIGNATURES + 1):
            got = self._get(self.location(ref, digest, n))
            if got is None:
                break
            out.append(got)
        return out

    def _get(self, rel: str) -> bytes | None:
        if self.path is not None:
            try:
                return (self.path / rel).read_bytes()
            except FileNotFoundError:
                return None
            except OSError as exc:
                raise ConfigError(f"lookaside {self.path / rel}: cannot read it: {exc.strerror or exc}") from None
        import requests

        try:
            resp = requests.get(f"{self.url}/{rel}", timeout=30)
        except requests.RequestException as exc:
            raise RegistryError(f"lookaside {self.url}: unreachable ({type(exc).__name__})") from None
        if resp.status_code == 404:
            return None
        if resp.status_code != 200:
            raise RegistryError(f"lookaside {self.url}/{rel}: HTTP {resp.status_code}")
        return bytes(resp.content)

    def write(self, ref: str, digest: str, n: int, data: bytes) -> str:
        rel = self.location(ref, digest, n)
        if self.path is not None:
            dest = self.path / rel
            dest.parent.mkdir(parents=True, exist_ok=True)
            with atomic_writer(dest) as out:
                out.write(data)
            return str(dest)
        import requests

        try:
            resp = requests.put(f"{self.url}/{rel}", data=data, timeout=30)
        except requests.RequestException as exc:
            raise RegistryError(f"lookaside {self.url}: unreachable ({type(exc).__name__})") from None
        if resp.status_code not in (200, 201, 204):
            raise RegistryError(f"lookaside {self.url}/{rel}: the server refused the upload (HTTP {resp.status_code})",
                                hint="a staging URL must accept PUT; or write to file://DIR and serve that")
        return f"{self.url}/{rel}"


class SimpleSigner:
    format = "simple"

    def __init__(self, key: str, lookaside: Lookaside, passphrase_file: Path | None = None):
        self.key, self.lookaside, self.passphrase_file = key, lookaside, passphrase_file

    def sign(self, target: Target) -> list[str]:
        key_file = Path(self.key) if os.path.isfile(self.key) else None
        with _homedir([key_file] if key_file else None) as home:
            r = _run(home, ["--with-colons", "--list-secret-keys", *([] if key_file else ["--", self.key])])
            fprs = [x.split(":")[9] for x in r.stdout.decode(errors="replace").splitlines() if x.startswith("fpr:")]
            if r.returncode != 0 or not fprs:
                raise ConfigError(f"--gpg-key {'(file) ' + str(key_file) if key_file else self.key}: no such "
                                  "OpenPGP secret key", hint="gpg --list-secret-keys shows the keys you can sign with")
            existing = self.lookaside.read(target.ref, target.digest)
            for sig in existing:
                body, lines = _status(home, sig)
                if _verdict(lines, set(fprs))[0] and check(body, ATOMIC, target.digest, target.ref) is None:
                    return []  # signed by this key already: nothing is written twice
            args = ["--pinentry-mode", "loopback"]
            if self.passphrase_file is not None:
                args += ["--passphrase-file", str(self.passphrase_file)]
            r = _run(home, [*args, "--local-user", fprs[0], "--sign"], payload(target.ref, target.digest, ATOMIC))
            if r.returncode != 0 or not r.stdout:
                # gpg's own words only: it never prints key material, a passphrase never reaches argv.
                last = (r.stderr.decode(errors="replace").strip().splitlines() or ["no signature"])[-1]
                raise ConfigError(f"--gpg-key {fprs[0]}: GnuPG could not sign: {last}",
                                  hint="check --passphrase-file (the key may need a passphrase)")
            return [self.lookaside.write(target.ref, target.digest, len(existing) + 1, r.stdout)]


class SimpleVerifier:
    format = "simple"

    def __init__(self, pubkeys: list[Path], lookaside: Lookaside):
        self.pubkeys, self.lookaside = pubkeys, lookaside

    def verify(self, target: Target) -> Verified:
        sigs = self.lookaside.read(target.ref, target.digest)
        keys = ", ".join(str(p) for p in self.pubkeys)
        what = f"{target.repo_ref}"
        if not sigs:
            raise TrustError(f"{what}: no simple signature in {self.lookaside.url} (wanted a key of {keys})",
                             hint="sign it with `wasmbuild sign IMAGE --gpg-key KEY --lookaside URL`")
        why: list[str] = []
        with _homedir(self.pubkeys) as home:
            for sig in sigs:
                body, lines = _status(home, sig)
                fpr, reason = _verdict(lines, None)
                if fpr is None:
                    why.append(reason)
                elif (bad := check(body, ATOMIC, target.digest, target.ref)) is not None:
                    why.append(bad)
                else:
                    return Verified(self.format, fpr, keys, "lookaside")
        raise TrustError(f"{what}: not signed by {keys}: {sorted(set(why))[0]}",
                         hint="trust the key that signed it, or sign the image again")


def signer(keys: KeyOptions) -> SimpleSigner | None:
    if keys.gpg_key is None:
        return None
    if not keys.lookaside:
        raise ConfigError("--gpg-key needs --lookaside URL", hint="where podman and skopeo will find the signature "
                          "(file://DIR or an http(s) staging URL)")
    return SimpleSigner(keys.gpg_key, Lookaside(keys.lookaside), keys.passphrase_file)


def verifier(keys: KeyOptions) -> SimpleVerifier | None:
    if keys.gpg_pubkey is None:
        return None
    if not keys.lookaside:
        raise ConfigError("--gpg-pubkey needs --lookaside URL", hint="where the image's signatures are")
    files = [Path(p) for p in keys.gpg_pubkey.split(",")]
    for f in files:
        if not f.is_file():
            raise ConfigError(f"--gpg-pubkey {f}: no such file", hint="gpg --export --armor FINGERPRINT > key.asc")
    return SimpleVerifier(files, Lookaside(keys.lookaside))
