"""Downloads pinned by sha256 (npm packages also by an SRI integrity), kept in a content-addressed
cache (so builds work offline).

``wasmbuild fetch --add FILE`` seeds the cache with a file obtained another way (for example the
CPython tarball from ``apt-get source``): a later build that names any URL with that sha256 uses
it without touching the network. ``npm:NAME@VERSION`` inputs are fetched by the npm client
(``npm pack``), ``pypi:NAME==VERSION`` ones by pip (``pip download``, a pure-Python wheel only):
package registries are reached through their package managers.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import sys
import zipfile
from pathlib import Path

from wasmbuild.cache.digests import DigestMemo, file_sha256, plain
from wasmbuild.dirs import download_dir
from wasmbuild.errors import BuildError, ToolchainError
from wasmbuild.fsutil import atomic_writer
from wasmbuild.load.packages import Pin, download_name, npm_package, pypi_package


def _pin(pin: str | Pin) -> Pin:
    return Pin("sha256", pin) if isinstance(pin, str) else pin


def npm_pack(name: str, version: str, sha256: str | Pin, timeout: float = 300.0) -> Path:
    """An npm package's tarball, fetched by ``npm pack`` (the package manager, with the user's npm
    configuration: registry mirrors, proxies, credentials in ~/.npmrc), checked against its pin
    (a hex sha256 or an SRI integrity) and kept in the download cache."""
    return npm_pack_many([(name, version, _pin(sha256))], timeout)[0]


#: Specs per `npm pack` call, and calls at once: one npm process costs about a second to start,
#: and it fetches its specs one after another.
NPM_BATCH, NPM_JOBS = 24, 4


def npm_pack_many(packages: list[tuple[str, str, Pin]], timeout: float = 300.0) -> list[Path]:
    """The tarballs of ``packages`` (name, version, pin), fetched by ``npm pack`` a batch of
    specs per call, a few calls at once; each checked against its pin and kept in the cache."""
    from concurrent.futures import ThreadPoolExecutor

    batches = [packages[i:i + NPM_BATCH] for i in range(0, len(packages), NPM_BATCH)]
    with ThreadPoolExecutor(max_workers=NPM_JOBS) as pool:
        done = list(pool.map(lambda batch: _npm_pack_batch(batch, timeout), batches))
    return [path for paths in done for path in paths]


def _npm_pack_batch(packages: list[tuple[str, str, Pin]], timeout: float) -> list[Path]:
    import subprocess
    import tempfile

    specs = [f"{name}@{version}" for name, version, _ in packages]
    first = packages[0][2].shown[:16]
    # the user's PATH, then the environment wasmbuild runs from (`pip install 'wasmbuild[node]'`)
    npm = shutil.which("npm") or shutil.which("npm", path=os.path.dirname(sys.executable))
    if npm is None:
        raise ToolchainError(f"npm:{specs[0]} needs the npm client, which is not on PATH",
                             hint="install Node.js and npm (Debian: apt-get install npm; or pip install "
                                  "'wasmbuild[node]'), or seed the file "
                                  f"with `wasmbuild fetch --add FILE` ({first}...)")
    shown = specs[0] if len(specs) == 1 else f"{specs[0]} (and {len(specs) - 1} more)"
    with tempfile.TemporaryDirectory(prefix="wasmbuild-npm-") as tmp:
        try:
            # --loglevel=error, not --silent: npm's reason for a failure is on stderr
            proc = subprocess.run([npm, "pack", "--loglevel=error", "--pack-destination", tmp, *specs],
                                  cwd=tmp, capture_output=True, text=True, timeout=timeout, check=False)
        except subprocess.TimeoutExpired:
            raise BuildError(f"npm pack {shown} took more than {timeout:.0f} s",
                             hint="check the npm registry configuration (npm config get registry)") from None
        names = [download_name(f"npm:{spec}") for spec in specs]
        if proc.returncode != 0 or not all((Path(tmp) / n).is_file() for n in names):
            spec, reason = _npm_failure(proc.stderr, specs)
            raise BuildError(f"npm pack {spec or shown} failed: {reason}",
                             hint=f"offline? seed the file with `wasmbuild fetch --add FILE` ({first}...)")
        kept = []
        for (name, version, pin), file in zip(packages, names, strict=True):
            packed = Path(tmp) / file
            got = Pin(pin.algorithm, pin.of_file(packed))
            if got != pin:
                pinned = "the Wasmfile pins" if pin.algorithm == "sha256" else "the pinned integrity is"
                raise BuildError(f"npm package {name}@{version} has {pin.algorithm} {got.shown}, {pinned} {pin.shown}",
                                 hint="a changed or tampered package: check the name, version and pin (a lockfile's "
                                      "`integrity`, or the Wasmfile's `sha256`); update it only if the file is trusted")
            kept.append(download_dir() / add(packed, pin=pin))
        return kept


def _npm_failure(stderr: str, specs: list[str]) -> tuple[str | None, str]:
    """The spec npm failed on (when its error names one) and its most telling error line."""
    lines = [line.strip() for line in stderr.splitlines() if line.strip()]
    telling = [line for line in lines if not re.match(r"npm (error|ERR!) (code \w+|\d+)?$", line)
               and "complete log of this run" not in line]
    for line in telling:
        for spec in specs:
            if spec in line:
                return spec, line
    return None, (telling or lines or ["no output"])[0 if telling else -1]


# pip picks among a release's files the ones these tags allow: only a pure-Python wheel
# (py3-none-any, py2.py3-none-any, py312-none-any...), never an sdist (which would run code to
# build) nor a platform wheel (native code, which cannot run on WASI).
PURE_WHEEL = ("--only-binary=:all:", "--platform", "any", "--implementation", "py", "--abi", "none",
              "--python-version", "3.12")


def pip_download(name: str, version: str, sha256: str | Pin, timeout: float = 300.0) -> Path:
    """A PyPI package's pure-Python wheel, fetched by pip (the package manager, with the user's
    pip configuration: index, mirrors, proxies, credentials), checked against ``sha256`` (a hex
    digest, or a :class:`Pin` accepting any of several) and kept in the download cache under
    its own sha256."""
    import subprocess
    import sys
    import tempfile

    pin = _pin(sha256)
    sha256 = pin.hex
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
        if not pin.accepts(got):
            pinned = f"the pinned {sha256}" if not pin.others else \
                f"any of the {len(pin.candidates)} pinned ({', '.join(pin.candidates)})"
            raise BuildError(f"PyPI package {spec} has sha256 {got}, not {pinned}",
                             hint="check the package and version, or update the hash (in the Wasmfile or the "
                                  "requirements file) if the new wheel is trusted")
        return download_dir() / add(wheels[0], got)


def _network_trouble(stderr: str) -> bool:
    """pip could not reach its index (it then also says no distribution matched)."""
    return any(s in stderr for s in ("Retrying (", "NewConnectionError", "ConnectionError", "ProxyError",
                                     "Max retries exceeded", "Temporary failure in name resolution"))


def cached(pin: str | Pin, memo: DigestMemo | None = None) -> Path | None:
    """The cached download pinned by ``pin`` (a hex sha256 or a :class:`Pin`), or None (a
    corrupt one is dropped)."""
    pin = _pin(pin)
    for digest in pin.candidates:
        path = download_dir() / (Pin(pin.algorithm, digest).cache_name)
        if not path.is_file():
            continue
        # Several digests are a PyPI release's files: only a wheel (a zip) is what the stage
        # takes, not its source archive seeded by `fetch --add`.
        if pin.others and not zipfile.is_zipfile(path):
            continue
        if (memo or plain()).file_digest(path, pin.algorithm) == digest:
            return path
        path.unlink()  # corrupt: drop it and fetch again
    return None


def resolved(url: str, pin: Pin, memo: DigestMemo | None = None) -> Pin:
    """The exact pin of the file a download input stands for: ``pin`` itself, or of several
    accepted digests the one of the file pip chose (from the cache, else fetched once), which the
    SBOM records."""
    if not pin.others:
        return pin
    path = cached(pin, memo) or fetch(url, pin, memo)
    return Pin(pin.algorithm, path.name)


def add(path: Path, digest: str | None = None, pin: Pin | None = None) -> str:
    """Copy ``path`` into the download cache; returns its name there: its sha256 (``digest``:
    already known), or the cache name of ``pin`` (already checked)."""
    name = pin.cache_name if pin is not None else digest or file_sha256(path)
    dest = download_dir() / name
    if not dest.is_file():
        with open(path, "rb") as src, atomic_writer(dest) as out:
            shutil.copyfileobj(src, out, 1 << 20)
    return name


def seed(path: Path) -> dict[str, str]:
    """``wasmbuild fetch --add``: put ``path`` into the download cache by its sha256 and, for an
    npm tarball (``.tgz``), under its sha512 too (a hard link), which an `integrity:` pin (a
    package-lock.json's) finds. Returns the digests: ``sha256`` and maybe ``integrity``."""
    import os

    found = {"sha256": add(path)}
    if path.name.endswith(".tgz"):
        pin = Pin.of(path, "sha512")
        alias = download_dir() / pin.cache_name
        if not alias.is_file():
            try:
                os.link(download_dir() / found["sha256"], alias)
            except OSError:  # another file system (WASMBUILD_DOWNLOADS), or no hard links
                add(path, pin=pin)
        found["integrity"] = pin.shown
    return found


def prefetch(downloads: list[tuple[str, Pin]]) -> None:
    """Fetch the npm packages among ``downloads`` (url, pin) not in the cache yet, many per npm
    call (a lockfile's hundred packages would cost a minute one `npm pack` at a time)."""
    wanted = {(p[0], p[1], pin) for url, pin in downloads
              if (p := npm_package(url)) is not None and cached(pin) is None}
    if len(wanted) > 1:
        npm_pack_many(sorted(wanted, key=lambda w: (w[0], w[1])))


def fetch(url: str, pin: str | Pin, memo: DigestMemo | None = None, timeout: float = 60.0,
          purl: str | None = None) -> Path:
    """The file at ``url`` whose content matches ``pin`` (a hex sha256 or a :class:`Pin`), from
    the cache or downloaded once (``npm:NAME@VERSION``: by the npm client, see :func:`npm_pack`;
    ``pypi:NAME==VERSION``: by pip, see :func:`pip_download`; an http(s) URL: sha256 only).
    ``purl``: the package the file is, named by its errors."""
    pin = _pin(pin)
    hit = cached(pin, memo)
    if hit is not None:
        return hit
    if (package := npm_package(url)) is not None:
        return npm_pack(*package, pin, timeout=max(timeout, 300.0))
    assert pin.algorithm == "sha256", "the model allows `integrity` for npm packages only"
    if (wheel := pypi_package(url)) is not None:
        return pip_download(*wheel, pin, timeout=max(timeout, 300.0))
    assert not pin.others, "the model allows several sha256 for pypi: inputs only"
    sha256 = pin.hex
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
