"""Check the installed wasmtime wheel against abi.txt; print "VERSION LIBPATH" if it matches.

Run by scripts/build-crun-wasm with the project's Python. The wheel's ctypes bindings are generated
from the C API headers of the same release, so they are the reference for the ABI that crun's
handler calls through dlsym() pointers (no C headers exist to compile against).
"""

from __future__ import annotations

import ctypes
import importlib.metadata
import sys
from pathlib import Path


def type_name(t: object) -> str:
    return "void" if t is None else str(getattr(t, "__name__", t))


def main() -> int:
    import wasmtime
    from wasmtime import _bindings

    expected = Path(sys.argv[1]).read_text().splitlines()
    problems = []
    for line in expected:
        if not line.strip() or line.startswith("#"):
            continue
        name, *rest = line.split()
        if name == "STRUCT":
            sname, size, *fields = rest
            struct = getattr(_bindings, sname, None)
            got = (
                [str(ctypes.sizeof(struct))] + [f"{k}:{type_name(t)}" for k, t in struct._fields_]
                if struct is not None
                else ["missing"]
            )
            if got != [size, *fields]:
                problems.append(f"struct {sname}: wheel has {' '.join(got)}, crun expects {size} {' '.join(fields)}")
            continue
        fn = getattr(_bindings, f"_{name}", None)
        got = [type_name(fn.restype), *map(type_name, fn.argtypes)] if fn is not None else ["missing"]
        if got != rest:
            problems.append(f"{name}: wheel has ({' '.join(got)}), crun expects ({' '.join(rest)})")
    version = importlib.metadata.version("wasmtime")
    if problems:
        print(f"wasmtime {version}: the C API moved under crun's wasmtime handler:", file=sys.stderr)
        for p in problems:
            print(f"  {p}", file=sys.stderr)
        return 1
    lib = Path(wasmtime.__file__).parent / "linux-x86_64" / "_libwasmtime.so"
    if not lib.is_file():
        print(f"wasmtime {version}: no {lib} (only linux-x86_64 is supported)", file=sys.stderr)
        return 1
    print(version, lib)
    return 0


if __name__ == "__main__":
    sys.exit(main())
