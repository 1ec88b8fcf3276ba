"""A misspelt key, at any level of a Wasmfile, names its line, the closest allowed key and the
whole list of allowed ones (issue 22, item 11: the list used to be empty below the top level)."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest
from pydantic import BaseModel

from wasmbuild.check import check_wasmfile
from wasmbuild.errors import ConfigError
from wasmbuild.load.loader import allowed_keys
from wasmbuild.load.model import CacheMount, Image, ImageFile, Input, Optimize, Stage, Wasmfile
from wasmbuild.render import recipes

BASE = """\
wasmfile: 1
context: .
stages:
  hello:
    recipe: rust
    with: {source: hello.rs, output: hello.wasm}
  copy:
    inputs:
      - {from: hello, path: hello.wasm}
    steps: ["cp $SRC/hello.wasm $OUT/app.wasm"]
    outputs: [app.wasm]
    caches:
      - {name: target, path: target}
    optimize: {level: O2}
image:
  files:
    - {from: copy, path: app.wasm, dest: /app.wasm, optimize: {level: Oz}}
  entrypoint: [/app.wasm]
"""


def _names(model: type[BaseModel]) -> str:
    keys = allowed_keys(model)
    assert len(keys) >= 2
    return ", ".join(keys)


# (text, its misspelling, the key misspelt, its line, where, the suggestion, the allowed keys)
CASES = [
    ("context: .", "contxt: .", "contxt", 2, "at the top level", "context", _names(Wasmfile)),
    ("    recipe: rust", "    recpie: rust", "recpie", 5, "in stages.hello", "recipe", _names(Stage)),
    ("  entrypoint:", "  entrypont:", "entrypont", 18, "in image", "entrypoint", _names(Image)),
    ("dest: /app.wasm", "dst: /app.wasm", "dst", 17, "in image.files[0]", "dest", _names(ImageFile)),
    ("{from: hello, path: hello.wasm}", "{from: hello, pth: hello.wasm}", "pth", 9,
     "in stages.copy.inputs[0]", "path", _names(Input)),
    ("{name: target, path: target}", "{name: target, paht: target}", "paht", 13,
     "in stages.copy.caches[0]", "path", _names(CacheMount)),
    ("optimize: {level: O2}", "optimize: {levle: O2}", "levle", 14, "in stages.copy.optimize",
     "level", _names(Optimize)),
    ("optimize: {level: Oz}", "optimize: {lvel: Oz}", "lvel", 17, "in image.files[0].optimize",
     "level", _names(Optimize)),
]


def _project(tmp_path: Path, text: str) -> Path:
    (tmp_path / "hello.rs").write_text('fn main() { println!("hi"); }\n')
    wasmfile = tmp_path / "Wasmfile"
    wasmfile.write_text(textwrap.dedent(text))
    return wasmfile


def test_base_wasmfile_is_clean(tmp_path: Path) -> None:
    assert check_wasmfile(_project(tmp_path, BASE)) == []


@pytest.mark.parametrize(("good", "bad", "key", "line", "place", "guess", "allowed"), CASES,
                         ids=[f"{c[4].split()[-1]}-{c[2]}" for c in CASES])
def test_unknown_key_suggests_and_lists(tmp_path: Path, good: str, bad: str, key: str, line: int,
                                        place: str, guess: str, allowed: str) -> None:
    assert BASE.count(good) == 1
    wasmfile = _project(tmp_path, BASE.replace(good, bad))
    expected = (f"{wasmfile}:{line}: unknown key {key!r} {place} "
                f"(did you mean {guess!r}? allowed keys: {allowed})")
    problems = check_wasmfile(wasmfile)
    # A missing required key may come along (`paht` leaves `path` out); nothing else does, and
    # no branch of a union (`optimize`: bool | level | mapping) adds its own complaint.
    assert expected in problems
    assert [p for p in problems if "missing required key" not in p] == [expected]


def test_recipe_parameter_suggests_and_lists(tmp_path: Path) -> None:
    wasmfile = _project(tmp_path, BASE.replace("{source: hello.rs", "{sorce: hello.rs"))
    params = ", ".join(recipes.get_recipe("rust").params)
    assert "source" in params and "output" in params
    assert check_wasmfile(wasmfile) == [
        f"{wasmfile}:6: stage 'hello': recipe 'rust' has no parameter 'sorce' "
        f"(did you mean 'source'? its parameters: {params})"
    ]


def test_recipe_parameter_on_its_own_line(tmp_path: Path) -> None:
    text = BASE.replace("    with: {source: hello.rs, output: hello.wasm}",
                        "    with:\n      source: hello.rs\n      ouput: hello.wasm")
    problems = check_wasmfile(_project(tmp_path, text))
    assert len(problems) == 1 and problems[0].startswith(f"{tmp_path / 'Wasmfile'}:8: ")
    assert "no parameter 'ouput' (did you mean 'output'? its parameters: source, " in problems[0]


def test_recipe_name_suggests_and_lists(tmp_path: Path) -> None:
    wasmfile = _project(tmp_path, BASE.replace("recipe: rust", "recipe: rsut"))
    names = ", ".join(r.name for r in recipes.list_recipes())
    assert "rust" in names and "," in names
    assert check_wasmfile(wasmfile) == [
        f"{wasmfile}:5: unknown recipe 'rsut' (did you mean 'rust'? available recipes: {names})"
    ]


def test_no_close_key_still_lists_them(tmp_path: Path) -> None:
    wasmfile = _project(tmp_path, BASE.replace("  entrypoint:", "  zzzz: 1\n  entrypoint:"))
    assert check_wasmfile(wasmfile) == [
        f"{wasmfile}:18: unknown key 'zzzz' in image (allowed keys: {_names(Image)})"
    ]


def test_recipe_yaml_keys_suggest(tmp_path: Path) -> None:
    (tmp_path / "r").mkdir()
    (tmp_path / "r" / "stage.yaml.j2").write_text("steps: [x]\noutputs: [a]\n")
    (tmp_path / "r" / "recipe.yaml").write_text("description: x\nparams:\n  a: {type: string, defualt: x}\n")
    with pytest.raises(ConfigError) as info:
        recipes.parse_recipe(tmp_path / "r")
    assert str(info.value) == (
        f"{tmp_path / 'r' / 'recipe.yaml'}:3: unknown key 'defualt' in parameter 'a' "
        "(did you mean 'default'? allowed keys: type, description, default, required, choices)"
    )
