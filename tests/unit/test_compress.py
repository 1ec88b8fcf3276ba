"""Layer compression: pinned bytes (golden digests), stdlib-readable blobs, zstd determinism."""

from __future__ import annotations

import gzip
import hashlib
import io
import os
import tarfile
from pathlib import Path

import pytest
import zstandard

from wasmbuild.assemble import compress
from wasmbuild.assemble.compress import (
    MEDIA_LAYER_GZIP,
    MEDIA_LAYER_ZSTD,
    Compression,
    ZstdWriter,
    diff_id_of,
    open_layer,
    parse,
)
from wasmbuild.assemble.layer import collect, write_layer
from wasmbuild.errors import ConfigError, WasmbuildError
from wasmbuild.oci.layout import Layout

# The blob digests of the fixed layer below. They change only when the compressor's bytes do
# (another zlib-ng or zstd, another level, another tar): that must be a deliberate decision.
GOLDEN = {
    "gzip:6": "sha256:d9b6dccee8c339f704a902b3bc99933501fe12343da4952ada1c8e55162ccd3f",
    "gzip:9": "sha256:5125818ee7b079d853fbe5b201f1e7f847e93664ffb1103037f7dfa36a9c3139",
    "zstd:19": "sha256:285434e14703e751cbf98b20f379367888071e614da434ae0931693db7f7c7e9",
    "zstd:3": "sha256:6d6bd54ea196a15740a0fbce21d24dd636fb20b6f0d85cc63a40c6facf5940b2",
}


def _fixed_tree(root: Path) -> list[tuple[str, Path, int | None]]:
    """~3 MB of text and pseudo-random bytes: several 1 MiB segments, every one reproducible."""
    root.mkdir(parents=True, exist_ok=True)
    (root / "app.wasm").write_bytes(b"\0asm\x01\0\0\0" + hashlib.shake_256(b"app").digest(1 << 20))
    lib = root / "lib"
    lib.mkdir()
    for i in range(300):
        (lib / f"mod{i:03}.py").write_text(f"# module {i}\n" + f"def f{i}(x):\n    return x * {i}\n" * (i % 40))
    (root / "big.txt").write_text("".join(f"line {i} of a big text file\n" for i in range(60000)))
    return [("/app.wasm", root / "app.wasm", 0o755), ("/usr/lib/py", lib, None),
            ("/big.txt", root / "big.txt", 0o644)]


def _layer(tmp: Path, comp: Compression, name: str = "layout") -> tuple[Path, str, str, str]:
    layout = Layout(tmp / name).init()
    desc, diff_id = write_layer(collect(_fixed_tree(tmp / f"src-{name}")), 0, layout, comp)
    return layout.blob_path(desc.digest), desc.digest, diff_id, desc.media_type


@pytest.mark.parametrize("setting", sorted(GOLDEN))
def test_pinned_compressor_gives_the_golden_digest(tmp_path: Path, setting: str) -> None:
    _, digest, _, _ = _layer(tmp_path, parse(setting))
    assert digest == GOLDEN[setting], f"{setting}: the layer bytes changed"


def test_the_default_is_gzip_6_from_the_pinned_zlib_ng() -> None:
    from zlib_ng import zlib_ng

    assert parse("gzip") == Compression() == Compression("gzip", 6)
    assert parse("zstd") == Compression("zstd", 19)
    assert zlib_ng.ZLIBNG_RUNTIME_VERSION == "2.3.3"  # the wheel's bundled copy (pyproject pin)
    assert zstandard.ZSTD_VERSION == (1, 5, 7)


@pytest.mark.parametrize("setting", ["gzip:1", "gzip:6", "zstd:3", "zstd:19"])
def test_every_layer_decompresses_with_the_standard_readers_to_its_diff_id(
        tmp_path: Path, setting: str) -> None:
    blob, digest, diff_id, media_type = _layer(tmp_path, parse(setting))
    raw = blob.read_bytes()
    assert "sha256:" + hashlib.sha256(raw).hexdigest() == digest
    if media_type == MEDIA_LAYER_GZIP:
        plain = gzip.decompress(raw)  # the standard library, not zlib-ng
    else:
        assert media_type == MEDIA_LAYER_ZSTD
        plain = zstandard.ZstdDecompressor().stream_reader(io.BytesIO(raw)).read()
    assert "sha256:" + hashlib.sha256(plain).hexdigest() == diff_id
    with tarfile.open(fileobj=io.BytesIO(plain)) as tar:
        names = tar.getnames()
    assert "app.wasm" in names and "usr/lib/py/mod299.py" in names
    assert diff_id_of(blob, media_type) == diff_id


def test_zstd_frame_has_no_content_size_checksum_or_dict_id(tmp_path: Path) -> None:
    blob, _, _, _ = _layer(tmp_path, parse("zstd:3"))
    params = zstandard.get_frame_parameters(blob.read_bytes())
    assert (params.content_size, params.has_checksum, params.dict_id) == (
        zstandard.CONTENTSIZE_UNKNOWN, False, 0)


@pytest.mark.parametrize(("level", "size"), [(3, 24 << 20), (19, 1 << 20)])
def test_zstd_bytes_are_the_same_for_every_run_and_worker_count(level: int, size: int) -> None:
    # 24 MB at level 3 is several of zstd's 8 MB jobs: workers really split it
    block = b"".join(hashlib.sha256(b"%d" % (i // 7)).digest() for i in range(1 << 15))
    data = (block * (size // len(block) + 1))[:size]
    outs = set()
    for workers in (1, 2, 4, 1):
        buf = io.BytesIO()
        zw = ZstdWriter(buf, level, workers=workers)
        for i in range(0, len(data), 10240 + workers):  # feed pattern varies too
            zw.write(data[i:i + 10240 + workers])
        zw.close()
        outs.add(buf.getvalue())
    assert len(outs) == 1


def test_gzip_bytes_do_not_depend_on_worker_count() -> None:
    from wasmbuild.assemble.gzchunks import ChunkedGzipWriter

    data = os.urandom(1 << 20) * 3
    outs = set()
    for workers in (1, 2, 3):
        buf = io.BytesIO()
        gw = ChunkedGzipWriter(buf, 6, workers=workers)
        gw.write(data)
        gw.close()
        outs.add(buf.getvalue())
    assert len(outs) == 1
    assert gzip.decompress(outs.pop()) == data


@pytest.mark.parametrize(("text", "message"), [
    ("gzip:0", "gzip level 0 is out of range"),
    ("zstd:20", "zstd level 20 is out of range"),
    ("brotli", "unknown compression 'brotli'"),
    ("gzip:", "unknown compression"),
])
def test_bad_compression_settings_are_config_errors(text: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        parse(text)


def test_unknown_layer_media_type_is_a_clear_error(tmp_path: Path) -> None:
    blob = tmp_path / "blob"
    blob.write_bytes(b"x")
    with pytest.raises(WasmbuildError, match=r"unsupported layer media type .*tar\+bzip2"), \
            open_layer(blob, "application/vnd.oci.image.layer.v1.tar+bzip2"):
        pass


def test_missing_wheel_names_the_pinned_package(monkeypatch: pytest.MonkeyPatch) -> None:
    import sys

    # A None entry in sys.modules is Python's own "this module is absent": import raises ImportError.
    monkeypatch.setitem(sys.modules, "zstandard", None)
    with pytest.raises(WasmbuildError, match=r"zstandard==0\.25\.0 wheel is not installed"):
        compress._zstandard()
