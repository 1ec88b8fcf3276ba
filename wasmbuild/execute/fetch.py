"""Downloads pinned by sha256, kept in a content-addressed cache (so builds work offline).

``wasmbuild fetch --add FILE`` seeds the cache with a file obtained another way (for example the
CPython tarball from ``apt-get source``): a later build that names any URL with that sha256 uses
it without touching the network. ``npm:NAME@VERSION`` inputs are fetched by the npm client
(``npm pack``), ``pypi:NAME==VERSION`` ones by pip (``pip download``, a pure-Python wheel only):
package registries are reached through their package managers.
"""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path

from wasmbuild.cache.digests import DigestMemo, file_sha256, plain
from wasmbuild.dirs import download_dir
from wasmbuild.errors import BuildError, ToolchainError
from wasmbuild.fsutil import atomic_writer
from wasmbuild.load.packages import npm_package, pypi_package


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


# pip picks among a release's files the ones these tags allow: only a pure-Python wheel
# (py3-none-any, py2.py3-none-any, py312-none-any...), never an sdist (which would run code to
# build) nor a platform wheel (native code, which cannot run on WASI).
PURE_WHEEL = ("--only-binary=:all:", "--platform", "any", "--implementation", "py", "--abi", "none",
              "--python-version", "3.12")


def pip_download(name: str, version: str, sha256: str, timeout: float = 300.0) -> Path:
    """A PyPI package's pure-Python wheel, fetched by pip (the package manager, with the user's
    pip configuration: index, mirrors, proxies, credentials), checked against ``sha256`` and
    kept in the download cache."""
    import subprocess
    import sys
    import tempfile

    spec = f"{name}=={version}"
    with tempfile.TemporaryDirectory(prefix="wasmbuild-pip-") as tmp:
        argv = [sys.executable, "-m", "pip", "download", spec, "--no-deps", *PURE_WHEEL,
                "--disable-pip-version-check", "--no-input", "--quiet", "--dest", tmp]
        try:
            proc = subprocess.run(argv, cwd=tmp, capture_output=True, text=True, timeout=timeout, check=False,
                                  stdin=subprocess.DEVNULL)
        except subprocess.TimeoutExpired:
            raise BuildError(f"pip download {spec} took more than {timeout:.0f} s",
                             hint="check pip's index configuration (pip config list)") from None
        wheels = sorted(Path(tmp).glob("*.whl"))
        if proc.returncode != 0 or len(wheels) != 1:
            err = proc.stderr
            if "No module named pip" in err:
                raise ToolchainError(f"pypi:{spec} needs pip, which {sys.executable} does not have",
                                     hint="install pip into wasmbuild's Python (python -m ensurepip), or seed the "
                                          f"wheel with `wasmbuild fetch --add FILE` (sha256 {sha256[:12]}...)")
            if "No matching distribution found" in err and not _network_trouble(err):
                raise BuildError(f"{name} has no pure-Python wheel (py3-none-any): it cannot run on WASI",
                                 hint=f"pip found no py3-none-any wheel of {spec} (only platform wheels or a "
                                      "source archive: native code; or no such release in pip's index); choose "
                                      "another version or a pure-Python alternative")
            last = (err.strip().splitlines() or ["no output"])[-1]
            raise BuildError(f"pip download {spec} failed: {last}",
                             hint=f"offline? seed the wheel: `wasmbuild fetch --add FILE` (sha256 {sha256[:12]}...)")
        got = file_sha256(wheels[0])
        if got != sha256:
            raise BuildError(f"PyPI package {spec} has sha256 {got}, not the pinned {sha256}",
                             hint="check the package and version, or update the hash (in the Wasmfile or the "
                                  "requirements file) if the new wheel is trusted")
        return download_dir() / add(wheels[0], got)


def _network_trouble(stderr: str) -> bool:
    """pip could not reach its index (it then also says no distribution matched)."""
    return any(s in stderr for s in ("Retrying (", "NewConnectionError", "ConnectionError", "ProxyError",
                                     "Max retries exceeded", "Temporary failure in name resolution"))


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


def fetch(url: str, sha256: str, memo: DigestMemo | None = None, timeout: float = 60.0,
          purl: str | None = None) -> Path:
    """The file at ``url`` whose content has ``sha256``, from the cache or downloaded once
    (``npm:NAME@VERSION``: by the npm client, see :func:`npm_pack`; ``pypi:NAME==VERSION``: by
    pip, see :func:`pip_download`). ``purl``: the package the file is, named by its errors."""
    hit = cached(sha256, memo)
    if hit is not None:
        return hit
    if (package := npm_package(url)) is not None:
        return npm_pack(*package, sha256, timeout=max(timeout, 300.0))
    if (wheel := pypi_package(url)) is not None:
        return pip_download(*wheel, sha256, timeout=max(timeout, 300.0))
    import http.client
    import urllib.error
    import urllib.request

    dest = download_dir() / sha256
    what = f"{url} ({purl})" if purl else url
    h = hashlib.sha256()
    try:
        with urllib.request.urlopen(url, timeout=timeout) as resp, atomic_writer(dest) as out:
            while chunk := resp.read(1 << 20):
                h.update(chunk)
                out.write(chunk)
            if h.hexdigest() != sha256:
                raise BuildError(
                    f"download {what} has sha256 {h.hexdigest()}, {'pinned' if purl else 'the Wasmfile pins'} {sha256}",
                    hint=f"check the URL, or update {'the pin' if purl else '`sha256`'} if the new file is trusted",
                )
    except (urllib.error.URLError, OSError, http.client.HTTPException, ValueError) as exc:
        # HTTPException: a connection cut mid-body (IncompleteRead); ValueError: a bad URL.
        raise BuildError(
            f"cannot download {what}: {getattr(exc, 'reason', exc)}",
            hint=f"offline? put the file in the cache with `wasmbuild fetch --add FILE` "
            f"(sha256 {sha256[:12]}...)",
        ) from None
    return dest
