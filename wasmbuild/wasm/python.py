"""Turn a folder of Python modules into a WASI 0.2 component with componentize-py.

componentize-py bundles a CPython build for WASI with the app, imports the app at build time
and snapshots the initialised interpreter into the component (so a start costs no import).
Consequences the app's author sees, and the tests pin down:

* The app module defines ``class Run(exports.Run)`` with ``def run(self) -> None`` (the
  ``wasi:cli/run`` export; ``from wit_world import exports``).
* Files of the app folder (data files too) are readable **while the app is imported**, i.e. at
  module level; at run time the component sees only what its host preopens (the image's root).
* Only the app folder and the given wheels (pure-Python packages, unpacked into a
  site-packages of the build's own) are on the Python path: the host's site-packages are kept
  out (an empty ``VIRTUAL_ENV``), so the component does not depend on what the building machine
  has installed.
* An error while importing the app (a ``SyntaxError``...) is reported as Python's message with
  the file and line inside the app folder, on one line.

The WIT comes from the vendored WASI snapshot (:mod:`.pins`); ``world`` names one of its worlds.
Also a command line for stage steps (the ``component`` toolchain sets ``$WASMBUILD_PYTHON``)::

    "$WASMBUILD_PYTHON" -m wasmbuild.wasm.python APP_DIR MODULE OUT.wasm [--world W] [--show-as P] [--wheel W.whl]...
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

from ..errors import BuildError, ConfigError, WasmbuildError
from . import binary, pins, tools

DEFAULT_WORLD = "wasi:cli/command"
_WORLD = re.compile(r"^wasi:(?P<pkg>[a-z][a-z0-9-]*)/(?P<world>[a-z][a-z0-9-]*)(@(?P<version>[0-9][\w.+-]*))?$")
_WORLD_DECL = re.compile(r"^\s*world\s+([a-z][a-z0-9-]*)\s*\{", re.M)
_USES = re.compile(r"\bwasi:([a-z][a-z0-9-]*)/")


def available_worlds() -> list[str]:
    """Every world of the vendored WIT, e.g. ``wasi:cli/command``."""
    return [f"wasi:{pkg}/{w}" for pkg, path in wit_packages_sorted() for w in _WORLD_DECL.findall(path.read_text())]


def wit_packages_sorted() -> list[tuple[str, Path]]:
    return sorted(pins.wit_packages().items())


def resolve_world(world: str) -> tuple[str, str]:
    """(package short name, fully versioned world) for ``world``; BuildError when it is not vendored."""
    version = pins.pins().wasi_version
    match = _WORLD.match(world)
    packages = pins.wit_packages()
    ok = (match is not None and match["pkg"] in packages and match["version"] in (None, version)
          and match["world"] in _WORLD_DECL.findall(packages[match["pkg"]].read_text()))
    if not ok or match is None:
        raise BuildError(f"WIT world {world!r} is not in the vendored WASI {version} WIT",
                         hint=f"use one of: {', '.join(available_worlds())}")
    return match["pkg"], f"wasi:{match['pkg']}/{match['world']}@{version}"


def wit_dir(package: str, dest: Path) -> Path:
    """Lay out ``package`` with its transitive dependencies under ``deps/``, as wit-parser reads it."""
    packages = pins.wit_packages()
    needed, todo = set(), [package]
    while todo:
        name = todo.pop()
        for dep in _USES.findall(packages[name].read_text()):
            if dep != package and dep not in needed and dep in packages:
                needed.add(dep)
                todo.append(dep)
    dest.mkdir(parents=True)
    shutil.copyfile(packages[package], dest / "package.wit")
    for dep in sorted(needed):
        (dest / "deps" / dep).mkdir(parents=True)
        shutil.copyfile(packages[dep], dest / "deps" / dep / "package.wit")
    return dest


def _check_app(app_dir: Path, module: str) -> None:
    if not re.fullmatch(r"[A-Za-z_]\w*", module):
        raise ConfigError(f"{module!r} is not a Python module name", hint="name the app's module, e.g. app for app.py")
    if not app_dir.is_dir():
        raise ConfigError(f"the Python app folder {app_dir} does not exist")
    if not ((app_dir / f"{module}.py").is_file() or (app_dir / module / "__init__.py").is_file()):
        raise ConfigError(f"the Python app folder {app_dir} has no {module}.py",
                          hint="set `module` to the file that defines class Run")


_FILE_LINE = re.compile(r'^\s*File "/(?P<entry>\d+)/(?P<path>[^"]+)", line (?P<line>\d+)', re.M)
_EXC_LINE = re.compile(r"^(?P<type>[A-Za-z_][\w.]*)(: (?P<msg>.*))?$")


def explain_failure(stderr: str, module: str, show_as: str) -> str:
    """componentize-py's failure as one line; a Python error as ``FILE:LINE: Type: message``.

    componentize-py raises ``AssertionError: <the error>`` followed by anyhow's ``Caused by:``;
    a Python traceback inside it names files as ``/N/path``, N being the python path entry (we
    pass one: the app folder, shown as ``show_as``).
    """
    text = stderr.replace("\r", "")
    head, _, _ = text.partition("\nCaused by:")
    _, found, block = head.rpartition("AssertionError: ")
    if not found:
        cause = text.partition("Caused by:")[2].strip().splitlines()
        first = next((ln.strip() for ln in text.splitlines() if ln.strip()), "no error message")
        return f"componentize-py failed: {first}" + (f": {cause[-1].strip()}" if cause else "")
    lines = [ln for ln in block.strip().splitlines() if ln.strip()]
    exc = next((ln.strip() for ln in reversed(lines) if not ln[:1].isspace() and _EXC_LINE.match(ln.strip())),
               lines[-1].strip() if lines else "unknown error")
    where = ""
    frames = [m for m in _FILE_LINE.finditer(block) if m["entry"] == "0"]
    if frames:
        where = f"{show_as.rstrip('/')}/{frames[-1]['path']}:{frames[-1]['line']}: "
    if re.match(r"AttributeError: module '[\w.]+' has no attribute 'Run'", exc):
        return (f"{show_as.rstrip('/')}/{module}.py defines no class Run (a wasi:cli/command app defines "
                "`class Run(exports.Run)` with `def run(self) -> None`, from wit_world import exports)")
    return f"{where}{exc}"


def unpack_wheels(wheels: Sequence[Path], site: Path) -> Path:
    """Unpack pure-Python ``wheels`` into the directory ``site`` (as pip installs them: the
    archive's tree, with a ``NAME.data/purelib`` part moved to the top); returns ``site``."""
    import zipfile

    site.mkdir(parents=True, exist_ok=True)
    for wheel in wheels:
        try:
            with zipfile.ZipFile(wheel) as archive:
                archive.extractall(site)  # extractall keeps every member inside `site`
        except (OSError, zipfile.BadZipFile) as exc:
            raise BuildError(f"cannot unpack the wheel {wheel.name}: {exc}") from None
    for data in sorted(site.glob("*.data")):
        for part in ("purelib", "platlib"):
            if (data / part).is_dir():
                shutil.copytree(data / part, site, dirs_exist_ok=True)
        shutil.rmtree(data)
    return site


def componentize(app_dir: Path, module: str, out_path: Path, world: str = DEFAULT_WORLD,
                 show_as: str | None = None, wheels: Sequence[Path] = ()) -> Path:
    """Build ``app_dir`` (the app's ``module`` and whatever it imports) into a component at ``out_path``.

    ``show_as`` is how error messages name ``app_dir`` (default: the path itself); ``wheels``
    are pure-Python packages the app may import (on the path after the app folder).
    """
    _check_app(app_dir, module)
    package, full_world = resolve_world(world)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="wasmbuild-componentize-") as tmp:
        wit = wit_dir(package, Path(tmp) / "wit")
        venv = Path(tmp) / "no-site-packages"  # keeps the host's site-packages out of the app
        (venv / "lib" / "python" / "site-packages").mkdir(parents=True)
        staged = Path(tmp) / "out.wasm"
        env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "RUST_"))}
        env.update({"VIRTUAL_ENV": str(venv), "RUST_BACKTRACE": "0", "RUST_LIB_BACKTRACE": "0"})
        paths = ["-p", str(app_dir.resolve())]  # the app first: its python path entry 0
        if wheels:
            paths += ["-p", str(unpack_wheels(wheels, Path(tmp) / "site-packages"))]
        argv = [*tools.componentize_py_argv(), "-q", "-d", str(wit), "-w", full_world,
                "componentize", *paths, module, "-o", str(staged)]
        proc = subprocess.run(argv, capture_output=True, text=True, cwd=tmp, env=env, check=False)
        if proc.returncode != 0 or not staged.is_file():
            raise BuildError(explain_failure(proc.stderr, module, show_as or str(app_dir)),
                             details=proc.stderr.rstrip())
        if binary.kind_of_file(staged) != "component":  # a tool bug, not a user mistake
            raise AssertionError(f"componentize-py wrote no component for {app_dir}")
        shutil.move(staged, out_path)
    return out_path


def main(argv: list[str] | None = None) -> int:
    import argparse

    parser = argparse.ArgumentParser(prog="python -m wasmbuild.wasm.python",
                                     description="Build a folder of Python modules into a WASI 0.2 component.")
    parser.add_argument("app_dir", type=Path)
    parser.add_argument("module")
    parser.add_argument("out", type=Path)
    parser.add_argument("--world", default=DEFAULT_WORLD)
    parser.add_argument("--show-as", help="how errors name the app folder (e.g. its path in the build context)")
    parser.add_argument("--wheel", type=Path, action="append", default=[],
                        help="a pure-Python wheel to unpack onto the app's path (repeatable)")
    args = parser.parse_args(argv)
    try:
        componentize(args.app_dir, args.module, args.out, args.world, args.show_as, args.wheel)
    except WasmbuildError as err:
        print(f"error: {err}", file=sys.stderr)
        return err.exit_code
    with contextlib.suppress(OSError):
        print(f"{args.out}: {args.out.stat().st_size} bytes")
    return 0


if __name__ == "__main__":
    sys.exit(main())
