"""Layers unpack safely also on Pythons without tarfile's data filter (Debian 12: 3.11.2)."""

from __future__ import annotations

import io
import tarfile
from pathlib import Path

import pytest

from wasmbuild.errors import WasmbuildError
from wasmbuild.runtime.run import _extract


def _layer(*members: tuple[str, bytes | None, str | None]) -> io.BytesIO:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for name, data, link in members:
            info = tarfile.TarInfo(name)
            if link is not None:
                info.type, info.linkname = tarfile.SYMTYPE, link
                tar.addfile(info)
            elif data is None:
                info.type, info.mode = tarfile.DIRTYPE, 0o755
                tar.addfile(info)
            else:
                info.size, info.mode = len(data), 0o4755  # setuid: must not survive
                tar.addfile(info, io.BytesIO(data))
    buf.seek(0)
    return buf


@pytest.fixture(params=["filter", "fallback"])
def extract(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    if request.param == "fallback":
        monkeypatch.delattr(tarfile, "data_filter", raising=False)
    return str(request.param)


def test_a_normal_layer_unpacks(extract: str, tmp_path: Path) -> None:
    layer = _layer(("bin", None, None), ("bin/env.wasm", b"\0asm", None), ("app.wasm", None, "bin/env.wasm"))
    with tarfile.open(fileobj=layer, mode="r|") as tar:
        _extract(tar, tmp_path)
    assert (tmp_path / "app.wasm").read_bytes() == b"\0asm"
    assert not (tmp_path / "bin" / "env.wasm").stat().st_mode & 0o4000


@pytest.mark.parametrize("member", [("../evil", b"x", None), ("/abs-wasmbuild-test", b"x", None),
                                    ("link", None, "/etc/passwd"), ("d/link", None, "../../out")])
def test_nothing_lands_outside_the_root(extract: str, tmp_path: Path,
                                        member: tuple[str, bytes | None, str | None]) -> None:
    root = tmp_path / "root"
    root.mkdir()
    refused = False
    with tarfile.open(fileobj=_layer(member), mode="r|") as tar:
        try:
            _extract(tar, root)
        except (WasmbuildError, tarfile.TarError):
            refused = True
    # The data filter unpacks "/abs" as "abs" inside the root; everything else is refused.
    assert refused or (member[0].startswith("/") and (root / member[0].lstrip("/")).is_file())
    assert not any(p.exists() for p in (tmp_path / "evil", tmp_path / "out", Path("/abs-wasmbuild-test")))
