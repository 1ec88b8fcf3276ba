"""A stage's inputs: where each comes from, its content digest, and copying it into ``$SRC``.

Nothing is copied to compute a cache key: a cache hit never needs the inputs, only their digests
(remembered for big unchanged files by the build's :class:`~wasmbuild.cache.digests.DigestMemo`).
``url`` inputs are pinned by sha256 (an npm package also by its SRI integrity), which decides the
key on its own: the download happens only when the stage actually runs.
"""

from __future__ import annotations

import hashlib
import os
import shutil
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from ..cache.digests import DigestMemo
from ..errors import BuildError
from ..ignore import Lister, load_ignore
from ..load.packages import Pin, pypi_package
from ..paths import clean_relative
from ..render.project import StageSpec
from . import fetch


@dataclass(frozen=True)
class InputFile:
    dest: str  # relative path under $SRC
    digest: str  # tree digest of the content
    origin: Path | None  # where to copy from; None for a download not fetched yet
    url: str | None = None
    pin: Pin | None = None
    purl: str | None = None  # a download that is a package (its errors name it)
    #: The directory entries to take (the context's ``.wasmignore`` for a ``src`` input).
    lister: Lister | None = field(default=None, compare=False)

    def materialise(self, memo: DigestMemo) -> Path:
        if self.origin is not None:
            return self.origin
        assert self.url is not None and self.pin is not None
        return fetch.fetch(self.url, self.pin, memo, purl=self.purl)


def url_digest(pin: str | Pin) -> str:
    """The tree digest of a downloaded file, from its pin alone (for a sha256, as ``tree_sha256``
    computes it for a non-executable file): no download needed to know the key. A pin of several
    accepted digests gives a key of its own, from all of them."""
    name = pin if isinstance(pin, str) else pin.identity
    return hashlib.sha256(b"F-" + name.encode()).hexdigest()


def stage_inputs(spec: StageSpec, context: Path, outputs: Mapping[str, Path],
                 memo: DigestMemo) -> list[InputFile]:
    """Each input of ``spec`` with its digest (context files, other stages' outputs, downloads)."""
    found: list[InputFile] = []
    ignore = load_ignore(context)
    for inp in spec.inputs:
        if inp.src is not None:
            origin = context / clean_relative(inp.src)
            lister = None
            if ignore is not None:
                ignore.check_named(clean_relative(inp.src), f"stage {spec.name!r}: input", spec.where)
                lister = ignore.lister
            found.append(InputFile(clean_relative(inp.dest or inp.src), memo.tree_sha256(origin, lister),
                                   origin, lister=lister))
        elif inp.from_ is not None:
            origin = outputs[inp.from_] / clean_relative(inp.path or "")
            if not origin.exists() and not origin.is_symlink():
                raise BuildError(f"stage {spec.name!r}: input {inp.path!r} is missing from the "
                                 f"outputs of stage {inp.from_!r}", where=spec.where)
            found.append(InputFile(clean_relative(inp.dest or inp.path or ""),
                                   memo.tree_sha256(origin), origin))
        else:
            assert inp.url is not None
            cached = fetch.cached(inp.pin, memo)
            found.append(InputFile(clean_relative(inp.file_name), url_digest(inp.pin), cached,
                                   inp.url, inp.pin, inp.purl))
    return found


def copy_in(src: Path, dest: Path, top: bool = True, lister: Lister | None = None) -> str:
    """Copy ``src`` to ``dest`` (content and mode bits, never timestamps or owners; symlinks
    inside a directory as symlinks, a symlink named as the input itself followed; in a directory
    only the entries ``lister`` gives) and return the tree digest of the copy, reading each file
    once."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    h = hashlib.sha256()
    if src.is_symlink() and not top:
        link = os.readlink(src)
        os.symlink(link, dest)
        h.update(b"L" + link.encode())
    elif src.is_dir():
        dest.mkdir(exist_ok=True)
        shutil.copymode(src, dest)
        h.update(b"D")
        for child in lister(src) if lister else sorted(src.iterdir(), key=lambda c: c.name):
            digest = copy_in(child, dest / child.name, top=False, lister=lister)
            h.update(child.name.encode() + b"\0" + digest.encode())
    elif src.is_file():
        content = hashlib.sha256()
        with open(src, "rb") as fin, open(dest, "wb") as fout:
            while chunk := fin.read(1 << 20):
                content.update(chunk)
                fout.write(chunk)
        shutil.copymode(src, dest)
        executable = b"x" if dest.stat().st_mode & 0o111 else b"-"
        h.update(b"F" + executable + content.hexdigest().encode())
    else:
        h.update(b"?")  # a socket or fifo: not copied, hashed as tree_sha256 does
    return h.hexdigest()


def place(inputs: list[InputFile], src: Path, spec: StageSpec, memo: DigestMemo) -> None:
    """Copy every input into ``src``, checking that none changed since its digest was taken, and
    that the stage's PyPI wheels have every dependency they declare pinned too (:mod:`.wheels`)."""
    fetch.prefetch([(i.url, i.pin) for i in inputs if i.origin is None and i.url and i.pin])
    tools = {i.url for i in spec.inputs if i.toolchain}
    wheels: list[tuple[str, Path]] = []
    for inp in inputs:
        origin = inp.materialise(memo)
        if inp.url is not None and inp.url not in tools and pypi_package(inp.url) is not None:
            wheels.append((inp.url, origin))
        if copy_in(origin, src / inp.dest, lister=inp.lister) != inp.digest:
            if inp.url is not None:
                # A download lands with mode 0644; compare content only.
                continue
            raise BuildError(f"stage {spec.name!r}: input {inp.dest!r} changed while building",
                             where=spec.where, hint="build again")
    if wheels:  # pip's --require-hashes rule: every dependency pinned too (packaging: only then)
        from .wheels import check as check_wheels

        check_wheels(spec, wheels)
