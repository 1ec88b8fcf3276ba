"""The declarations of a language folder (recipe.yaml `toolchain:` and `init:`), refused with one
line at FILE:LINE when wrong; a stage naming a toolchain no folder declares, likewise."""

from __future__ import annotations

from pathlib import Path

import pytest

from wasmbuild.errors import ConfigError
from wasmbuild.render.recipes import parse_recipe


def folder(tmp_path: Path, yaml: str, code: bool = True) -> Path:
    path = tmp_path / "lang"
    path.mkdir(parents=True)
    (path / "recipe.yaml").write_text("description: a language\n" + yaml)
    (path / "stage.yaml.j2").write_text("steps: []\n")
    if code:
        (path / "toolchain.py").write_text("def probe(): ...\n")
    return path


@pytest.mark.parametrize(("yaml", "code", "message"), [
    ("toolchain:\n  name: Toy\n", True, r"recipe.yaml:3: `toolchain.name` must be a lowercase name"),
    ("toolchain:\n  name: none\n", True, r"`toolchain.name` must be a lowercase name .*not `none`"),
    ("toolchain:\n  name: toy\n  setpu: []\n", True,
     r"recipe.yaml:4: unknown key 'setpu' in `toolchain` \(did you mean 'setup'"),
    ("toolchain:\n  name: toy\n  setup: echo\n", True, r"`toolchain.setup` must be a list of strings"),
    ("toolchain:\n  name: toy\n", False, r"recipe.yaml:2: the recipe declares `toolchain:` but has no toolchain.py"),
    ("init:\n  files: ['../*']\n", True, r"recipe.yaml:3: `init.files` pattern '../\*' leaves the project folder"),
    ("init:\n  files: ['/etc/*']\n", True, r"leaves the project folder"),
    ("init:\n  files: [x]\n  order: high\n", True, r"recipe.yaml:4: `init.order` must be a number"),
])
def test_a_wrong_declaration_is_one_line_at_its_place(tmp_path: Path, yaml: str, code: bool, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        path = folder(tmp_path, yaml, code)
        raise ConfigError(parse_recipe(path).name)  # not reached when the declaration is refused


def test_a_declaration_reads_back(tmp_path: Path) -> None:
    recipe = parse_recipe(folder(tmp_path, "toolchain:\n  name: toy\n  probe_env: [TOY_HOME]\n"
                                           "  setup: ['echo hi']\ninit:\n  files: ['*.toy']\n  order: 5\n"))
    assert recipe.toolchain is not None and recipe.init is not None
    assert (recipe.toolchain.name, recipe.toolchain.probe_env, recipe.toolchain.setup) == ("toy", ("TOY_HOME",),
                                                                                            ("echo hi",))
    assert (recipe.init.files, recipe.init.order) == (("*.toy",), 5)


def test_a_stage_naming_an_undeclared_toolchain_is_one_line(tmp_path: Path) -> None:
    from wasmbuild.plan import prepare

    (tmp_path / "Wasmfile").write_text(
        "wasmfile: 1\nstages:\n  app:\n    toolchain: rusty\n    steps: ['touch \"$OUT/a.wasm\"']\n"
        "    outputs: [a.wasm]\nimage:\n  files: [{from: app, path: a.wasm, dest: /a.wasm}]\n"
        "  entrypoint: [a.wasm]\n")
    with pytest.raises(ConfigError, match=r"Wasmfile:4: stage 'app': unknown toolchain 'rusty' \(did you mean"):
        prepare(tmp_path / "Wasmfile")


def test_a_folders_init_that_breaks_is_one_line_naming_it(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from wasmbuild.scaffold import detect

    root = tmp_path / "recipes"
    path = folder(root, "init:\n  files: ['*.toy']\n  order: 1\n")
    (path / "toolchain.py").write_text("def init(folder):\n    raise KeyError('no toy here')\n")
    monkeypatch.setenv("WASMBUILD_RECIPES", str(root))
    project = tmp_path / "project"
    project.mkdir()
    (project / "main.toy").write_text("7\n")
    with pytest.raises(ConfigError, match=r"toolchain.py: recipe 'lang' failed to read this project: KeyError"):
        detect(project)


TEMPLATES = '''\
def templates(files):
    def read_lock(path):
        text, shown = files.read_text(path, "lockfile")
        names = [line.split()[0] for line in text.splitlines() if line.strip()]
        if "boom" in names:
            return names[1000]
        return names
    return {"read_lock": read_lock}
'''


def templated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, lock: str, where: str = "app.lock") -> Path:
    root = tmp_path / "recipes"
    path = folder(root, "params:\n  lock: {type: string, description: the lockfile, required: true}\n")
    (path / "toolchain.py").write_text(TEMPLATES)
    (path / "stage.yaml.j2").write_text(
        "env:\n  PKGS: {{ read_lock(lock) | join(',') | tojson }}\n"
        "steps: ['touch \"$OUT/a.wasm\"']\noutputs: [a.wasm]\n")
    monkeypatch.setenv("WASMBUILD_RECIPES", str(root))
    project = tmp_path / "project"
    project.mkdir()
    (project / "app.lock").write_text(lock)
    (project / "Wasmfile").write_text(
        f"wasmfile: 1\nstages:\n  app:\n    recipe: lang\n    with: {{lock: {where}}}\nimage:\n"
        "  files: [{from: app, path: a.wasm, dest: /a.wasm}]\n  entrypoint: [a.wasm]\n")
    return project / "Wasmfile"


def test_a_folders_template_function_reads_a_file_of_the_context(tmp_path: Path,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    from wasmbuild.plan import prepare

    plan = prepare(templated(tmp_path, monkeypatch, "left 1.0\nright 2.0\n"))
    assert [s.env.get("PKGS") for s in plan.stages] == ["left,right"]


@pytest.mark.parametrize(("lock", "where", "message"), [
    ("a 1\n", "../outside.lock", r"outside|leaves|escapes"),
    ("a 1\n", "missing.lock", r"lockfile 'missing.lock' does not exist in the build context"),
    ("boom 1\n", "app.lock", r"lang/toolchain.py:6: stage 'app': the toolchain's code `read_lock` fails: IndexError"),
])
def test_a_template_function_that_fails_is_one_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                    lock: str, where: str, message: str) -> None:
    from wasmbuild.plan import prepare

    with pytest.raises(ConfigError, match=message):
        prepare(templated(tmp_path, monkeypatch, lock, where))
