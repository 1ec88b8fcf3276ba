"""Extract a tar archive with tarfile's extraction filters, also where Python lacks them.

``TarFile.extractall(filter=...)`` exists from Python 3.11.4 (PEP 706); Debian 12's python3 is
3.11.2, where passing it is a TypeError. There we apply the same checks member by member:
nothing lands outside the destination (also not through a symlink extracted earlier), no
setuid/setgid/sticky or group/other write bits, no owners from the archive; the ``data`` policy
also refuses device files and links that point outside (or to an absolute path).
"""

from __future__ import annotations

import os
import tarfile
from pathlib import Path
from typing import Literal

Policy = Literal["data", "tar"]


class UnsafeMember(tarfile.TarError):
    """An archive member the policy refuses (a :class:`tarfile.TarError`, like the filters' errors)."""


def _inside(path: str, root: str) -> bool:
    return os.path.commonpath([os.path.realpath(path), root]) == root


def _sanitize(member: tarfile.TarInfo, root: str, policy: Policy) -> None:
    name = member.name.lstrip("/") or "."
    if not _inside(os.path.join(root, name), root):
        raise UnsafeMember(f"{member.name!r} would be extracted outside the destination")
    if policy == "data":
        if not (member.isfile() or member.isdir() or member.issym() or member.islnk()):
            raise UnsafeMember(f"{member.name!r} is a special file")
        if member.issym() or member.islnk():
            base = os.path.dirname(name) if member.issym() else ""
            if os.path.isabs(member.linkname) or not _inside(os.path.join(root, base, member.linkname), root):
                raise UnsafeMember(f"{member.name!r} links outside the destination ({member.linkname!r})")
    member.name = name
    keep = 0o700 if member.isdir() else 0o600
    member.mode = (member.mode & 0o755) | (keep if policy == "data" else 0)
    member.uid, member.gid, member.uname, member.gname = os.getuid(), os.getgid(), "", ""


def extractall(tar: tarfile.TarFile, dest: Path, policy: Policy) -> None:
    """``tar.extractall(dest, filter=policy)``, on every Python wasmbuild supports (also streams)."""
    if hasattr(tarfile, "data_filter"):
        tar.extractall(dest, filter=policy)
        return
    root = os.path.realpath(dest)
    for member in tar:
        _sanitize(member, root, policy)
        tar.extract(member, root)
