"""The segmented gzip layer: a valid gzip, deterministic, and incremental."""

from __future__ import annotations

import gzip
import hashlib
import io
import shutil
import subprocess
import tarfile
from pathlib import Path

from wasmbuild.assemble.compress import Compression
from wasmbuild.assemble.gzchunks import CHUNK, ChunkMemo
from wasmbuild.assemble.layer import collect, write_layer
from wasmbuild.oci.layout import Layout


def _tree(root: Path, big: int = 3 * CHUNK + 123) -> list[tuple[str, Path, int | None]]:
    root.mkdir(parents=True, exist_ok=True)
    rnd = hashlib.sha256(b"seed").digest()
    data = bytearray()
    while len(data) < big:  # compressible but not trivial
        rnd = hashlib.sha256(rnd).digest()
        data += rnd[:8] * 4 + b"wasm module text section " * 2
    (root / "app.wasm").write_bytes(bytes(data[:big]))
    lib = root / "lib"
    lib.mkdir(exist_ok=True)
    for i in range(200):
        (lib / f"mod{i:03}.py").write_text(f"# module {i}\n" + "def f(x):\n    return x\n" * i)
    (root / "main.py").write_text("print('hello')\n")
    return [("/app.wasm", root / "app.wasm", None), ("/usr/lib/python", lib, None),
            ("/main.py", root / "main.py", None)]


def _write(tmp: Path, files: list[tuple[str, Path, int | None]], workers: int | None = None,
           memo: ChunkMemo | None = None, layout: Layout | None = None) -> tuple[Path, str, str]:
    layout = layout or Layout(tmp / "layout").init()
    desc, diff_id = write_layer(collect(files), 0, layout, Compression("gzip", 9), memo, workers=workers)
    return layout.blob_path(desc.digest), desc.digest, diff_id


def test_layer_is_one_valid_gzip_of_the_exact_tar(tmp_path: Path) -> None:
    files = _tree(tmp_path / "src")
    blob, digest, diff_id = _write(tmp_path, files)
    raw = blob.read_bytes()
    assert "sha256:" + hashlib.sha256(raw).hexdigest() == digest
    plain = gzip.decompress(raw)
    assert "sha256:" + hashlib.sha256(plain).hexdigest() == diff_id
    with gzip.GzipFile(fileobj=io.BytesIO(raw)) as gz:  # a single member: read in one go
        assert gz.read() == plain
    with tarfile.open(fileobj=io.BytesIO(plain)) as tar:
        names = tar.getnames()
        assert tar.extractfile("app.wasm").read() == (tmp_path / "src" / "app.wasm").read_bytes()  # type: ignore[union-attr]
    assert names[:3] == ["app.wasm", "main.py", "usr"] and len(names) == 205
    if shutil.which("gzip"):
        assert subprocess.run(["gzip", "-t", str(blob)]).returncode == 0


def test_same_bytes_whatever_the_thread_count_and_the_memo(tmp_path: Path) -> None:
    files = _tree(tmp_path / "src")
    one = _write(tmp_path / "a", files, workers=1)
    four = _write(tmp_path / "b", files, workers=4)
    layout = Layout(tmp_path / "c").init()
    memo = ChunkMemo(tmp_path / "memo.json", layout.path / "blobs" / "sha256")
    _write(tmp_path / "c", files, memo=memo, layout=layout)
    memo2 = ChunkMemo(tmp_path / "memo.json", layout.path / "blobs" / "sha256")
    memoised = _write(tmp_path / "c", files, memo=memo2, layout=layout)
    assert one[1:] == four[1:] == memoised[1:]


def test_changing_one_small_file_recompresses_little(tmp_path: Path) -> None:
    files = _tree(tmp_path / "src")
    layout = Layout(tmp_path / "layout").init()
    memo_path = tmp_path / "memo.json"
    blobs = layout.path / "blobs" / "sha256"
    _write(tmp_path, files, memo=ChunkMemo(memo_path, blobs), layout=layout)

    (tmp_path / "src" / "lib" / "mod100.py").write_text("# changed\n")
    memo = ChunkMemo(memo_path, blobs)
    _, digest, diff_id = _write(tmp_path, files, memo=memo, layout=layout)
    total = sum(p.stat().st_size for _, p, _ in files if p.is_file()) + sum(
        p.stat().st_size for p in (tmp_path / "src" / "lib").iterdir())
    calls = memo.compressed  # the segments that were compressed again (not from the memo)
    assert 0 < len(calls) <= 3 and sum(calls) < total / 10, calls
    # and the result is exactly what a from-scratch write gives
    fresh = _write(tmp_path / "fresh", files)
    assert (digest, diff_id) == fresh[1:]


def test_a_damaged_memo_or_blob_is_not_trusted(tmp_path: Path) -> None:
    files = _tree(tmp_path / "src", big=CHUNK + 5)
    layout = Layout(tmp_path / "layout").init()
    blobs = layout.path / "blobs" / "sha256"
    blob, _, _ = _write(tmp_path, files, memo=ChunkMemo(tmp_path / "m.json", blobs),
                        layout=layout)
    data = bytearray(blob.read_bytes())
    data[100] ^= 0xFF  # the old layer blob is corrupted on disk
    blob.chmod(0o644)
    blob.write_bytes(bytes(data))
    (tmp_path / "src" / "main.py").write_text("print('new')\n")
    _, new_digest, _ = _write(tmp_path, files, memo=ChunkMemo(tmp_path / "m.json", blobs),
                              layout=layout)
    assert new_digest == _write(tmp_path / "fresh", files)[1]
    (tmp_path / "m.json").write_text("not json")
    assert ChunkMemo(tmp_path / "m.json", blobs).lookup("x") is None
