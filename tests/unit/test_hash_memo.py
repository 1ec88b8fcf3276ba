"""Remembered digests of big inputs: reused while the file is untouched, never after a write."""

from __future__ import annotations

import os
from pathlib import Path

from wasmbuild.cache.digests import DigestMemo, tree_sha256


def test_big_file_digest_is_remembered_until_it_changes(tmp_path: Path) -> None:
    big = tmp_path / "src.tgz"
    big.write_bytes(b"a" * (512 * 1024))
    memo = DigestMemo(tmp_path / "memo.json")
    first = memo.tree_sha256(big)
    assert memo.tree_sha256(big) == first and memo.hashed == 1
    memo.save()
    again = DigestMemo(tmp_path / "memo.json")  # a new process reads the saved memo
    assert again.tree_sha256(big) == first and again.hashed == 0

    st = big.stat()
    big.write_bytes(b"b" * (512 * 1024))  # same size, and the old mtime put back
    os.utime(big, ns=(st.st_atime_ns, st.st_mtime_ns))
    changed = again.tree_sha256(big)
    assert changed != first and again.hashed == 1  # ctime moved: hashed again
    assert changed == tree_sha256(big)  # same digest as hashing from scratch


def test_small_files_are_always_hashed_and_never_remembered(tmp_path: Path) -> None:
    small = tmp_path / "a.c"
    small.write_text("int main(void) { return 0; }\n")
    memo = DigestMemo(tmp_path / "memo.json")
    memo.tree_sha256(small)
    memo.tree_sha256(small)
    assert memo.hashed == 2
    memo.save()
    assert not (tmp_path / "memo.json").exists()  # nothing worth remembering
