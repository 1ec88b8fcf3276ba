"""The build context's ignore file, ``.wasmignore``: ``.dockerignore``'s syntax and meaning.

Ignored paths are neither hashed for a cache key nor copied into a stage or an image, so a
``target/`` or ``node_modules/`` folder next to the sources costs nothing and leaks nowhere. It
applies to what the context gives (``src:`` inputs and image files that are directories), never
to a stage's outputs. wasmbuild's own state directories (``WASMBUILD_CACHE``,
``WASMBUILD_STORE``, ``WASMBUILD_DOWNLOADS``, ``WASMBUILD_ZIG_CACHE`` or their defaults) are
ignored too when they lie inside the context: a cache under the project folder would otherwise be
copied into itself, and a store there would change every cache key after each build.

The rules are Docker's (docs.docker.com, "dockerignore"; moby/patternmatcher): one pattern per
line, ``#`` starts a comment line, patterns are relative to the context root whatever their
leading ``/``, ``*`` and ``?`` stay within one path component, ``**`` spans any number, a pattern
that matches a directory excludes everything in it, and ``!PATTERN`` re-includes; the last
matching line wins. pathspec's gitignore matcher does the matching: each pattern is anchored at
the root (``/PATTERN``) and cleaned as Docker cleans it (so ``target/`` also matches a file
named ``target``, as in Docker). Naming an ignored path directly in the Wasmfile is an error,
as ``COPY`` of an ignored file is in Docker.
"""

from __future__ import annotations

import fnmatch
import os
import posixpath
import stat
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .errors import ConfigError

if TYPE_CHECKING:
    import pathspec

IGNORE_FILE = ".wasmignore"
#: Lists the entries of a directory to walk, sorted by name (the default lists them all).
Lister = Callable[[Path], list[Path]]


def list_all(directory: Path) -> list[Path]:
    return sorted(directory.iterdir(), key=lambda p: p.name)


def _clean(line: str) -> tuple[str, bool] | None:
    """(anchored gitignore pattern, is an exception) of one ``.dockerignore`` line, or None."""
    text = line.strip()
    if not text or text.startswith("#"):
        return None
    negate = text.startswith("!")
    text = text[1:].strip() if negate else text
    text = posixpath.normpath(text).lstrip("/")  # Docker: filepath.Clean, then no leading "/"
    if text in ("", "."):
        return None
    return "/" + text, negate


@dataclass(frozen=True)
class ContextIgnore:
    """The patterns of one context's ``.wasmignore`` (``lines`` as written, for messages)."""

    root: Path
    lines: tuple[str, ...]
    source: Path
    spec: pathspec.PathSpec[Any] | None = field(repr=False, compare=False)
    has_exceptions: bool = False
    #: The ``!`` patterns, split into path components (to know which ignored folders to enter).
    exceptions: tuple[tuple[str, ...], ...] = ()
    #: wasmbuild's state directories inside the context (relative POSIX paths): always ignored.
    own: tuple[str, ...] = ()

    @classmethod
    def parse(cls, root: Path, text: str, source: Path) -> ContextIgnore:
        import pathspec  # 35 ms: only for a context that has an ignore file

        patterns: list[str] = []
        exceptions: list[tuple[str, ...]] = []
        for lineno, line in enumerate(text.splitlines(), 1):
            cleaned = _clean(line)
            if cleaned is not None:
                pattern, negate = cleaned
                try:  # each line alone, so a bad one is named (pathspec raises a ValueError)
                    pathspec.PathSpec.from_lines("gitignore", [pattern])
                except ValueError:
                    raise ConfigError(f"{source}:{lineno}: {line.strip()!r} is not a valid pattern",
                                      hint="a trailing \\ escapes nothing: drop it") from None
                if negate:
                    exceptions.append(tuple(pattern.strip("/").split("/")))
                patterns.append(("!" if negate else "") + pattern)
        spec = pathspec.PathSpec.from_lines("gitignore", patterns)
        return cls(root, tuple(text.splitlines()), source, spec, bool(exceptions), tuple(exceptions))

    def excluded(self, rel: str) -> bool:
        """Whether the context path ``rel`` (POSIX, relative) is ignored."""
        return self._own(rel) or (self.spec is not None and bool(self.spec.match_file(rel)))

    def _own(self, rel: str) -> bool:
        return any(rel == o or rel.startswith(o + "/") for o in self.own)

    def _rel(self, path: Path) -> str:
        return Path(os.path.relpath(path, self.root)).as_posix()

    def _may_reinclude(self, rel: str) -> bool:
        """Whether some ``!`` pattern could match a path inside the folder ``rel`` (as Docker
        decides whether to walk an excluded folder): its leading components match the folder's."""
        parts = rel.split("/")
        for pattern in self.exceptions:
            for i, part in enumerate(parts):
                if pattern[i] == "**":
                    return True
                if i == len(pattern) - 1 or not fnmatch.fnmatchcase(part, pattern[i]):
                    break  # it names this folder (or a parent), or another folder: not inside
            else:
                return True  # every component of the folder matched, and the pattern goes deeper
        return False

    def _kept(self, path: Path) -> bool:
        """Not ignored, or a directory an exception re-includes something in."""
        rel = self._rel(path)
        if not self.excluded(rel):
            return True
        if self._own(rel) or not self.has_exceptions or path.is_symlink() or not path.is_dir():
            return False
        if not self._may_reinclude(rel):
            return False
        return any(self._kept(child) for child in path.iterdir())

    def ignored(self, path: Path) -> bool:
        """Whether nothing of ``path`` (inside the context) is taken."""
        return not self._kept(path)

    def lister(self, directory: Path) -> list[Path]:
        """The entries of ``directory`` (inside the context) that are not ignored."""
        return [p for p in list_all(directory) if self._kept(p)]

    def check_named(self, rel: str, what: str, where: str | None = None) -> None:
        """A path the Wasmfile names must not be ignored (Docker: "not found in build context")."""
        if rel in ("", ".") or self._kept(self.root / rel):
            return
        if self._own(rel):
            raise ConfigError(f"{what} {rel!r} is inside wasmbuild's own cache or store", where=where,
                              hint="point WASMBUILD_CACHE / WASMBUILD_STORE outside the project")
        raise ConfigError(f"{what} {rel!r} is excluded by {self.source}", where=where,
                          hint=f"remove its pattern from {IGNORE_FILE}, or add the line `!{rel}`")


def load_ignore(context: Path) -> ContextIgnore | None:
    """The context's ``.wasmignore`` and wasmbuild's state directories inside it, or None when
    there is neither (the file is read once per version)."""
    source = context / IGNORE_FILE
    own = _own_dirs(context)
    try:
        st = source.stat()
    except FileNotFoundError:
        return ContextIgnore(context, (), source, None, own=own) if own else None
    if not stat.S_ISREG(st.st_mode):  # a FIFO would block the read forever
        raise ConfigError(f"{source} is not a regular file", hint=f"make {IGNORE_FILE} a text file, or remove it")
    found = _load(source, st.st_mtime_ns, st.st_size, st.st_ino)
    return replace(found, own=own) if own else found


def _own_dirs(context: Path) -> tuple[str, ...]:
    from .dirs import state_dirs

    root = Path(os.path.realpath(context))
    found = []
    for d in state_dirs():
        real = Path(os.path.realpath(d))
        if real != root and real.is_relative_to(root):
            found.append(real.relative_to(root).as_posix())
    return tuple(sorted(set(found)))


@lru_cache(maxsize=16)
def _load(source: Path, _mtime: int, _size: int, _ino: int) -> ContextIgnore:
    try:
        text = source.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read {source}: {exc}", hint="it must be a UTF-8 text file") from None
    return ContextIgnore.parse(source.parent, text, source)
