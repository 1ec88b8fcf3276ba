"""Host toolchains: declared by recipe folders, found once per process, remembered between runs.

A language is one folder (docs/languages.md). Its ``recipe.yaml`` declares the toolchain
(``toolchain: {name, summary, probe_env, setup}``) and its ``toolchain.py`` brings the code:

* ``probe() -> Toolchain`` (required): find it, or raise ``ToolchainError`` with the fix;
* ``complete(tc) -> Toolchain``: run once per process after the memo (files it writes, shims);
* ``witnesses(env) -> list[str]``: paths whose change means probing again, besides PATH and the
  files the toolchain's variables name;
* ``check(spec, context, tc) -> WasmbuildError | None``: before a stage runs;
* ``report(tc, specs, context) -> dict``: more for ``wasmbuild toolchains`` (``chosen``,
  ``others``; ``error`` and ``state`` when a stage cannot build);
* ``facts(tc) -> list[ToolRecord]``: what the SBOM and the provenance say ran the stage.

A toolchain's ``identity`` (path, version, target) is part of a stage's cache key; its ``env`` is
the only toolchain information a stage sees ($RUSTC, $CC...). This module names no toolchain:
it reads the declarations, loads the folders' code and remembers what their probes found.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import replace
from functools import cache
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any

from wasmbuild.errors import ConfigError, ToolchainError, WasmbuildError
from wasmbuild.render.folders import guarded, load_module

from .probing import BASE_PATH, PROBE_DROP, Toolchain, ToolRecord, version_in

if TYPE_CHECKING:
    from wasmbuild.render.project import StageSpec
    from wasmbuild.render.recipes import Recipe

__all__ = ["BASE_PATH", "PROBE_DROP", "ToolRecord", "Toolchain", "check", "facts", "get", "load_module", "module",
           "names", "probe", "report", "setup", "version_in"]

#: Environment variables every probe depends on (a folder's ``probe_env`` adds its own).
PROBE_ENV = ("PATH", "HOME", "WASMBUILD_TOOLCHAIN_DIRS")


def folders() -> dict[str, Recipe]:
    """Every declared toolchain by name, with the recipe folder that declares it."""
    from wasmbuild.render.recipes import toolchain_folders

    return toolchain_folders()


def names() -> list[str]:
    return sorted(folders())


def _folder(name: str) -> Recipe:
    found = folders().get(name)
    if found is None:
        from wasmbuild.load.loader import key_hint

        raise ConfigError(f"unknown toolchain {name!r}",
                          hint=key_hint(name, names(), "toolchains the recipe folders declare"))
    return found


def module(name: str) -> ModuleType:
    """The code of toolchain ``name`` (its folder's ``toolchain.py``), loaded once per process."""
    return load_module(_folder(name).module_path)


def _hook(name: str, hook: str) -> Any:
    """The folder's function ``hook``, if it has one; what it raises that is not a
    ``WasmbuildError`` becomes one line at the folder's file:line (the code is not ours)."""
    fn = getattr(module(name), hook, None)
    if fn is None or not callable(fn):
        return None
    return guarded(fn, _folder(name).module_path, hook)


def probe(name: str) -> Toolchain:
    """Search for toolchain ``name`` now (no memo)."""
    hook = _hook(name, "probe")
    if not callable(hook):
        raise ConfigError(f"toolchain {name!r} has no probe() in its toolchain.py",
                          where=str(_folder(name).module_path),
                          hint="define probe() returning a Toolchain (docs/languages.md)")
    found = hook()
    if not isinstance(found, Toolchain):
        raise ConfigError(f"probe() of toolchain {name!r} returned {type(found).__name__}, not a Toolchain",
                          where=str(_folder(name).module_path))
    return found


def _witnesses(name: str, value: dict[str, Any]) -> list[str]:
    """Paths whose change (install, upgrade, removal) invalidates a remembered toolchain."""
    env: dict[str, str] = value["env"]
    paths = [d for d in os.environ.get("PATH", "").split(os.pathsep) if d]
    paths.append("/usr/bin")
    for item in env.values():
        if os.path.isabs(item) and os.path.isfile(item):
            real = os.path.realpath(item)
            paths += [real, os.path.dirname(real)]
    more = _hook(name, "witnesses")
    return paths + (list(more(env)) if more else [])


def get(name: str | None) -> Toolchain | None:
    """Toolchain ``name`` (``None``/``"none"``: no toolchain), remembered between runs."""
    if name in (None, "none"):
        return None
    assert name is not None
    from ..cache.toolmemo import remembered

    decl = _folder(name).toolchain
    assert decl is not None
    code = _folder(name).module_path

    def run_probe() -> dict[str, Any]:
        tc = probe(name)
        _NOTES[name] = tc.notes  # only for a probe run now: a remembered one cost nothing
        return {"name": tc.name, "env": tc.env, "path_dirs": list(tc.path_dirs),
                "identity": tc.identity, "info": tc.info, "writable": list(tc.writable)}

    # The folder's code is part of what was probed: an upgrade of it probes again.
    tag = f"{name}-{_code_digest(code)}"
    data = remembered(tag, run_probe, lambda value: _witnesses(name, value), (*PROBE_ENV, *decl.probe_env))
    found = Toolchain(data["name"], dict(data["env"]), tuple(data["path_dirs"]), data["identity"],
                      _NOTES.get(name, []), dict(data.get("info") or {}), tuple(data.get("writable") or ()))
    complete = _hook(name, "complete")
    return complete(found) if complete else found


@cache
def _code_digest(path: Path) -> str:
    try:
        return hashlib.sha256(path.read_bytes()).hexdigest()[:12]
    except OSError:
        return "missing"


def check(spec: StageSpec, context: Path, tc: Toolchain) -> WasmbuildError | None:
    """Why toolchain ``tc`` cannot build ``spec`` (the folder's ``check``), before it runs."""
    hook = _hook(spec.toolchain or "", "check") if spec.toolchain not in (None, "none") else None
    return hook(spec, context, tc) if hook else None


def report(name: str, tc: Toolchain, specs: list[StageSpec], context: Path) -> dict[str, Any]:
    """What ``wasmbuild toolchains`` shows besides the identity (the folder's ``report``)."""
    hook = _hook(name, "report")
    return dict(hook(tc, specs, context)) if hook else {}


def facts(tc: Toolchain) -> tuple[ToolRecord, ...]:
    """What ran a stage, for the SBOM: the folder's ``facts``, else the toolchain as one record."""
    hook = _hook(tc.name, "facts") if tc.name in folders() else None
    if hook:
        return tuple(hook(tc))
    return (ToolRecord("runner", tc.identity.split(";")[0][:80], version_in(tc.identity)),)


def setup(name: str) -> tuple[str, ...]:
    """The shell commands that set toolchain ``name`` up on a CI runner (the GitHub Action)."""
    decl = _folder(name).toolchain
    return decl.setup if decl else ()


def or_stand_in(name: str, find: Any, stand_in: str) -> Toolchain:
    """``find()``'s toolchain, else toolchain ``stand_in`` probed in its place (C falls back to
    zig): the stand-in keeps its identity and says why in its notes."""
    try:
        found: Toolchain = find()
        return found
    except ToolchainError as err:
        try:
            other = probe(stand_in)
        except (ToolchainError, ConfigError):
            raise err from None
        return replace(other, name=name, notes=[f"using {stand_in}: {err.message}"])


#: What this process's probes noted (candidates passed over, and why), by toolchain name.
_NOTES: dict[str, list[str]] = {}
