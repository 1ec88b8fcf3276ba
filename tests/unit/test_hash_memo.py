"""Remembered digests of big inputs: reused while the file is untouched, never after a write."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from wasmbuild import hashing


def test_big_file_digest_is_remembered_until_it_changes(tmp_path: Path,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    big = tmp_path / "src.tgz"
    big.write_bytes(b"a" * (512 * 1024))
    calls: list[Path] = []
    real = hashing.file_sha256
    monkeypatch.setattr(hashing, "file_sha256", lambda p: calls.append(p) or real(p))
    monkeypatch.setattr(hashing, "_memo", None)
    first = hashing.tree_sha256(big, remember=True)
    assert hashing.tree_sha256(big, remember=True) == first and len(calls) == 1
    hashing.save_memo()
    monkeypatch.setattr(hashing, "_memo", None)  # a new process reads the saved memo
    assert hashing.tree_sha256(big, remember=True) == first and len(calls) == 1

    st = big.stat()
    big.write_bytes(b"b" * (512 * 1024))  # same size, and the old mtime put back
    os.utime(big, ns=(st.st_atime_ns, st.st_mtime_ns))
    changed = hashing.tree_sha256(big, remember=True)
    assert changed != first and len(calls) == 2  # ctime moved: hashed again
    assert changed == hashing.tree_sha256(big)  # same digest as hashing from scratch
