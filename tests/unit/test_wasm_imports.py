"""The import section reader and the check against wasmtime's WASI linker."""

from __future__ import annotations

from pathlib import Path

import pytest
import wasmtime

from wasmbuild.assemble.imports import Import, missing_imports, module_imports
from wasmbuild.assemble.validate import imports_problem

GOLDEN = Path(__file__).resolve().parents[1] / "fixtures" / "golden" / "hello.wasm"

EVERY_KIND = """(module
 (type (func (param i32 i32 i32 i32) (result i32)))
 (import "wasi_snapshot_preview1" "fd_write" (func (type 0)))
 (import "wasi_snapshot_preview1" "proc_exit" (func (param i64)))
 (import "wasi_snapshot_preview1" "sock_listen" (func (param i32 i32) (result i32)))
 (import "env" "foo" (func))
 (import "env" "memory" (memory 1 2))
 (import "env" "g" (global (mut i32)))
 (import "env" "t" (table 1 funcref))
 (func (export "_start")))"""


def test_every_kind_of_import_is_listed_with_function_types() -> None:
    imports = module_imports(wasmtime.wat2wasm(EVERY_KIND))
    assert imports is not None
    assert [(str(i), i.kind) for i in imports] == [
        ("wasi_snapshot_preview1.fd_write", "function"), ("wasi_snapshot_preview1.proc_exit", "function"),
        ("wasi_snapshot_preview1.sock_listen", "function"), ("env.foo", "function"),
        ("env.memory", "memory"), ("env.g", "global"), ("env.t", "table")]
    assert imports[0] == Import("wasi_snapshot_preview1", "fd_write", "function",
                                (("i32", "i32", "i32", "i32"), ("i32",)))


def test_what_the_runtime_lacks_is_named() -> None:
    assert missing_imports(wasmtime.wat2wasm(EVERY_KIND)) == [
        "function wasi_snapshot_preview1.proc_exit with type (i64) -> (), but the runtime's is (i32) -> ()",
        "function wasi_snapshot_preview1.sock_listen, which the runtime's WASI preview 1 lacks",
        "function env.foo, which is not WASI: the runtime provides only wasi_snapshot_preview1",
        "memory env.memory, which is not WASI: the runtime provides only wasi_snapshot_preview1",
        "global env.g, which is not WASI: the runtime provides only wasi_snapshot_preview1",
        "table env.t, which is not WASI: the runtime provides only wasi_snapshot_preview1",
    ]
    problem = imports_problem(wasmtime.wat2wasm(EVERY_KIND), "app.wasm")
    assert problem == ("entrypoint 'app.wasm' imports function wasi_snapshot_preview1.proc_exit with type "
                       "(i64) -> (), but the runtime's is (i32) -> () (and 5 more)")


def test_a_wasi_program_has_nothing_missing() -> None:
    data = GOLDEN.read_bytes()
    imports = module_imports(data)
    assert imports and all(i.module == "wasi_snapshot_preview1" for i in imports)
    assert missing_imports(data) == [] and imports_problem(data, "x") is None


@pytest.mark.parametrize("data", [
    b"", b"\0asm", b"not wasm at all",
    b"\0asm\x0d\x00\x01\x00",  # a component's header: not checked here
])
def test_not_a_core_module(data: bytes) -> None:
    assert module_imports(data) is None and missing_imports(data) == []


def test_a_truncated_import_section_is_malformed() -> None:
    data = wasmtime.wat2wasm('(module (import "env" "foo" (func)))')
    with pytest.raises(ValueError, match="runs past"):
        module_imports(data[:-3])
    assert missing_imports(data[:-3]) == []  # wasmtime's validation reports such a module
