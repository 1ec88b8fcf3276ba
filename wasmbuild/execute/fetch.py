"""Downloads pinned by sha256, kept in a content-addressed cache (so builds work offline).

``wasmbuild fetch --add FILE`` seeds the cache with a file obtained another way (for example the
CPython tarball from ``apt-get source``): a later build that names any URL with that sha256 uses
it without touching the network. ``npm:NAME@VERSION`` inputs are fetched by the npm client
(``npm pack``): package registries are reached through their package managers.
"""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path

from wasmbuild.cache.digests import DigestMemo, file_sha256, plain
from wasmbuild.dirs import download_dir
from wasmbuild.errors import BuildError, ToolchainError
from wasmbuild.fsutil import atomic_writer
from wasmbuild.load.model import npm_package


def npm_pack(name: str, version: str, sha256: str, timeout: float = 300.0) -> Path:
    """An npm package's tarball, fetched by ``npm pack`` (the package manager, with the user's npm
    configuration: registry mirrors, proxies, credentials in ~/.npmrc), checked against ``sha256``
    and kept in the download cache."""
    import subprocess
    import tempfile

    npm = shutil.which("npm")
    if npm is None:
        raise ToolchainError(f"npm:{name}@{version} needs the npm client, which is not on PATH",
                             hint="install Node.js and npm (Debian: apt-get install npm), or seed the file "
                                  f"with `wasmbuild fetch --add FILE` (sha256 {sha256[:12]}...)")
    with tempfile.TemporaryDirectory(prefix="wasmbuild-npm-") as tmp:
        try:
            proc = subprocess.run([npm, "pack", "--silent", "--pack-destination", tmp, f"{name}@{version}"],
                                  cwd=tmp, capture_output=True, text=True, timeout=timeout, check=False)
        except subprocess.TimeoutExpired:
            raise BuildError(f"npm pack {name}@{version} took more than {timeout:.0f} s",
                             hint="check the npm registry configuration (npm config get registry)") from None
        packed = sorted(Path(tmp).glob("*.tgz"))
        if proc.returncode != 0 or len(packed) != 1:
            last = (proc.stderr.strip().splitlines() or ["no output"])[-1]
            raise BuildError(f"npm pack {name}@{version} failed: {last}",
                             hint=f"offline? seed the file with `wasmbuild fetch --add FILE` (sha256 {sha256[:12]}...)")
        got = file_sha256(packed[0])
        if got != sha256:
            raise BuildError(f"npm package {name}@{version} has sha256 {got}, the Wasmfile pins {sha256}",
                             hint="check the package and version, or update `sha256` if the new file is trusted")
        return download_dir() / add(packed[0], got)


def cached(sha256: str, memo: DigestMemo | None = None) -> Path | None:
    """The cached download with content ``sha256``, or None (a corrupt one is dropped)."""
    path = download_dir() / sha256
    if path.is_file():
        if (memo or plain()).file_sha256(path) == sha256:
            return path
        path.unlink()  # corrupt: drop it and fetch again
    return None


def add(path: Path, digest: str | None = None) -> str:
    """Copy ``path`` into the download cache; returns its sha256 (``digest``: already known)."""
    digest = digest or file_sha256(path)
    dest = download_dir() / digest
    if not dest.is_file():
        with open(path, "rb") as src, atomic_writer(dest) as out:
            shutil.copyfileobj(src, out, 1 << 20)
    return digest


def fetch(url: str, sha256: str, memo: DigestMemo | None = None, timeout: float = 60.0) -> Path:
    """The file at ``url`` whose content has ``sha256``, from the cache or downloaded once
    (``npm:NAME@VERSION``: by the npm client, see :func:`npm_pack`)."""
    hit = cached(sha256, memo)
    if hit is not None:
        return hit
    if (package := npm_package(url)) is not None:
        return npm_pack(*package, sha256, timeout=max(timeout, 300.0))
    import http.client
    import urllib.error
    import urllib.request

    dest = download_dir() / sha256
    h = hashlib.sha256()
    try:
        with urllib.request.urlopen(url, timeout=timeout) as resp, atomic_writer(dest) as out:
            while chunk := resp.read(1 << 20):
                h.update(chunk)
                out.write(chunk)
            if h.hexdigest() != sha256:
                raise BuildError(
                    f"download {url} has sha256 {h.hexdigest()}, the Wasmfile pins {sha256}",
                    hint="check the URL, or update `sha256` if the new file is trusted",
                )
    except (urllib.error.URLError, OSError, http.client.HTTPException, ValueError) as exc:
        # HTTPException: a connection cut mid-body (IncompleteRead); ValueError: a bad URL.
        raise BuildError(
            f"cannot download {url}: {getattr(exc, 'reason', exc)}",
            hint=f"offline? put the file in the cache with `wasmbuild fetch --add FILE` "
            f"(sha256 {sha256[:12]}...)",
        ) from None
    return dest
