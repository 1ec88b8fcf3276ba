"""Archives unpack with tarfile's filters, also on Pythons without them (Debian 12: 3.11.2)."""

from __future__ import annotations

import io
import tarfile
from pathlib import Path

import pytest

from wasmbuild import tarsafe

Member = tuple[str, bytes | None, str | None]  # name, file data (None: a directory), symlink target


def _archive(*members: Member) -> io.BytesIO:
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
                info.size, info.mode, info.uid = len(data), 0o4775, 4242  # setuid, g+w, owner: dropped
                tar.addfile(info, io.BytesIO(data))
    buf.seek(0)
    return buf


@pytest.fixture(params=["python-filter", "fallback"])
def python(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    if request.param == "fallback":
        monkeypatch.delattr(tarfile, "data_filter", raising=False)
    return str(request.param)


def _extract(dest: Path, policy: tarsafe.Policy, *members: Member) -> None:
    with tarfile.open(fileobj=_archive(*members), mode="r|") as tar:
        tarsafe.extractall(tar, dest, policy)


@pytest.mark.parametrize("policy", ["data", "tar"])
def test_a_normal_archive_unpacks(python: str, tmp_path: Path, policy: tarsafe.Policy) -> None:
    _extract(tmp_path, policy, ("bin", None, None), ("bin/env.wasm", b"\0asm", None),
             ("app.wasm", None, "bin/env.wasm"))
    assert (tmp_path / "app.wasm").read_bytes() == b"\0asm"
    st = (tmp_path / "bin" / "env.wasm").stat()
    assert st.st_mode & 0o7777 == 0o755  # the executable bit stays (layers map it to 0755)


@pytest.mark.parametrize("policy", ["data", "tar"])
@pytest.mark.parametrize("members", [
    [("../evil", b"x", None)],
    [("d", None, None), ("d/../../evil", b"x", None)],
    [("up", None, ".."), ("up/evil", b"x", None)],  # through a symlink extracted just before
])
def test_nothing_is_written_outside(python: str, tmp_path: Path, policy: tarsafe.Policy,
                                    members: list[Member]) -> None:
    root = tmp_path / "root"
    root.mkdir()
    with pytest.raises(tarfile.TarError, match="outside the destination"):
        _extract(root, policy, *members)
    assert not (tmp_path / "evil").exists()


@pytest.mark.parametrize("link", ["/etc/passwd", "../../out"])
def test_data_policy_refuses_links_that_leave(python: str, tmp_path: Path, link: str) -> None:
    with pytest.raises(tarfile.TarError, match=r"outside the destination|link to an absolute path"):
        _extract(tmp_path, "data", ("d", None, None), ("d/link", None, link))


def test_leading_slashes_are_stripped(python: str, tmp_path: Path) -> None:
    _extract(tmp_path, "data", ("/abs.txt", b"x", None))
    assert (tmp_path / "abs.txt").read_bytes() == b"x"
