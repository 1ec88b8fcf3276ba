"""The WASI context a module or a component runs with: exactly the image's argv and env, its
root filesystem preopened read-only at ``/`` (and the working directory at ``.``), the caller's
standard streams. One place for both runners (``run._run_module``, ``component.run_component``),
and for what they show while they compile."""

from __future__ import annotations

from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any

from ..errors import RunError


def first_line(exc: BaseException, default: str = "") -> str:
    """The first non-empty line of an exception's text (wasmtime's are multi-line)."""
    text = str(exc).strip()
    return text.splitlines()[0] if text else (default or type(exc).__name__)


def wasi_config(argv: list[str], env: dict[str, str], root: Path | None, workdir: str, name: str) -> Any:
    """A ``wasmtime.WasiConfig``; ``root`` None: no files (a Wasm OCI artifact). A missing
    working directory or a NUL in argv/env is one :class:`RunError` line."""
    import wasmtime

    try:
        wasi = wasmtime.WasiConfig()
        wasi.argv = list(argv)
        wasi.env = list(env.items())
        if root is not None:
            wasi.preopen_dir(str(root), "/", fs_mutable=False)
            if workdir.strip("/"):
                wasi.preopen_dir(str(root / workdir.strip("/")), ".", fs_mutable=False)
        wasi.inherit_stdin()
        wasi.inherit_stdout()
        wasi.inherit_stderr()
    except (wasmtime.WasmtimeError, ValueError) as exc:  # a missing directory; a NUL in argv or env
        raise RunError(f"cannot run {name}: {first_line(exc)}",
                       hint="check the image's WorkingDir, args and env") from None
    return wasi


def compiling(path: Path, size: int) -> AbstractContextManager[None]:
    """A first run's silent part (compiling the module for this machine: seconds for CPython or a
    component), shown on a terminal when it takes more than a moment."""
    from ..ui import after_a_moment, human_bytes

    return after_a_moment(f"compiling {path.name} ({human_bytes(size)}) for this machine, once",
                          f"compiled {path.name} (kept for the next runs)")
