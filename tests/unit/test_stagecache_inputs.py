"""Stage inputs are copied and hashed in one pass, with the digest the cache key always used."""

from __future__ import annotations

import os
from pathlib import Path

from wasmbuild.cache.digests import tree_sha256
from wasmbuild.execute.inputs import copy_in as _copy_in


def _tree(root: Path) -> Path:
    (root / "src" / "pkg").mkdir(parents=True)
    (root / "src" / "a.c").write_text("int main(void) { return 0; }\n")
    (root / "src" / "pkg" / "run.sh").write_text("#!/bin/sh\n")
    (root / "src" / "pkg" / "run.sh").chmod(0o755)
    (root / "src" / "pkg" / "big.bin").write_bytes(os.urandom(3 << 20))
    (root / "src" / "link").symlink_to("a.c")
    (root / "src" / "empty").mkdir()
    return root / "src"


def test_digest_equals_tree_sha256_of_the_copy(tmp_path: Path) -> None:
    src = _tree(tmp_path)
    dest = tmp_path / "dest" / "in"
    digest = _copy_in(src, dest)
    assert digest == tree_sha256(dest) == tree_sha256(src)
    assert os.readlink(dest / "link") == "a.c"  # kept as a link inside a directory
    assert os.access(dest / "pkg" / "run.sh", os.X_OK)
    assert (dest / "pkg" / "big.bin").read_bytes() == (src / "pkg" / "big.bin").read_bytes()
    one = tmp_path / "one"
    assert _copy_in(src / "a.c", one) == tree_sha256(one) == tree_sha256(src / "a.c")


def test_an_input_that_is_a_symlink_is_followed(tmp_path: Path) -> None:
    src = _tree(tmp_path)
    (tmp_path / "alias.c").symlink_to(src / "a.c")
    dest = tmp_path / "copy.c"
    assert _copy_in(tmp_path / "alias.c", dest) == tree_sha256(src / "a.c")
    assert not dest.is_symlink() and dest.read_text().startswith("int main")
