"""Bad inputs to component wrapping and Python componentizing fail on one clear line, before
any tool runs (these checks are pure: no wasm-tools, no componentize-py)."""

from __future__ import annotations

from pathlib import Path

import pytest
import wasmtime

from wasmbuild.errors import BuildError, ConfigError, WasmbuildError
from wasmbuild.wasm import component, pins, python, tools

HELLO = wasmtime.wat2wasm("""
(module
  (import "wasi_snapshot_preview1" "proc_exit" (func (param i32)))
  (memory (export "memory") 1)
  (func (export "_start")))
""")


@pytest.fixture(autouse=True)
def no_tools(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*args: str, what: str) -> str:
        raise AssertionError(f"wasm-tools must not run here ({what})")

    monkeypatch.setattr(tools, "wasm_tools", refuse)


def _one_line(exc: WasmbuildError) -> str:
    text = str(exc)
    assert "\n" not in text
    return text


def test_wrapping_a_component_is_refused(tmp_path: Path) -> None:
    src = tmp_path / "app.wasm"
    src.write_bytes(b"\0asm\x0d\x00\x01\x00")
    with pytest.raises(BuildError, match=r"app\.wasm is already a component: only a core module can be wrapped") as e:
        component.wrap(src, tmp_path / "out.wasm")
    _one_line(e.value)
    assert not (tmp_path / "out.wasm").exists()


def test_an_adapter_with_another_sha256_is_refused(tmp_path: Path) -> None:
    src = tmp_path / "app.wasm"
    src.write_bytes(bytes(HELLO))
    adapter = tmp_path / "adapter.wasm"
    adapter.write_bytes(pins.asset(pins.adapter_name("command")).read_bytes() + b"\0")
    with pytest.raises(BuildError, match=r"adapter .*adapter\.wasm has sha256 [0-9a-f]{64}, but 2a652d71[0-9a-f]+ "
                                         r"is pinned \(check where the adapter came from") as e:
        component.wrap(src, tmp_path / "out.wasm", adapter=adapter,
                       adapter_sha256=pins.pins().files[pins.adapter_name("command")])
    _one_line(e.value)
    with pytest.raises(BuildError, match="has no pinned sha256"):
        component.wrap(src, tmp_path / "out.wasm", adapter=adapter)


def test_imports_the_adapter_cannot_provide_are_named(tmp_path: Path) -> None:
    src = tmp_path / "app.wasm"
    src.write_bytes(bytes(wasmtime.wat2wasm(
        '(module (import "env" "foo" (func)) (import "env" "bar" (func)) (func (export "_start")))')))
    with pytest.raises(BuildError, match=r"app\.wasm imports func env\.foo, which is not part of WASI.*"
                                         r"\(and 1 more\)$"):
        component.wrap(src, tmp_path / "out.wasm")


def test_a_command_needs_start_and_inputs_must_be_wasm(tmp_path: Path) -> None:
    src = tmp_path / "lib.wasm"
    src.write_bytes(bytes(wasmtime.wat2wasm('(module (func (export "add")))')))
    with pytest.raises(BuildError, match=r"exports no _start function.*wrap it as a reactor"):
        component.wrap(src, tmp_path / "out.wasm")
    src.write_text("(module)")
    with pytest.raises(BuildError, match=r"lib\.wasm is not a WebAssembly binary"):
        component.wrap(src, tmp_path / "out.wasm", "reactor")


def test_the_command_line_prints_one_error_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    src = tmp_path / "app.wasm"
    src.write_bytes(b"\0asm\x0d\x00\x01\x00")
    assert component.main([str(src), str(tmp_path / "out.wasm")]) == BuildError.exit_code
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("error: ") and "already a component" in err


def test_worlds_resolve_against_the_vendored_wit() -> None:
    version = pins.pins().wasi_version
    assert python.resolve_world("wasi:cli/command") == ("cli", f"wasi:cli/command@{version}")
    assert python.resolve_world(f"wasi:http/proxy@{version}") == ("http", f"wasi:http/proxy@{version}")
    assert {"wasi:cli/command", "wasi:cli/imports", "wasi:http/proxy"} <= set(python.available_worlds())


@pytest.mark.parametrize("world", ["wasi:cli/commnd", "wasi:cli/command@0.1.0", "wasi:nope/command", "command"])
def test_a_missing_wit_world_is_one_line(world: str) -> None:
    with pytest.raises(BuildError, match=rf"WIT world '{world}' is not in the vendored WASI \S+ WIT "
                                         r"\(use one of: .*wasi:cli/command") as e:
        python.resolve_world(world)
    _one_line(e.value)


def test_the_wit_dir_holds_the_world_and_its_dependencies(tmp_path: Path) -> None:
    wit = python.wit_dir("cli", tmp_path / "wit")
    assert (wit / "package.wit").read_text().startswith("package wasi:cli@")
    assert sorted(p.name for p in (wit / "deps").iterdir()) == ["clocks", "filesystem", "io", "random", "sockets"]


def test_the_app_folder_and_module_are_checked(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        python.componentize(tmp_path / "nope", "app", tmp_path / "out.wasm")
    (tmp_path / "app").mkdir()
    with pytest.raises(ConfigError, match=r"has no main\.py \(set `module`"):
        python.componentize(tmp_path / "app", "main", tmp_path / "out.wasm")
    with pytest.raises(ConfigError, match="is not a Python module name"):
        python.componentize(tmp_path / "app", "main.py", tmp_path / "out.wasm")


# What componentize-py 0.25 prints (its Rust backtrace cut), kept verbatim: the parser's contract.
SYNTAX = '''Traceback (most recent call last):
  File "/venv/bin/componentize-py", line 6, in <module>
    sys.exit(script())
             ^^^^^^^^
AssertionError: Traceback (most recent call last):
  File "/0/app.py", line 1, in <module>
    import helper
  File "/0/helper.py", line 1
    def x(:
          ^
SyntaxError: invalid syntax


Caused by:
    SyntaxError: invalid syntax (helper.py, line 1)
'''
NO_RUN = '''Traceback (most recent call last):
  File "/venv/bin/componentize-py", line 6, in <module>
    sys.exit(script())
AssertionError: AttributeError: module 'main' has no attribute 'Run'


Caused by:
    AttributeError: module 'main' has no attribute 'Run'
'''
RAISES = '''AssertionError: Traceback (most recent call last):
  File "/0/main.py", line 3, in <module>
    import data
  File "/0/data/__init__.py", line 7, in <module>
    VALUE = int("x")
            ^^^^^^^^
ValueError: invalid literal for int() with base 10: 'x'

Caused by:
    ValueError
'''
WIT_ERROR = '''Error: failed to resolve directory while parsing WIT

Caused by:
    package 'wasi:io@0.2.12' not found. known packages:
'''


@pytest.mark.parametrize(("stderr", "expected"), [
    (SYNTAX, "app/helper.py:1: SyntaxError: invalid syntax"),
    (NO_RUN, "app/main.py defines no class Run (a wasi:cli/command app defines `class Run(exports.Run)` with "
             "`def run(self) -> None`, from wit_world import exports)"),
    (RAISES, "app/data/__init__.py:7: ValueError: invalid literal for int() with base 10: 'x'"),
    (WIT_ERROR, "componentize-py failed: Error: failed to resolve directory while parsing WIT: "
                "package 'wasi:io@0.2.12' not found. known packages:"),
])
def test_componentize_failures_become_one_line(stderr: str, expected: str) -> None:
    assert python.explain_failure(stderr, "main", "app/") == expected
