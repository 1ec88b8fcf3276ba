"""Gem files made here (a .gem is a tar of metadata.gz, data.tar.gz and checksums.yaml.gz), a gem
source serving them from this machine, and Gemfile.lock text naming them with their checksums."""

from __future__ import annotations

import functools
import gzip
import hashlib
import http.server
import io
import tarfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


def _tar(files: dict[str, bytes], compress: bool) -> bytes:
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w:gz" if compress else "w", format=tarfile.USTAR_FORMAT) as tar:
        for name, data in sorted(files.items()):
            info = tarfile.TarInfo(name)
            info.size, info.mode, info.mtime = len(data), 0o644, 0
            tar.addfile(info, io.BytesIO(data))
    return raw.getvalue()


def make_gem(folder: Path, name: str, version: str, files: dict[str, str], extensions: tuple[str, ...] = (),
             require_paths: tuple[str, ...] = ("lib",)) -> str:
    """``folder/gems/NAME-VERSION.gem`` with ``files`` (paths in the gem) and the gemspec YAML;
    returns its sha256."""
    ext = "extensions:\n" + "".join(f"- {e}\n" for e in extensions) if extensions else "extensions: []\n"
    spec = (f"--- !ruby/object:Gem::Specification\nname: {name}\nversion: !ruby/object:Gem::Version\n"
            f"  version: {version}\nplatform: ruby\n{ext}require_paths:\n"
            + "".join(f"- {p}\n" for p in require_paths) + "rubygems_version: 3.6.2\n")
    data = _tar({k: v.encode() for k, v in files.items()}, compress=True)
    metadata = gzip.compress(spec.encode(), mtime=0)
    sums = gzip.compress(b"---\nSHA256:\n", mtime=0)
    gem = _tar({"metadata.gz": metadata, "data.tar.gz": data, "checksums.yaml.gz": sums}, compress=False)
    (folder / "gems").mkdir(parents=True, exist_ok=True)
    (folder / "gems" / f"{name}-{version}.gem").write_bytes(gem)
    return hashlib.sha256(gem).hexdigest()


def lockfile(remote: str, gems: dict[tuple[str, str], str | None]) -> str:
    """A Bundler 2.6 Gemfile.lock: one GEM section at ``remote``, CHECKSUMS for the gems that
    have one (None: left out)."""
    specs = "".join(f"    {n} ({v})\n" for n, v in sorted(gems))
    sums = "".join(f"  {n} ({v}) sha256={s}\n" for (n, v), s in sorted(gems.items()) if s)
    deps = "".join(f"  {n}\n" for n, _ in sorted(gems))
    return (f"GEM\n  remote: {remote}\n  specs:\n{specs}\nPLATFORMS\n  ruby\n\nDEPENDENCIES\n{deps}\n"
            f"CHECKSUMS\n{sums}\nBUNDLED WITH\n   2.6.2\n")


@contextmanager
def gem_source(folder: Path) -> Iterator[str]:
    """An HTTP gem source serving ``folder`` (``/gems/NAME-VERSION.gem``); yields its URL."""
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(folder))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_port}/"
    finally:
        server.shutdown()
        server.server_close()
