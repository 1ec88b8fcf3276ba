"""A recipe folder's own code (``toolchain.py``), loaded once per process, and what its templates
may call.

The folder's code is the recipe's, never the build context's. Besides the toolchain hooks
(:mod:`wasmbuild.execute.toolchains`) and ``init(folder)`` (:mod:`wasmbuild.scaffold`), a folder
may bring ``templates(files) -> dict[str, callable]``: functions its ``stage.yaml.j2`` calls, e.g.
one that reads a lockfile of the build context and returns its packages as pinned inputs.
``files`` is a :class:`ContextFiles`: the only way such a function reads the build context.
Render loads a folder's code only when its text defines ``templates`` (a top-level
``def templates(``): rendering a Wasmfile imports no toolchain code otherwise.
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import sys
import traceback
from functools import cache
from pathlib import Path
from types import ModuleType
from typing import Any

from wasmbuild.errors import ConfigError, WasmbuildError
from wasmbuild.paths import PathEscape, within


@cache
def load_module(path: Path) -> ModuleType:
    """A folder's ``toolchain.py`` as a module (``wasmbuild.languages.FOLDER_HASH``): its
    toolchain's hooks, its ``init(folder)`` and its ``templates(files)``."""
    digest = hashlib.sha256(str(path.resolve()).encode()).hexdigest()[:8]
    name = f"wasmbuild.languages.{path.parent.name.replace('-', '_')}_{digest}"
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise ConfigError("cannot load the toolchain's code", where=str(path))
    mod = importlib.util.module_from_spec(spec)
    sys.modules[name] = mod  # before running it: dataclasses look their module up
    # No __pycache__ in the folder: its tree digest is the recipe's identity in the SBOM.
    writes, sys.dont_write_bytecode = sys.dont_write_bytecode, True
    try:
        spec.loader.exec_module(mod)
    except WasmbuildError:
        sys.modules.pop(name, None)
        raise
    except Exception as exc:  # a folder's code is not ours: say where it broke
        sys.modules.pop(name, None)
        raise folder_bug(exc, path, "fails to load") from None
    finally:
        sys.dont_write_bytecode = writes
    return mod


def folder_bug(exc: BaseException, path: Path, doing: str) -> ConfigError:
    """One line for an exception raised by a folder's code: its file and line, not a traceback."""
    line = exc.lineno if isinstance(exc, SyntaxError) else next(
        (f.lineno for f in reversed(traceback.extract_tb(exc.__traceback__)) if f.filename == str(path)), None)
    message = exc.msg if isinstance(exc, SyntaxError) else str(exc)
    return ConfigError(f"the toolchain's code {doing}: {type(exc).__name__}: {message}",
                       where=f"{path}:{line}" if line else str(path))


class ContextFiles:
    """Read-only access to the build context for a folder's template functions: paths stay
    inside it (symlinks included), and a missing or unreadable file is one clear error."""

    def __init__(self, context: Path | None) -> None:
        self._context = context

    def path(self, rel: str, what: str = "file") -> Path:
        """``rel`` inside the build context (checked), for a file that must exist."""
        if self._context is None:
            raise ConfigError(f"the {what} {rel!r} needs a build context (use the recipe from a Wasmfile)")
        try:
            full = within(self._context, str(rel), what)
        except PathEscape as exc:
            raise ConfigError(str(exc), hint=f"keep the {what} inside the build context") from None
        if not full.is_file():
            raise ConfigError(f"{what} {rel!r} does not exist in the build context ({self._context})",
                              hint="fix the path or create the file")
        return full

    def exists(self, rel: str) -> bool:
        """Whether ``rel`` is a file of the build context (False for one outside it)."""
        try:
            self.path(rel)
        except ConfigError:
            return False
        return True

    def read_text(self, rel: str, what: str = "file") -> tuple[str, str]:
        """The text of ``rel`` and the name to show it by in errors (relative to the working
        directory when that is shorter)."""
        full = self.path(rel, what)
        try:
            text = full.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise ConfigError(f"cannot read {what} {rel!r}: {exc}") from None
        shown = os.path.relpath(full)
        return text, shown if not shown.startswith("..") else str(full)


@cache
def _defines_templates(module_path: Path) -> bool:
    try:
        return "def templates(" in module_path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return False


def template_functions(module_path: Path, context: Path | None) -> dict[str, Any]:
    """The functions a folder's ``templates(files)`` gives its stage template (none without
    ``toolchain.py`` or the hook). A bug in them is one line at the folder's file:line."""
    if not _defines_templates(module_path):
        return {}  # the folder's code is not loaded to render (start-up: `check` stays light)
    hook = getattr(load_module(module_path), "templates", None)
    if hook is None:
        return {}
    found = guarded(hook, module_path, "templates")(ContextFiles(context))
    if not isinstance(found, dict) or not all(isinstance(k, str) and callable(v) for k, v in found.items()):
        raise ConfigError("the toolchain's `templates` must return a dict of name -> function",
                          where=str(module_path))
    return {name: guarded(fn, module_path, name) for name, fn in found.items()}


def guarded(fn: Any, path: Path, name: str) -> Any:
    """``fn`` (a folder's function) with what it raises that is not a ``WasmbuildError`` made one
    line at the folder's file:line (the code is not ours)."""

    def call(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except WasmbuildError:
            raise
        except Exception as exc:
            raise folder_bug(exc, path, f"`{name}` fails") from None
    return call
