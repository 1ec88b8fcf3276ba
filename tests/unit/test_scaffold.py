"""What `wasmbuild init` detects, what it writes, and the Python runner it adds to a plain script."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from wasmbuild.errors import ConfigError
from wasmbuild.scaffold import detect, init

RUNNER_MODULE = "wasmbuild_run"  # the runner module python-component's init writes


def write(root: Path, files: dict[str, str]) -> Path:
    for rel, text in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text)
    return root


def test_rust_crate_with_dependencies_notes_vendoring(tmp_path: Path) -> None:
    write(tmp_path, {"Cargo.toml": '[package]\nname = "tool"\n[dependencies]\nserde = "1"\n[[bin]]\nname = "cli"\n',
                     "src/main.rs": "fn main() {}\n", "main.py": "print(1)\n"})
    det = detect(tmp_path)  # Cargo.toml wins over a stray script
    assert (det.kind, det.params, det.output) == ("rust", {"crate": ".", "output": "cli.wasm"}, "cli.wasm")
    assert any("cargo vendor" in n for n in det.notes)


@pytest.mark.parametrize(
    ("files", "message"),
    [
        ({"Cargo.toml": "[workspace]\nmembers = ['a']\n"}, r"has no \[package\] \(a workspace\?\)"),
        ({"Cargo.toml": '[package]\nname = "lib"\n', "src/lib.rs": ""}, "crate 'lib' has no program"),
        ({"Cargo.toml": "[package\n"}, "cannot read .*Cargo.toml"),
        ({"a.py": "", "b.py": ""}, "cannot tell which of the 2 Python files .* is the program"),
        ({"README.md": "x"}, "found no project"),
    ],
)
def test_what_init_refuses(tmp_path: Path, files: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        detect(write(tmp_path, files))


def test_c_and_cxx_sources(tmp_path: Path) -> None:
    write(tmp_path / "c", {"main.c": "", "src/lib/util.c": "", "include/util.h": "", "notes.txt": ""})
    det = detect(tmp_path / "c")
    assert (det.kind, det.params) == ("c", {"sources": ["main.c", "src/lib/util.c"], "output": "c.wasm",
                                            "include_dirs": ["include"]})
    write(tmp_path / "My App", {"main.cpp": "", "helper.c": ""})
    det = detect(tmp_path / "My App")
    assert (det.kind, det.recipe, det.params["sources"], det.name) == ("cxx", "cxx", ["main.cpp"], "my-app")


def test_python_app_with_a_run_class_is_used_as_is(tmp_path: Path) -> None:
    write(tmp_path, {"src/cli.py": "from wit_world import exports\n\nclass Run(exports.Run):\n    pass\n",
                     "src/main.py": "print('not me')\n"})
    det = detect(tmp_path)
    assert det.params == {"app": "src", "module": "cli", "output": f"{det.name}.wasm"}
    assert det.extra_files == {}


def test_written_wasmfile_is_valid_and_commented(tmp_path: Path) -> None:
    from wasmbuild.pipeline import prepare

    write(tmp_path, {"hello.c": "int main(void) { return 0; }\n"})
    report = init(tmp_path)
    text = (tmp_path / "Wasmfile").read_text()
    assert text.startswith("# Wasmfile written by `wasmbuild init`") and "# the module's whole environment" in text
    data = yaml.safe_load(text)
    output = f"{report['detected']['name']}.wasm"
    assert data["stages"]["app"] == {"recipe": "c", "with": {"sources": ["hello.c"], "output": output}}
    the_plan = prepare(tmp_path / "Wasmfile")  # loads, renders and plans: the recipe accepts it
    assert the_plan.order == ("app",)
    ignore = (tmp_path / ".wasmignore").read_text().splitlines()
    assert {"Wasmfile", ".git", "**/*.o"} <= set(ignore)


def test_the_python_runner_runs_the_script_as_main(tmp_path: Path) -> None:
    script = ("import json, sys\nfrom greeting import hi\n"
              "if __name__ == '__main__':\n    print(json.dumps([hi(), sys.argv[1:]]))\n")
    app = write(tmp_path / "app", {"main.py": script, "greeting.py": "def hi():\n    return 'hi'\n"})
    det = detect(app)
    assert det.params["module"] == RUNNER_MODULE and det.params["app"] == "."
    init(app)
    # componentize-py provides wit_world; a stand-in is enough to run the runner on CPython.
    write(tmp_path / "fake", {"wit_world/__init__.py": "class _E:\n    class Run:\n        pass\nexports = _E()\n"})
    code = (f"import sys; sys.argv = ['app.wasm', 'x']; import {RUNNER_MODULE} as r; "
            "assert 'json' in sys.modules; r.Run().run()")
    proc = subprocess.run([sys.executable, "-c", code], cwd=app, capture_output=True, text=True,
                          env={"PYTHONPATH": f"{app}:{tmp_path / 'fake'}"}, check=False)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == '["hi", ["x"]]\n'


def test_a_different_runner_file_is_not_replaced(tmp_path: Path) -> None:
    write(tmp_path, {"main.py": "print(1)\n", f"{RUNNER_MODULE}.py": "# mine\n"})
    with pytest.raises(ConfigError, match="exists already and differs"):
        init(tmp_path)
    assert not (tmp_path / "Wasmfile").exists()


def test_a_go_module_and_its_unvendored_requirements(tmp_path: Path) -> None:
    write(tmp_path / "svc", {"go.mod": "module example.com/svc\n\ngo 1.22\n\nrequire github.com/x/y v1.0.0\n",
                             "main.go": "package main\n", "helper.c": ""})
    det = detect(tmp_path / "svc")  # go.mod wins over a stray C file
    assert (det.kind, det.recipe, det.params) == ("go", "go", {"module": ".", "output": "svc.wasm"})
    assert det.notes == ["the module requires other modules: run `go mod vendor` (the build is offline)"]


def test_an_assemblyscript_project_by_its_package_json_or_its_asconfig(tmp_path: Path) -> None:
    write(tmp_path / "greeter", {"package.json": '{"devDependencies": {"assemblyscript": "^0.28.0"}, '
                                                 '"dependencies": {"as-json": "1.0.0"}}',
                                 "assembly/index.ts": "console.log('hi');\n"})
    det = detect(tmp_path / "greeter")
    assert (det.kind, det.recipe, det.params) == (
        "assemblyscript", "assemblyscript", {"entry": "assembly/index.ts", "output": "greeter.wasm"})
    assert det.notes == ["package.json names as-json: the recipe unpacks only assemblyscript, its dependencies "
                         "and the wasi-shim (the build is offline)"]
    assert "node_modules" in det.ignore
    write(tmp_path / "greeter", {"asconfig.json": '{"entries": ["src/main.ts"]}'})
    det = detect(tmp_path / "greeter")  # the asconfig decides: its entries, its target's optimisation
    assert det.params == {"entry": "", "config": "asconfig.json", "optimize": "", "no_assert": False,
                          "output": "greeter.wasm"}
    assert det.sources == ["asconfig.json", "src/main.ts"]
    assert det.notes[0].startswith("asconfig.json does not extend @assemblyscript/wasi-shim: add \"extends\"")


def test_an_assembly_index_ts_of_something_else_is_not_assemblyscript(tmp_path: Path) -> None:
    write(tmp_path, {"package.json": '{"devDependencies": {"typescript": "5.0.0"}}', "assembly/index.ts": ""})
    with pytest.raises(ConfigError):
        detect(tmp_path)


def test_one_rust_file_without_a_crate_is_built_by_rustc(tmp_path: Path) -> None:
    det = detect(write(tmp_path / "solo", {"hello.rs": "fn main() {}\n"}))
    assert (det.recipe, det.params) == ("rust", {"source": "hello.rs", "output": "solo.wasm"})
    two = write(tmp_path / "two", {"a.rs": "fn main() {}\n", "main.rs": "fn main() {}\n"})
    assert detect(two).params["source"] == "main.rs"  # main.rs is the program among several
    with pytest.raises(ConfigError, match="found no project"):
        detect(write(tmp_path / "many", {"a.rs": "", "b.rs": ""}))  # which one? not a guess
