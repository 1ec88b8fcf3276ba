"""Deterministic layer tarballs.

Same inputs give the same bytes, whatever the checkout: entries sorted by path, parents
included, uid/gid 0 with empty user/group names, modes normalised (0755 if executable, else
0644, unless the Wasmfile says), every mtime = ``SOURCE_DATE_EPOCH`` (or 0), and a gzip header
with mtime 0 and no file name (or a zstd frame: see :mod:`wasmbuild.assemble.compress`).
Symlinks are kept as symlinks (never followed), so a link in a stage's output cannot copy a
host file into an image.

Compressing is the slow part of assembling, so :func:`cached_layer` memoises it: the hash of
the entries (paths, kinds, modes, link targets and the sha256 of each file's content, plus
epoch and compression) maps to the (blob digest, size, diff_id) written last time, and is
used only if that blob is still in the target layout.
"""

from __future__ import annotations

import hashlib
import json
import os
import tarfile
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from wasmbuild.assemble.compress import Compression, LayerWriter, ZstdWriter
from wasmbuild.assemble.gzchunks import CHUNK, ChunkedGzipWriter, ChunkMemo, cut_before
from wasmbuild.cache.digests import file_sha256
from wasmbuild.errors import BuildError
from wasmbuild.failpoints import pause
from wasmbuild.fsutil import atomic_write_bytes, temp_path
from wasmbuild.ignore import IGNORE_FILE
from wasmbuild.oci import Descriptor
from wasmbuild.oci.layout import Layout

#: Bump when the bytes :func:`write_layer` produces for the same entries change.
LAYER_FORMAT = 3  # 2: segmented deflate (gzchunks); 3: zlib-ng's deflate, zstd

DIR_MODE = 0o755


@dataclass(frozen=True)
class Entry:
    """One path in the layer (``path`` is relative, POSIX, no leading slash)."""

    path: str
    kind: str  # "file" | "dir" | "symlink"
    mode: int
    source: Path | None = None
    linkname: str = ""


def normal_mode(source: Path, explicit: int | None) -> int:
    if explicit is not None:
        return explicit
    return 0o755 if source.stat().st_mode & 0o111 else 0o644


class TooManyEntries(Exception):
    """The layer would hold more entries than allowed (see :func:`collect`)."""


Lister = Callable[[Path], list[Path]]


def collect(files: list[tuple[str, Path, int | None]],
            listers: Sequence[Lister | None] = (), max_entries: int | None = None) -> list[Entry]:
    """Expand ``(dest, source, mode)`` triples (sources may be dirs) into sorted entries.
    ``listers[i]``, when given, lists the entries to take from directories of source ``i`` (the
    context's ``.wasmignore`` for a ``src:`` file). Past ``max_entries`` entries the walk stops
    with :class:`TooManyEntries`: a stage output holding millions of files must not be listed
    in full first."""
    entries: dict[str, Entry] = {}

    def add_parents(rel: str) -> None:
        parent = os.path.dirname(rel)
        while parent and parent not in entries:
            entries[parent] = Entry(parent, "dir", DIR_MODE)
            parent = os.path.dirname(parent)

    def add(rel: str, src: Path, mode: int | None, lister: Lister | None) -> None:
        add_parents(rel)
        if src.is_symlink():
            entries[rel] = Entry(rel, "symlink", 0o777, linkname=os.readlink(src))
        elif src.is_dir():
            entries[rel] = Entry(rel, "dir", mode if mode is not None else DIR_MODE)
            for child in lister(src) if lister else sorted(src.iterdir()):
                add(f"{rel}/{child.name}", child, None, lister)
        elif src.is_file():
            entries[rel] = Entry(rel, "file", normal_mode(src, mode), source=src)
        else:  # reading a FIFO would block forever; a socket or a device is no content either
            raise BuildError(f"{src} is a FIFO, socket or device: an image layer holds files, folders and "
                             "symlinks only", hint=f"remove it, or list it in {IGNORE_FILE} if it is in the context")
        if max_entries is not None and len(entries) > max_entries:
            raise TooManyEntries(rel)

    for i, (dest, src, mode) in enumerate(files):
        rel = dest.strip("/")
        if not rel:
            raise ValueError("cannot place a file at the image root '/'")
        add(rel, src, mode, listers[i] if i < len(listers) else None)
    return [entries[k] for k in sorted(entries)]


def _tarinfo(entry: Entry, epoch: int) -> tarfile.TarInfo:
    info = tarfile.TarInfo(entry.path + ("/" if entry.kind == "dir" else ""))
    info.mode = entry.mode
    info.uid = info.gid = 0
    info.uname = info.gname = ""
    info.mtime = epoch
    if entry.kind == "dir":
        info.type = tarfile.DIRTYPE
    elif entry.kind == "symlink":
        info.type = tarfile.SYMTYPE
        info.linkname = entry.linkname
    else:
        assert entry.source is not None
        info.size = entry.source.stat().st_size
    return info


#: ``progress(bytes_read, bytes_total)`` while a layer is compressed (the live display).
Progress = Callable[[int, int], None]


class _Counted:
    """A file whose reads are counted into ``progress`` (tarfile copies in small reads)."""

    def __init__(self, fh: BinaryIO, seen: list[int], total: int, progress: Progress):
        self.fh, self.seen, self.total, self.progress = fh, seen, total, progress

    def read(self, n: int = -1) -> bytes:
        data = self.fh.read(n)
        self.seen[0] += len(data)
        self.progress(self.seen[0], self.total)
        return data


def write_layer(entries: list[Entry], epoch: int, layout: Layout,
                compression: Compression | None = None,
                chunk_memo: ChunkMemo | None = None,
                workers: int | None = None,
                progress: Progress | None = None) -> tuple[Descriptor, str]:
    """Write a layer blob into ``layout``. Returns (descriptor, diff_id).

    A gzip blob's deflate stream is cut into segments (see :mod:`.gzchunks`) compressed in
    parallel; with ``chunk_memo`` those unchanged since the last layer are copied, not
    recompressed. A zstd blob is one frame compressed by zstd's own worker threads.
    """
    compression = compression or Compression()
    total = progress and sum(e.source.stat().st_size for e in entries if e.kind == "file" and e.source)
    seen = [0]
    blob_dir = layout.path / "blobs" / "sha256"
    blob_dir.mkdir(parents=True, exist_ok=True)
    tmp = temp_path(blob_dir, "layer")
    try:
        with open(tmp, "xb") as raw:
            gz: LayerWriter
            if compression.codec == "zstd":
                gz = ZstdWriter(raw, compression.level)
            else:
                gz = ChunkedGzipWriter(raw, compression.level, chunk_memo, workers)
            try:
                # mode "w" (not "w|"): tarfile then writes straight through, so gz sees entry
                # boundaries; the bytes are the same as a stream-mode tar's.
                # copybufsize: a file goes to gz in segment-sized writes, not tarfile's 16 KiB ones
                # (fewer trips through Python holding the GIL; the bytes are the same).
                with tarfile.open(fileobj=gz, mode="w", format=tarfile.PAX_FORMAT,  # type: ignore[call-overload]
                                  encoding="utf-8", copybufsize=CHUNK) as tar:
                    previous = 0
                    for i, entry in enumerate(entries):
                        info = _tarinfo(entry, epoch)
                        if cut_before(info.name, info.size, previous):
                            gz.cut()
                        previous = info.size
                        if entry.kind == "file":
                            assert entry.source is not None
                            with open(entry.source, "rb") as fh:
                                tar.addfile(info, fh if progress is None
                                            else _Counted(fh, seen, total or 0, progress))
                        else:
                            tar.addfile(info)
                        if i == 0:
                            raw.flush()
                            pause("layer")
                    gz.cut()  # the end-of-archive blocks are a segment of their own
            finally:
                gz.close()
            raw.flush()
            os.fsync(raw.fileno())
        os.replace(tmp, layout.blob_path(gz.digest))
    finally:
        tmp.unlink(missing_ok=True)
    if chunk_memo is not None:
        chunk_memo.save(gz.digest)
    return Descriptor(compression.media_type, gz.digest, gz.size), gz.diff_id


def content_digests(entries: Sequence[Entry]) -> dict[str, str]:
    """Each file entry's content sha256, by its path (each file read once)."""
    return {e.path: file_sha256(e.source) for e in entries if e.kind == "file" and e.source is not None}


def layer_key(entries: list[Entry], epoch: int, compression: Compression | None = None,
              known: Mapping[str, str] | None = None) -> tuple[str, dict[str, str]]:
    """The memo key of a layer, and each file entry's content sha256 (each file read once;
    ``known``: digests the caller has already, by entry path, not read again)."""
    known = known or {}
    digests: dict[str, str] = {}
    rows: list[list[object]] = []
    for e in entries:
        if e.kind == "file":
            assert e.source is not None
            digests[e.path] = known.get(e.path) or file_sha256(e.source)
        rows.append([e.path, e.kind, e.mode, e.linkname, digests.get(e.path, "")])
    material = {"v": LAYER_FORMAT, "epoch": epoch, "compression": (compression or Compression()).key,
                "entries": rows}
    blob = json.dumps(material, sort_keys=True, separators=(",", ":")).encode()
    return hashlib.sha256(blob).hexdigest(), digests


class LayerMemo:
    """``DIR/KEY.json`` -> the layer blob written for those entries (see :func:`cached_layer`)."""

    def __init__(self, root: Path):
        self.root = root

    def get(self, key: str, layout: Layout) -> tuple[Descriptor, str] | None:
        try:
            data = json.loads((self.root / f"{key}.json").read_bytes())
            desc = Descriptor(str(data["mediaType"]), str(data["digest"]), int(data["size"]))
            diff_id = str(data["diff_id"])
            blob = layout.blob_path(desc.digest)
            ok = blob.stat().st_size == desc.size
            if ok:
                os.utime(self.root / f"{key}.json")  # last use, for `cache prune`
        except (OSError, ValueError, KeyError, TypeError):
            return None
        return (desc, diff_id) if ok else None

    def chunks(self, layout: Layout) -> ChunkMemo:
        """The segment memo for layers written into ``layout``."""
        where = hashlib.sha256(str(layout.path.resolve()).encode()).hexdigest()[:24]
        return ChunkMemo(self.root / f"chunks-{where}.json", layout.path / "blobs" / "sha256")

    def put(self, key: str, desc: Descriptor, diff_id: str) -> None:
        data = {"mediaType": desc.media_type, "digest": desc.digest, "size": desc.size,
                "diff_id": diff_id}
        atomic_write_bytes(self.root / f"{key}.json", json.dumps(data).encode())


def cached_layer(entries: list[Entry], epoch: int, layout: Layout, memo: LayerMemo | None,
                 compression: Compression | None = None,
                 progress: Progress | None = None,
                 known: Mapping[str, str] | None = None) -> tuple[Descriptor, str, bool, dict[str, str]]:
    """:func:`write_layer` unless the memo has this layer in ``layout`` already (``known``: as
    for :func:`layer_key`).

    Returns (descriptor, diff_id, reused, content sha256 per file path).
    """
    key, digests = layer_key(entries, epoch, compression, known)
    if memo is not None and (hit := memo.get(key, layout)) is not None:
        return hit[0], hit[1], True, digests
    desc, diff_id = write_layer(entries, epoch, layout, compression,
                                memo.chunks(layout) if memo is not None else None, progress=progress)
    if memo is not None:
        memo.put(key, desc, diff_id)
    return desc, diff_id, False, digests
