"""Path rules: nothing read from the context, written to a stage or placed in an image escapes."""

from __future__ import annotations

import os
import posixpath
from collections.abc import Callable
from pathlib import Path, PurePosixPath


class PathEscape(ValueError):
    pass


def clean_relative(text: str, what: str = "path") -> str:
    """A normalised relative POSIX path, or :class:`PathEscape` if it is absolute or climbs out."""
    if not text or "\0" in text:
        raise PathEscape(f"{what} {text!r} is empty or contains NUL")
    if text.startswith("/") or (len(text) > 1 and text[1] == ":"):
        raise PathEscape(f"{what} {text!r} is an absolute host path; use a path inside the context")
    norm = posixpath.normpath(text)
    if norm == ".." or norm.startswith("../"):
        raise PathEscape(f"{what} {text!r} escapes the build context")
    return norm


def clean_image_path(text: str) -> str:
    """A destination in the image as a normalised absolute path (``/a/b``)."""
    if not text or "\0" in text:
        raise PathEscape(f"image path {text!r} is empty or contains NUL")
    parts: list[str] = []
    for part in PurePosixPath("/" + text.lstrip("/")).parts[1:]:
        if part == "..":
            raise PathEscape(f"image path {text!r} climbs out of the image root with '..'")
        if part != ".":
            parts.append(part)
    return "/" + "/".join(parts)


def _resolved(path: Path, what: str, rel: str) -> Path:
    try:
        return path.resolve()
    except (RuntimeError, OSError):  # a symlink loop (RuntimeError before Python 3.13)
        raise PathEscape(f"{what} {rel!r} holds a symlink loop at {path}") from None


def within(root: Path, rel: str, what: str = "path",
           ignored: Callable[[Path], bool] | None = None) -> Path:
    """``root/rel`` after checking that it, and every symlink under it, stays inside ``root``.
    ``ignored`` paths (the context's ``.wasmignore``) are neither walked nor checked: nothing
    takes them."""
    norm = clean_relative(rel, what)
    root_real = root.resolve()
    full = root / norm
    real = _resolved(full, what, rel)
    if real != root_real and root_real not in real.parents:
        raise PathEscape(f"{what} {rel!r} resolves to {real}, outside the build context (symlink?)")
    if full.is_dir() and not full.is_symlink():
        for dirpath, dirnames, filenames in os.walk(full):
            if ignored is not None:
                dirnames[:] = [d for d in dirnames if not ignored(Path(dirpath) / d)]
                filenames = [f for f in filenames if not ignored(Path(dirpath) / f)]
            for name in dirnames + filenames:
                entry = Path(dirpath) / name
                if entry.is_symlink():
                    target = _resolved(entry, what, rel)
                    if target != root_real and root_real not in target.parents:
                        raise PathEscape(
                            f"{what} {rel!r} holds a symlink {entry.relative_to(root)} "
                            f"pointing outside the build context"
                        )
    return full
