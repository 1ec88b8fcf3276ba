"""Recipes render with StrictUndefined and typed params; the schema doc is generated."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from wasmbuild.check import check_recipe
from wasmbuild.errors import ConfigError
from wasmbuild.load.model import json_schema
from wasmbuild.render import recipes

REPO = Path(__file__).resolve().parents[2]


def test_library_lists_rust_and_c() -> None:
    names = {r.name for r in recipes.list_recipes()}
    assert {"rust", "c"} <= names


@pytest.mark.parametrize("name", ["rust", "c"])
def test_library_recipes_check_clean(name: str) -> None:
    assert check_recipe(recipes.get_recipe(name).path) == []


def test_values_are_shell_quoted() -> None:
    rust = recipes.get_recipe("rust")
    values, problems = recipes.resolve_params(rust, {"source": "my dir/x.rs", "output": "a b.wasm"})
    assert problems == []
    _, data = recipes.render(rust, values)
    assert "'my dir/x.rs'" in data["steps"][0] and "'a b.wasm'" in data["steps"][0]


def test_strict_undefined(tmp_path: Path) -> None:
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / "recipe.yaml").write_text("description: x\nparams: {}\n")
    (tmp_path / "bad" / "stage.yaml.j2").write_text("steps: [{{ missing_var }}]\noutputs: [a]\n")
    problems = check_recipe(tmp_path / "bad")
    assert len(problems) == 1 and "missing_var" in problems[0]


def test_missing_required_param() -> None:
    _, problems = recipes.resolve_params(recipes.get_recipe("c"), {})
    assert problems and "needs parameter 'sources'" in problems[0]


def test_unknown_recipe_lists_available() -> None:
    with pytest.raises(ConfigError, match=r"available recipes: .*rust"):
        recipes.get_recipe("nope")


def test_checked_in_schema_matches_model() -> None:
    on_disk = json.loads((REPO / "docs" / "wasmfile.schema.json").read_text())
    assert on_disk == json_schema(), "regenerate with: wasmbuild schema > docs/wasmfile.schema.json"


def test_version_does_not_import_heavy_libraries() -> None:
    code = (
        "import sys; from wasmbuild.__main__ import main; main(['--version']); "
        "heavy = {'typer', 'pydantic', 'docker', 'oras', 'wasmtime', 'yaml', 'rich', 'jinja2'}; "
        "print(sorted(heavy & set(sys.modules)))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip().endswith("[]"), out.stdout
