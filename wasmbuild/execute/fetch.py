"""Downloads pinned by sha256, kept in a content-addressed cache (so builds work offline).

``wasmbuild fetch --add FILE`` seeds the cache with a file obtained another way (for example the
CPython tarball from ``apt-get source``): a later build that names any URL with that sha256 uses
it without touching the network.
"""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path

from wasmbuild.cache.digests import DigestMemo, file_sha256, plain
from wasmbuild.dirs import download_dir
from wasmbuild.errors import BuildError
from wasmbuild.fsutil import atomic_writer


def cached(sha256: str, memo: DigestMemo | None = None) -> Path | None:
    """The cached download with content ``sha256``, or None (a corrupt one is dropped)."""
    path = download_dir() / sha256
    if path.is_file():
        if (memo or plain()).file_sha256(path) == sha256:
            return path
        path.unlink()  # corrupt: drop it and fetch again
    return None


def add(path: Path) -> str:
    """Copy ``path`` into the download cache; returns its sha256."""
    digest = file_sha256(path)
    dest = download_dir() / digest
    if not dest.is_file():
        with open(path, "rb") as src, atomic_writer(dest) as out:
            shutil.copyfileobj(src, out, 1 << 20)
    return digest


def fetch(url: str, sha256: str, memo: DigestMemo | None = None, timeout: float = 60.0) -> Path:
    """The file at ``url`` whose content has ``sha256``, from the cache or downloaded once."""
    hit = cached(sha256, memo)
    if hit is not None:
        return hit
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
