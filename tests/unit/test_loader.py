"""Strict loading: every mistake is one ConfigError naming file, line and fix."""

from __future__ import annotations

import os
import textwrap
from pathlib import Path

import pytest

from wasmbuild.errors import ConfigError
from wasmbuild.pipeline import prepare

GOOD = """\
wasmfile: 1
stages:
  hello:
    recipe: rust
    with: {source: hello.rs, output: hello.wasm}
  copy:
    inputs:
      - {from: hello, path: hello.wasm}
    steps: ["cp $SRC/hello.wasm $OUT/again.wasm"]
    outputs: [again.wasm]
image:
  files:
    - {from: copy, path: again.wasm, dest: /app.wasm}
    - {src: data.txt, dest: /data/data.txt, mode: "0600"}
  entrypoint: [app.wasm]
  tags: [demo:1]
"""


def project(tmp_path: Path, text: str) -> Path:
    (tmp_path / "hello.rs").write_text('fn main() { println!("hi"); }\n')
    (tmp_path / "data.txt").write_text("data\n")
    wasmfile = tmp_path / "Wasmfile"
    wasmfile.write_text(textwrap.dedent(text))
    return wasmfile


def error_of(tmp_path: Path, text: str) -> ConfigError:
    with pytest.raises(ConfigError, match=r"Wasmfile(:\d+)?: ") as info:
        prepare(project(tmp_path, text))
    return info.value


def test_good_wasmfile_plans_in_dependency_order(tmp_path: Path) -> None:
    p = prepare(project(tmp_path, GOOD))
    assert p.order == ("hello", "copy")
    assert p.deps["copy"] == ("hello",)
    hello = p.project.stages["hello"]
    assert hello.toolchain == "rust"
    assert any("--target" in s for s in hello.steps)
    assert p.project.model.image.files[1].mode == 0o600


def test_invalid_yaml_names_line(tmp_path: Path) -> None:
    err = error_of(tmp_path, "wasmfile: 1\nimage: [unclosed\n")
    assert "invalid YAML" in str(err) and "Wasmfile:" in str(err)


def test_unknown_key_names_line_and_suggests(tmp_path: Path) -> None:
    err = error_of(tmp_path, GOOD.replace("  entrypoint:", "  entrypont: [x]\n  entrypoint:"))
    text = str(err)
    assert "unknown key 'entrypont'" in text
    assert f"{tmp_path / 'Wasmfile'}:15" in text
    assert "did you mean 'entrypoint'" in text


def test_wrong_type(tmp_path: Path) -> None:
    err = error_of(tmp_path, GOOD.replace("tags: [demo:1]", "tags: demo"))
    assert "image.tags" in str(err) and ":16" in str(err)


def test_env_value_must_be_string(tmp_path: Path) -> None:
    err = error_of(tmp_path, GOOD.replace("  tags:", "  env: {PORT: 8080}\n  tags:"))
    assert "image.env.PORT" in str(err) and "string" in str(err)


def test_duplicate_key(tmp_path: Path) -> None:
    err = error_of(tmp_path, GOOD.replace("  tags: [demo:1]", "  tags: [a]\n  tags: [b]"))
    assert "duplicate key 'tags'" in str(err) and ":17" in str(err)


def test_wrong_version(tmp_path: Path) -> None:
    err = error_of(tmp_path, GOOD.replace("wasmfile: 1", "wasmfile: 2"))
    assert "wasmfile" in str(err) and ":1" in str(err)


def test_missing_source_file(tmp_path: Path) -> None:
    err = error_of(tmp_path, GOOD.replace("src: data.txt", "src: nope.txt"))
    assert "'nope.txt' does not exist" in str(err) and ":14" in str(err)


def test_missing_recipe_input(tmp_path: Path) -> None:
    err = error_of(tmp_path, GOOD.replace("source: hello.rs", "source: gone.rs"))
    assert "'gone.rs' does not exist" in str(err) and ":3" in str(err)


def test_unknown_stage_reference(tmp_path: Path) -> None:
    err = error_of(tmp_path, GOOD.replace("{from: hello, path", "{from: helo, path"))
    assert "unknown stage 'helo'" in str(err) and "did you mean 'hello'" in str(err)
    assert ":8" in str(err)


def test_stage_cycle(tmp_path: Path) -> None:
    text = GOOD.replace(
        "    recipe: rust\n    with: {source: hello.rs, output: hello.wasm}",
        '    inputs: [{from: copy, path: again.wasm}]\n    steps: ["true"]\n    outputs: [hello.wasm]',
    )
    err = error_of(tmp_path, text)
    assert "cycle" in str(err) and "hello" in str(err) and "copy" in str(err)


@pytest.mark.parametrize("bad", ["../outside.txt", "/etc/passwd", "a/../../x"])
def test_context_escape(tmp_path: Path, bad: str) -> None:
    err = error_of(tmp_path, GOOD.replace("src: data.txt", f"src: {bad}"))
    assert "context" in str(err) and ":14" in str(err)


def test_symlink_pointing_outside(tmp_path: Path) -> None:
    outside = tmp_path.parent / f"{tmp_path.name}-secret"
    outside.write_text("secret")
    os.symlink(outside, tmp_path / "link.txt")
    err = error_of(tmp_path, GOOD.replace("src: data.txt", "src: link.txt"))
    assert "outside the build context" in str(err)


def test_destination_escaping_image_root(tmp_path: Path) -> None:
    err = error_of(tmp_path, GOOD.replace("dest: /data/data.txt", "dest: /../../etc/x"))
    assert "climbs out" in str(err)


def test_unknown_recipe_parameter(tmp_path: Path) -> None:
    err = error_of(tmp_path, GOOD.replace("output: hello.wasm}", "output: hello.wasm, opt: 3}"))
    assert "no parameter 'opt'" in str(err) and ":5" in str(err)  # the line of `with:`, not the stage's


def test_recipe_parameter_type(tmp_path: Path) -> None:
    err = error_of(
        tmp_path, GOOD.replace("output: hello.wasm}", "output: hello.wasm, strip: yes-please}")
    )
    assert "'strip' must be a bool" in str(err)


def test_image_file_from_undeclared_output(tmp_path: Path) -> None:
    err = error_of(tmp_path, GOOD.replace("path: again.wasm, dest", "path: other.wasm, dest"))
    assert "does not declare it" in str(err)


def test_entrypoint_not_in_files(tmp_path: Path) -> None:
    err = error_of(tmp_path, GOOD.replace("entrypoint: [app.wasm]", "entrypoint: [nope.wasm]"))
    assert "entrypoint 'nope.wasm'" in str(err)


def test_check_collects_every_problem(tmp_path: Path) -> None:
    text = GOOD.replace("src: data.txt", "src: nope.txt").replace(
        "{from: hello, path", "{from: x, path"
    )
    err = error_of(tmp_path, text)
    assert len(err.problems) >= 2  # type: ignore[attr-defined]


@pytest.mark.parametrize(("setting", "message"), [
    ("optimize: O9", "image.files[0].optimize: `optimize` must be true/false, a level (O0, O1"),
    ("optimize: {level: O7}", "`optimize.level` must be one of O0, O1, O2, O3, O4, Os, Oz, none, not 'O7'"),
])
def test_optimize_values_get_one_clear_message(tmp_path: Path, setting: str, message: str) -> None:
    err = error_of(tmp_path, GOOD.replace("dest: /app.wasm}", f"dest: /app.wasm, {setting}}}"))
    assert message in str(err) and ":13:" in str(err)


def test_optimize_on_stage_and_file(tmp_path: Path) -> None:
    text = GOOD.replace("    outputs: [again.wasm]", "    outputs: [again.wasm]\n    optimize: true")
    text = text.replace("dest: /app.wasm}", "dest: /app.wasm, optimize: {level: Oz, strip: false}}")
    model = prepare(project(tmp_path, text)).project.model
    assert model.stages["copy"].optimize is True
    assert (model.image.files[0].optimize.level, model.image.files[0].optimize.strip) == ("Oz", False)  # type: ignore[union-attr]
