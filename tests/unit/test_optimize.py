"""`optimize:` without Binaryen: custom-section stripping, settings, which files, errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from wasmbuild.assemble.layer import collect
from wasmbuild.assemble.optimize import (
    Optimize,
    cached_optimize,
    optimize,
    optimize_entries,
    parse_level,
    settings,
    strip_custom_sections,
)
from wasmbuild.errors import BuildError, ToolchainError
from wasmbuild.load.model import Optimize as ModelOptimize

# (module (func (export "_start"))): the smallest WASI command
START = bytes.fromhex("0061736d0100000001040160000003020100070a01065f7374617274""00000a040102000b")


def custom(name: bytes, payload: bytes) -> bytes:
    body = bytes([len(name)]) + name + payload
    assert len(body) < 128
    return b"\x00" + bytes([len(body)]) + body


def test_strip_drops_every_custom_section_and_keeps_the_rest_in_order() -> None:
    module = START[:8] + custom(b"producers", b"x" * 20) + START[8:] + custom(b"name", b"\x01\x02")
    assert strip_custom_sections(module) == START
    assert strip_custom_sections(START) == START


@pytest.mark.parametrize(("data", "message"), [
    (b"\x7fELF\x02\x01\x01\x00", "not a WebAssembly binary"),
    (b"\0asm\x0d\x00\x01\x00", "a WebAssembly component"),
    (START + b"\x00\x7f", "truncated"),
])
def test_strip_refuses_what_it_cannot_parse(data: bytes, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        strip_custom_sections(data)


@pytest.mark.parametrize(("text", "level"), [
    ("O2", "O2"), ("-O3", "O3"), ("s", "Os"), ("Oz", "Oz"), ("none", None), (None, None)])
def test_levels(text: str | None, level: str | None) -> None:
    assert parse_level(text) == level


def test_bad_level() -> None:
    with pytest.raises(ValueError, match="unknown wasm-opt level 'O9'"):
        parse_level("O9")


def test_wasmfile_values_become_settings() -> None:
    assert settings(True) == Optimize("O2", True)
    assert settings(False) is None
    assert settings("Oz") == Optimize("Oz", True)
    assert settings("none") == Optimize(None, True)
    assert settings(ModelOptimize(level="O3", strip=False)) == Optimize("O3", False)


def _tree(tmp: Path) -> list[tuple[str, Path, int | None]]:
    (tmp / "bin").mkdir(parents=True)
    fat = START[:8] + custom(b"name", b"n" * 50) + START[8:]
    for name in ("a.wasm", "b.wasm"):
        (tmp / "bin" / name).write_bytes(fat)
    (tmp / "bin" / "notes.txt").write_text("not a module\n")
    (tmp / "main.wasm").write_bytes(fat.replace(b"n" * 50, b"m" * 50))
    return [("/bin", tmp / "bin", None), ("/main.wasm", tmp / "main.wasm", 0o700)]


def test_rules_pick_modules_longest_path_first_and_keep_modes(tmp_path: Path) -> None:
    entries = collect(_tree(tmp_path / "src"))
    notes: list[str] = []
    strip_only = Optimize(None, True)
    rules = [("bin", strip_only), ("bin/b.wasm", None), ("main.wasm", strip_only)]
    out = {e.path: e for e in optimize_entries(entries, rules, tmp_path / "cache", notes.append)}
    assert out["bin/a.wasm"].source is not None and out["bin/a.wasm"].source.read_bytes() == START
    assert out["bin/b.wasm"].source == tmp_path / "src" / "bin" / "b.wasm"  # its own `false`
    assert out["bin/notes.txt"].source == tmp_path / "src" / "bin" / "notes.txt"  # not a module
    assert out["main.wasm"].mode == 0o700
    assert sorted(notes) == [
        f"optimize /bin/a.wasm: {len(START) + 57:,} -> {len(START):,} bytes (no wasm-opt, custom sections stripped)",
        f"optimize /main.wasm: {len(START) + 57:,} -> {len(START):,} bytes (no wasm-opt, custom sections stripped)",
    ]


def test_results_are_cached_by_content(tmp_path: Path) -> None:
    src = tmp_path / "m.wasm"
    src.write_bytes(START + custom(b"name", b"x"))
    first = cached_optimize(src, tmp_path / "cache", Optimize(None, True))
    again = cached_optimize(src, tmp_path / "cache", Optimize(None, True))
    assert (first[3], again[3]) == (False, True)
    assert first[0] == again[0] and first[0].read_bytes() == START


def test_missing_wasm_opt_is_a_toolchain_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.delenv("WASMBUILD_WASM_OPT", raising=False)
    src = tmp_path / "m.wasm"
    src.write_bytes(START)
    with pytest.raises(ToolchainError, match=r"wasm-opt is not installed .*apt-get install binaryen"):
        optimize(src, tmp_path / "out.wasm", "O2", True)


def test_a_non_module_is_a_build_error(tmp_path: Path) -> None:
    src = tmp_path / "m.wasm"
    src.write_text("hello")
    with pytest.raises(BuildError, match=r"m\.wasm is not a WebAssembly module"):
        optimize(src, tmp_path / "out.wasm", None, True)
