"""Layer compression: ``gzip[:LEVEL]`` or ``zstd[:LEVEL]``, bit-reproducible on any machine.

A layer's digest is the sha256 of its compressed bytes, so the compressor is part of the
image's identity. Python's own ``zlib`` links whatever zlib the system has (zlib-ng-compat on
Fedora 40+, Apple's on macOS, Chromium's or Cloudflare's forks elsewhere), and each writes
different deflate bytes for the same input. So wasmbuild pins its compressors as wheels that
carry their own C library (see benchmarks/compression.md for the measurements and sources):

* **gzip** (the default media type, pulled by every runtime): raw deflate from ``zlib-ng``'s
  wheel (``zlib_ng``, zlib-ng 2.3.3 linked in statically). Its API is zlib's, so the
  segmented scheme of :mod:`wasmbuild.assemble.gzchunks` (a 32 KiB dictionary + sync flush per
  segment) works unchanged; its output was checked identical on x86-64 CPUs from SSE2 to
  AVX-512 (the SIMD paths it dispatches to at run time).
* **zstd** (``application/vnd.oci.image.layer.v1.tar+zstd``): the ``zstandard`` wheel (zstd
  1.5.7 bundled), always in multi-threaded framing with at least one worker: zstd documents
  that output as the same for every worker count (facebook/zstd#2238, fixed for one-shot input
  in #2327), whereas ``threads=0`` writes different bytes. No content size, checksum or
  dictionary id in the frame header: they would only vary with how the data was fed.

Reading uses zlib-ng's inflate for gzip (inflate is fully specified: any correct one gives the
same bytes; zlib-ng's is twice as fast as the standard library's) and ``zstandard``.
"""

from __future__ import annotations

import hashlib
import io
import os
import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, BinaryIO, Protocol

from ..errors import ConfigError, StoreError, ToolchainError

MEDIA_LAYER_GZIP = "application/vnd.oci.image.layer.v1.tar+gzip"
MEDIA_LAYER_ZSTD = "application/vnd.oci.image.layer.v1.tar+zstd"
MEDIA_LAYER_TAR = "application/vnd.oci.image.layer.v1.tar"
# Docker's own spelling, in images pulled from Docker-built registries
MEDIA_DOCKER_GZIP = "application/vnd.docker.image.rootfs.diff.tar.gzip"

#: Defaults chosen from benchmarks/compression.md (size vs time vs buildah's output).
DEFAULT_LEVEL = {"gzip": 6, "zstd": 19}
LEVELS = {"gzip": range(1, 10), "zstd": range(1, 20)}

#: The compressed bytes change when these do; they are part of the layer memo's key.
ZLIB_NG_WHEEL = "1.1.0"
ZSTANDARD_WHEEL = "0.25.0"


@dataclass(frozen=True)
class Compression:
    """How layer blobs are compressed: ``codec`` is ``gzip`` or ``zstd``."""

    codec: str = "gzip"
    level: int = DEFAULT_LEVEL["gzip"]

    @property
    def media_type(self) -> str:
        return MEDIA_LAYER_GZIP if self.codec == "gzip" else MEDIA_LAYER_ZSTD

    @property
    def key(self) -> str:
        """Names the exact bytes this setting produces (codec, level and C library version).

        The C library's own version, not the wheel's: a conda or source build of the binding
        may link another zlib-ng, whose bytes must not be mistaken for the pinned one's.
        """
        if self.codec == "gzip":
            lib = f"zlib-ng{_zlib_ng().ZLIBNG_RUNTIME_VERSION}"
        else:
            lib = "zstd" + ".".join(map(str, _zstandard().ZSTD_VERSION))
        return f"{self.codec}:{self.level}:{lib}"

    def __str__(self) -> str:
        return f"{self.codec}:{self.level}"


def parse(text: str, where: str = "--compression") -> Compression:
    """``gzip``, ``gzip:9``, ``zstd``, ``zstd:19`` -> :class:`Compression` (ConfigError if not)."""
    m = re.fullmatch(r"(gzip|zstd)(?::(\d+))?", text.strip().lower())
    if m is None:
        raise ConfigError(f"unknown compression {text!r}", where=where,
                          hint="use gzip[:1-9] or zstd[:1-19], e.g. gzip:6 or zstd:19")
    codec = m.group(1)
    level = int(m.group(2)) if m.group(2) else DEFAULT_LEVEL[codec]
    if level not in LEVELS[codec]:
        lo, hi = LEVELS[codec][0], LEVELS[codec][-1]
        raise ConfigError(f"{codec} level {level} is out of range", where=where,
                          hint=f"{codec} levels are {lo} to {hi}")
    return Compression(codec, level)


def _missing(wheel: str, exc: ImportError) -> ToolchainError:
    return ToolchainError(f"the {wheel} wheel is not installed ({exc})",
                          hint=f"pip install '{wheel}' (a dependency of wasmbuild)")


def _zlib_ng() -> Any:
    try:
        from zlib_ng import zlib_ng
    except ImportError as exc:
        raise _missing(f"zlib-ng=={ZLIB_NG_WHEEL}", exc) from None
    return zlib_ng


def _zlib_ng_gzip() -> Any:
    try:
        from zlib_ng import gzip_ng
    except ImportError as exc:
        raise _missing(f"zlib-ng=={ZLIB_NG_WHEEL}", exc) from None
    return gzip_ng


def _zstandard() -> Any:
    try:
        import zstandard
    except ImportError as exc:
        raise _missing(f"zstandard=={ZSTANDARD_WHEEL}", exc) from None
    return zstandard


def deflate_segment(data: bytes, zdict: bytes, level: int) -> bytes:
    """Raw deflate of ``data`` primed with ``zdict``, ending on a byte boundary (sync flush).

    zlib-ng, not the system zlib: see the module docstring. The GIL is released while it runs.
    """
    zn = _zlib_ng()
    if zdict:
        co = zn.compressobj(level, zn.DEFLATED, -15, 8, zn.Z_DEFAULT_STRATEGY, zdict)
    else:
        co = zn.compressobj(level, zn.DEFLATED, -15, 8, zn.Z_DEFAULT_STRATEGY)
    return bytes(co.compress(data) + co.flush(zn.Z_SYNC_FLUSH))


class LayerWriter(Protocol):
    """A write-only file for ``tarfile`` (mode ``w``) that writes a compressed layer blob."""

    @property
    def size(self) -> int: ...
    def write(self, data: bytes) -> int: ...
    def tell(self) -> int: ...
    def flush(self) -> None: ...
    def cut(self) -> None: ...
    def close(self) -> None: ...
    @property
    def digest(self) -> str: ...
    @property
    def diff_id(self) -> str: ...


class _Sink(io.RawIOBase):
    """Counts and hashes what the compressor writes to ``out``."""

    def __init__(self, out: IO[bytes]):
        self.out = out
        self.sha = hashlib.sha256()
        self.size = 0

    def writable(self) -> bool:
        return True

    def write(self, data: Any) -> int:
        view = memoryview(data)
        self.out.write(view)
        self.sha.update(view)
        self.size += len(view)
        return len(view)


class ZstdWriter:
    """One zstd frame, in zstd's multi-threaded framing (same bytes for any worker count)."""

    def __init__(self, out: IO[bytes], level: int, workers: int | None = None):
        zstd = _zstandard()
        self.sink = _Sink(out)
        self.plain_sha = hashlib.sha256()
        self.pos = 0
        threads = max(1, workers or min(os.cpu_count() or 1, 8))
        cctx = zstd.ZstdCompressor(level=level, threads=threads, write_checksum=False,
                                   write_content_size=False, write_dict_id=False)
        self.stream = cctx.stream_writer(self.sink, closefd=False)

    def write(self, data: bytes) -> int:
        self.plain_sha.update(data)
        self.pos += len(data)
        self.stream.write(data)
        return len(data)

    def tell(self) -> int:
        return self.pos

    def flush(self) -> None:
        pass  # a zstd FLUSH_BLOCK would change the bytes with the caller's write pattern

    def cut(self) -> None:
        pass

    def close(self) -> None:
        self.stream.close()

    @property
    def size(self) -> int:
        return self.sink.size

    @property
    def digest(self) -> str:
        return "sha256:" + self.sink.sha.hexdigest()

    @property
    def diff_id(self) -> str:
        return "sha256:" + self.plain_sha.hexdigest()


def compress_bytes(data: bytes, compression: Compression) -> bytes:
    """The whole blob for ``data`` (what a layer writer produces for one segment-free write)."""
    buf = io.BytesIO()
    if compression.codec == "zstd":
        zw = ZstdWriter(buf, compression.level, workers=1)
        zw.write(data)
        zw.close()
    else:
        from ..oci.gzchunks import ChunkedGzipWriter

        gw = ChunkedGzipWriter(buf, compression.level, workers=1)
        gw.write(data)
        gw.close()
    return buf.getvalue()


@contextmanager
def open_layer(path: Path, media_type: str) -> Iterator[BinaryIO]:
    """The uncompressed tar stream of a layer blob (for ``tarfile.open(mode="r|")``)."""
    with open(path, "rb") as raw:
        if media_type in (MEDIA_LAYER_GZIP, MEDIA_DOCKER_GZIP):
            # zlib-ng's inflate: twice the standard library's speed (a first `run` unpacks the
            # layer), and the same bytes out, as inflate is fully specified.
            with _zlib_ng_gzip().GzipNGFile(fileobj=raw, mode="rb") as gz:
                yield gz
        elif media_type == MEDIA_LAYER_ZSTD:
            reader = _zstandard().ZstdDecompressor().stream_reader(raw, read_across_frames=True,
                                                                   closefd=False)
            with reader:
                yield reader
        elif media_type in (MEDIA_LAYER_TAR, "application/vnd.docker.image.rootfs.diff.tar"):
            yield raw
        else:
            raise StoreError(f"unsupported layer media type {media_type!r} in {path.name}",
                             hint="wasmbuild reads tar, tar+gzip and tar+zstd layers")


def decompress_errors() -> tuple[type[BaseException], ...]:
    """What reading a damaged layer raises, besides ``OSError``/``EOFError``: every codec's own
    error (zlib-ng's is not ``zlib.error``)."""
    import zlib

    return (zlib.error, _zlib_ng().error, _zstandard().ZstdError)


def unpack_layers(layout: Any, manifest: dict[str, Any], apply: Any) -> None:
    """Call ``apply(tar)`` with each tar layer of ``manifest`` (in ``layout``) opened as a tar
    stream, whatever its compression; a runwasi image's raw Wasm layer is skipped (it is the
    module, not files). A missing layer is :class:`ImageNotFound`, a damaged one one
    :class:`StoreError` line."""
    import tarfile

    from ..errors import ImageNotFound
    from ..oci.targets import is_tar_layer

    damaged: tuple[type[BaseException], ...] = (tarfile.TarError, OSError, EOFError, *decompress_errors())
    for layer in manifest.get("layers") or []:
        if not is_tar_layer(layer["mediaType"]):
            continue
        blob = layout.blob_path(layer["digest"])
        if not blob.is_file():
            raise ImageNotFound(f"layer {layer['digest']} is missing from {layout.path}")
        try:
            with open_layer(blob, layer["mediaType"]) as fh, tarfile.open(fileobj=fh, mode="r|") as tar:
                apply(tar)
        except damaged as exc:
            first = (str(exc).strip().splitlines() or [type(exc).__name__])[0].rstrip(":")
            raise StoreError(f"layer {layer['digest']} in {layout.path} cannot be unpacked: {first}",
                             hint="pull or build the image again") from None


def diff_id_of(path: Path, media_type: str) -> str:
    """sha256 of the layer's uncompressed tar (what the image config's ``diff_ids`` lists)."""
    h = hashlib.sha256()
    with open_layer(path, media_type) as fh:
        while chunk := fh.read(1 << 20):
            h.update(chunk)
    return "sha256:" + h.hexdigest()
