"""Wrap a WASI preview 1 core module into a WASI 0.2 component.

``wasm-tools component new MODULE --adapt wasi_snapshot_preview1=ADAPTER`` links the module
with Wasmtime's preview 1 adapter, which implements every ``wasi_snapshot_preview1`` function on
top of WASI 0.2 interfaces (bytecodealliance/wasmtime ``crates/wasi-preview1-component-adapter``).
The adapter is the vendored one (see :mod:`.pins`) unless the caller gives its own with a pinned
sha256; either way its sha256 is checked before use.

Also a command line for stage steps (the ``component`` toolchain sets ``$WASMBUILD_PYTHON``)::

    "$WASMBUILD_PYTHON" -m wasmbuild.wasm.component IN.wasm OUT.wasm [--kind command|reactor]
"""

from __future__ import annotations

import contextlib
import os
import sys
import tempfile
from pathlib import Path
from typing import get_args

from ..errors import BuildError, WasmbuildError
from ..fsutil import file_sha256
from . import binary, pins, tools
from .pins import AdapterKind


def tools_identity() -> str:
    """Every input that shapes what the component tools (wasm-tools, componentize-py, the
    vendored adapters and WIT) produce: tool versions, the pins digest, our revision; not paths,
    so stage cache entries are shared between machines. A stage's runner identity carries it
    when the stage wraps its modules (``component:``) or builds components."""
    from . import TOOL_REVISION

    return ";".join([tools.wasm_tools_version(), f"componentize-py={tools.componentize_py_version()}",
                     f"wasi-assets={pins.pins().digest}", f"revision={TOOL_REVISION}"])


def _checked_adapter(kind: AdapterKind, adapter: Path | None, adapter_sha256: str | None) -> Path:
    if adapter is None:
        return pins.asset(pins.adapter_name(kind))
    if not adapter_sha256:
        raise BuildError(f"the adapter {adapter} has no pinned sha256",
                         hint="give its sha256, or leave the adapter out to use the vendored one")
    if not adapter.is_file():
        raise BuildError(f"the adapter {adapter} does not exist")
    actual = file_sha256(adapter)
    if actual != adapter_sha256.lower():
        raise BuildError(f"the adapter {adapter} has sha256 {actual}, but {adapter_sha256} is pinned",
                         hint="check where the adapter came from, then pin its real sha256")
    return adapter


def wrap(module_path: Path, out_path: Path, kind: AdapterKind = "command", *,
         adapter: Path | None = None, adapter_sha256: str | None = None) -> Path:
    """Write the component made of ``module_path`` + the preview 1 ``kind`` adapter to ``out_path``.

    ``kind="command"`` exports ``wasi:cli/run`` (the module's ``_start``); ``"reactor"`` exports
    the module's functions for a host to call. Raises a one-line :class:`BuildError` for an input
    that is already a component, an adapter whose sha256 differs from its pin, a module import
    the adapter cannot provide, or a wasm-tools failure.
    """
    if kind not in get_args(AdapterKind):
        raise BuildError(f"unknown component kind {kind!r}", hint="use command or reactor")
    name = str(module_path)
    data = module_path.read_bytes()
    if binary.kind(data, name) == "component":
        raise BuildError(f"{name} is already a component: only a core module can be wrapped",
                         hint="drop the component wrapping for this file, or wrap the core module it came from")
    adapter_path = _checked_adapter(kind, adapter, adapter_sha256)
    exported = {e.name for e in binary.exports(data, name)}
    if kind == "command" and "_start" not in exported:
        raise BuildError(f"{name} exports no _start function, so it is not a WASI command",
                         hint="build a program with main, or wrap it as a reactor")
    provided = {e.name for e in binary.exports(adapter_path.read_bytes(), str(adapter_path)) if e.kind == "func"}
    problems = binary.check_wasi_imports(data, provided, provider="the preview 1 adapter", name=name,
                                         allow_interfaces=True)
    if problems:
        more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
        raise BuildError(problems[0] + more)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=out_path.parent, prefix=f".{out_path.name}.", suffix=".tmp")
    os.close(fd)
    try:
        tools.wasm_tools("component", "new", str(module_path), "--adapt",
                         f"{binary.PREVIEW1}={adapter_path}", "-o", tmp,
                         what=f"wrapping {name} as a component")
        if binary.kind_of_file(Path(tmp)) != "component":  # a tool bug, not a user mistake
            raise AssertionError(f"wasm-tools component new wrote no component for {name}")
        os.replace(tmp, out_path)
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
    return out_path


def main(argv: list[str] | None = None) -> int:
    import argparse

    parser = argparse.ArgumentParser(prog="python -m wasmbuild.wasm.component", description=wrap.__doc__)
    parser.add_argument("module", type=Path)
    parser.add_argument("out", type=Path)
    parser.add_argument("--kind", choices=get_args(AdapterKind), default="command")
    args = parser.parse_args(argv)
    try:
        wrap(args.module, args.out, args.kind)
    except WasmbuildError as err:
        if err.details:
            print(err.details, file=sys.stderr)
        print(f"error: {err}", file=sys.stderr)
        return err.exit_code
    return 0


if __name__ == "__main__":
    sys.exit(main())
