"""A gzip layer compressed in parallel segments, the unchanged ones reused (pigz's scheme).

The layer blob is one ordinary gzip member whose deflate stream is a series of independently
compressed segments: each covers at most ``CHUNK`` bytes of the tar stream, is primed with the
32 KiB before it (``zdict``, so back-references across a cut stay valid and the ratio is kept),
and ends on a byte boundary with an empty stored block (``Z_SYNC_FLUSH``); a final empty block
and the CRC/size trailer close the member. Any gzip reader reads it: this is what ``pigz``
writes. That gives:

* **parallel compression**: zlib-ng releases the GIL, so segments compress on every core
  (deflating a 25 MB CPython module is otherwise the slowest part of assembling);
* **incremental assembly**: a segment whose input bytes and dictionary are unchanged is copied
  from the previous layer blob instead of being compressed again, so changing one small file
  recompresses one or two segments, not the whole layer.

Cuts are placed by content (every ``CHUNK`` bytes, around large files, and before about one
entry in 16 chosen by a hash of its path), never by the machine: the bytes depend only on the
input, ``level`` and the pinned deflate (zlib-ng's wheel, see :mod:`wasmbuild.assemble.compress`),
not on the CPU, the thread count or on what was memoised.
"""

from __future__ import annotations

import collections
import concurrent.futures as cf
import contextlib
import hashlib
import json
import os
import struct
import zlib
from pathlib import Path
from typing import IO

from wasmbuild.assemble.compress import deflate_segment  # zlib-ng's wheel: bytes independent of the system
from wasmbuild.fsutil import atomic_write_bytes

CHUNK = 1 << 20  # uncompressed bytes per segment at most
WINDOW = 32 * 1024  # deflate's window: the dictionary carried across a cut
LARGE = 256 * 1024  # a file at least this big starts and ends segments of its own
MEMO_ENTRIES = 20000


# mtime 0, no name, XFL filled in per level, OS 255 ("unknown", as Python's gzip module writes)
def gzip_header(level: int) -> bytes:
    xfl = 2 if level == 9 else 4 if level == 1 else 0
    return b"\x1f\x8b\x08\x00\x00\x00\x00\x00" + bytes([xfl, 255])




#: The last deflate block: empty, final (what ``flush(Z_FINISH)`` gives with no input).
FINAL_BLOCK = b"\x03\x00"


class ChunkMemo:
    """segment key -> where that compressed segment sits in a blob of one layout (a JSON file)."""

    def __init__(self, path: Path, blob_dir: Path):
        self.path = path
        self.blob_dir = blob_dir
        try:
            self.old: dict[str, list[object]] = json.loads(path.read_bytes())
        except (OSError, ValueError):
            self.old = {}
        self.new: dict[str, list[object]] = {}
        #: Sizes of the segments that had to be compressed (the rest came from the memo).
        self.compressed: list[int] = []

    def lookup(self, key: str) -> bytes | None:
        row = self.old.get(key)
        if row is None:
            return None
        try:
            digest, offset, length, sha = str(row[0]), int(row[1]), int(row[2]), str(row[3])  # type: ignore[call-overload]
            with open(self.blob_dir / digest.split(":", 1)[1], "rb") as fh:
                fh.seek(offset)
                data = fh.read(length)
        except (OSError, ValueError, IndexError, TypeError):
            return None
        return data if len(data) == length and hashlib.sha256(data).hexdigest() == sha else None

    def record(self, key: str, offset: int, data: bytes) -> None:
        self.new[key] = ["", offset, len(data), hashlib.sha256(data).hexdigest()]

    def save(self, blob_digest: str) -> None:
        for row in self.new.values():
            row[0] = blob_digest
        merged = dict(self.new)
        for key, row in self.old.items():
            if len(merged) >= MEMO_ENTRIES:
                break
            merged.setdefault(key, row)
        with contextlib.suppress(OSError):  # only a lost speed-up
            atomic_write_bytes(self.path, json.dumps(merged, separators=(",", ":")).encode())


class ChunkedGzipWriter:
    """A write-only file for ``tarfile`` (mode ``w``) that writes one gzip member to ``out``.

    Call :meth:`cut` between tar entries where a segment may end; segments are also cut every
    ``CHUNK`` bytes. :meth:`close` finishes; ``plain_sha``/``sha``/``size`` describe the
    uncompressed and compressed streams.
    """

    def __init__(self, out: IO[bytes], level: int = 9, memo: ChunkMemo | None = None,
                 workers: int | None = None):
        self.out = out
        self.level = level
        self.memo = memo
        self.workers = max(1, workers or min(os.cpu_count() or 1, 8))
        self.pool = cf.ThreadPoolExecutor(self.workers) if self.workers > 1 else None
        self.buf = bytearray()
        self.tail = b""
        self.pos = 0
        self.crc = 0
        self.plain_sha = hashlib.sha256()
        self.sha = hashlib.sha256()
        self.size = 0
        self.reused = 0
        self.compressed = 0
        self.pending: collections.deque[tuple[str, cf.Future[bytes] | bytes]] = collections.deque()
        self._put(gzip_header(level))

    # the file object protocol tarfile uses
    def write(self, data: bytes) -> int:
        self.buf += data
        self.plain_sha.update(data)
        self.crc = zlib.crc32(data, self.crc)
        self.pos += len(data)
        while len(self.buf) >= CHUNK:
            self._emit(CHUNK)
        return len(data)

    def tell(self) -> int:
        return self.pos

    def flush(self) -> None:
        pass

    def cut(self) -> None:
        """End the current segment here (if it holds anything)."""
        if self.buf:
            self._emit(len(self.buf))

    def _emit(self, n: int) -> None:
        chunk = bytes(self.buf[:n])
        del self.buf[:n]
        h = hashlib.sha256(b"gzchunk2\0%d\0%d\0" % (self.level, len(self.tail)))
        h.update(self.tail)
        h.update(chunk)
        key = h.hexdigest()
        hit = self.memo.lookup(key) if self.memo is not None else None
        job: cf.Future[bytes] | bytes
        if hit is not None:
            job = hit
            self.reused += 1
        elif self.pool is not None:
            job = self.pool.submit(deflate_segment, chunk, self.tail, self.level)
        else:
            job = deflate_segment(chunk, self.tail, self.level)
        if hit is None:
            self.compressed += 1
            if self.memo is not None:
                self.memo.compressed.append(len(chunk))
        self.pending.append((key, job))
        self.tail = (self.tail + chunk)[-WINDOW:]
        while len(self.pending) > 2 * self.workers:  # bound the memory in flight
            self._drain_one()

    def _drain_one(self) -> None:
        key, job = self.pending.popleft()
        data = job if isinstance(job, bytes) else job.result()
        if self.memo is not None:
            self.memo.record(key, self.size, data)
        self._put(data)

    def _put(self, data: bytes) -> None:
        self.out.write(data)
        self.sha.update(data)
        self.size += len(data)

    def close(self) -> None:
        try:
            self.cut()
            while self.pending:
                self._drain_one()
            self._put(FINAL_BLOCK + struct.pack("<II", self.crc, self.pos & 0xFFFFFFFF))
        finally:
            if self.pool is not None:
                self.pool.shutdown(wait=True, cancel_futures=True)

    @property
    def digest(self) -> str:
        return "sha256:" + self.sha.hexdigest()

    @property
    def diff_id(self) -> str:
        return "sha256:" + self.plain_sha.hexdigest()


def cut_before(path: str, size: int, previous_size: int) -> bool:
    """Whether a segment boundary goes before the tar entry ``path`` (content-defined).

    Large files get segments of their own, so what comes before them cannot shift their cuts;
    elsewhere about one entry in 16, chosen by a hash of its path, ends a segment, so a changed
    file only disturbs the segments up to the next such entry.
    """
    return size >= LARGE or previous_size >= LARGE or hashlib.sha256(path.encode()).digest()[0] < 16
