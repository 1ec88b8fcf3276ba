"""``wasmbuild init``: look at a folder and write a Wasmfile that builds and runs on the first try.

What it recognises, first match wins:

* a Rust crate (``Cargo.toml`` with a binary): recipe ``rust`` with ``crate: .`` (cargo, offline);
* a Go module (``go.mod``): recipe ``go`` with ``module: .``;
* C++ sources (``*.cpp``, ``*.cc``, ``*.cxx`` at the top or under ``src/``): recipe ``cxx``;
* C sources (``*.c`` likewise, their headers (``*.h``) as ``headers``, ``include/`` as an include
  directory): recipe ``c``;
* a Python app (``*.py`` at the top, or in ``src/`` or ``app/``): recipe ``python-component``
  (componentize-py). An app module that defines ``class Run(exports.Run)`` is used as is; a
  plain script (``main.py``...) gets a small runner module next to it, ``wasmbuild_run.py``,
  that imports what the script imports while the component is built and runs the script as
  ``__main__`` when the component starts (componentize-py snapshots the interpreter at build
  time: a module first imported at run time would not be found).

It also writes a ``.wasmignore`` when the folder has none (build outputs, caches, and the
Wasmfile itself, so editing the Wasmfile's comments rebuilds nothing). An existing Wasmfile is
never replaced without ``force``.
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .errors import ConfigError
from .fsutil import atomic_write_bytes
from .ignore import IGNORE_FILE
from .reference import name_from_folder

RUNNER_MODULE = "wasmbuild_run"
_CXX = (".cpp", ".cc", ".cxx")
_HEADERS = (".h", ".hh", ".hpp", ".hxx", ".inc")
_RUN_CLASS = re.compile(r"^class\s+Run\s*\(", re.M)
_SCRIPT_NAMES = ("main.py", "app.py", "__main__.py")
_NOT_APPS = ("setup.py", "conftest.py", "noxfile.py", "fabfile.py", f"{RUNNER_MODULE}.py")

_IGNORE_COMMON = ["# Not part of the build context: neither hashed nor copied (.dockerignore syntax).",
                  ".git", "Wasmfile", ".wasmignore"]
_IGNORE = {
    "rust": ["target"],
    "go": ["**/*.wasm"],
    "c": ["**/*.o", "**/*.wasm"],
    "cxx": ["**/*.o", "**/*.wasm"],
    "python": ["**/__pycache__", "**/*.pyc", ".venv", "venv", ".pytest_cache", ".mypy_cache", ".ruff_cache"],
}

_RUNNER = '''\
"""Runs {script} as __main__ when the component starts (written by `wasmbuild init`).

componentize-py imports this module while it builds the component and snapshots the
interpreter, so the modules {script} imports are imported now; the script itself runs at start.
"""

import ast
import importlib
from pathlib import Path

from wit_world import exports

_SOURCE = (Path(__file__).parent / "{script}").read_text()
_CODE = compile(_SOURCE, "{script}", "exec")
for _node in ast.walk(ast.parse(_SOURCE)):
    if isinstance(_node, ast.Import):
        _names = [alias.name for alias in _node.names]
    elif isinstance(_node, ast.ImportFrom) and _node.module and not _node.level:
        _names = [_node.module]
    else:
        continue
    for _name in _names:
        try:
            importlib.import_module(_name)
        except Exception:  # the script may guard optional imports itself
            pass


class Run(exports.Run):
    def run(self) -> None:
        exec(_CODE, {{"__name__": "__main__", "__file__": "{script}", "__builtins__": __builtins__}})
'''


@dataclass
class Detected:
    """What ``init`` found, and the Wasmfile's stage for it."""

    kind: str  # rust | c | cxx | python
    name: str  # image name, from the project
    recipe: str
    params: dict[str, Any]
    output: str
    sources: list[str]
    notes: list[str] = field(default_factory=list)
    extra_files: dict[str, str] = field(default_factory=dict)  # path -> content to write

    def to_json(self) -> dict[str, Any]:
        return {"kind": self.kind, "name": self.name, "recipe": self.recipe, "with": self.params,
                "output": self.output, "sources": self.sources, "notes": self.notes}


def image_name(folder: Path) -> str:
    return name_from_folder(folder, "app")


def _rust(folder: Path) -> Detected:
    try:
        cargo = tomllib.loads((folder / "Cargo.toml").read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"cannot read {folder / 'Cargo.toml'}: {exc}") from None
    package = cargo.get("package")
    if not isinstance(package, dict) or "name" not in package:
        raise ConfigError(f"{folder / 'Cargo.toml'} has no [package] (a workspace?)",
                          hint="run `wasmbuild init` in the folder of the crate that builds the program")
    bins = [b for b in cargo.get("bin", []) if isinstance(b, dict) and "name" in b]
    if not bins and not (folder / "src" / "main.rs").is_file():
        raise ConfigError(f"crate {package['name']!r} has no program (no src/main.rs or [[bin]])",
                          hint="a WASI command needs fn main; add src/main.rs")
    program = str(bins[0]["name"]) if bins else str(package["name"])
    notes = []
    if len(bins) > 1:
        notes.append(f"the crate has {len(bins)} [[bin]] targets; the recipe expects exactly one")
    if cargo.get("dependencies") and not (folder / "vendor").is_dir():
        notes.append("the rust recipe builds offline: run `cargo vendor` (and commit vendor/ and "
                     ".cargo/config.toml) so the dependencies are in the build context")
    notes += _rust_toolchain_notes(folder)
    return Detected("rust", image_name(folder), "rust", {"crate": ".", "output": f"{program}.wasm"},
                    f"{program}.wasm", ["Cargo.toml"], notes)


def _rust_toolchain_notes(folder: Path) -> list[str]:
    """A warning when the Rust wasmbuild will use cannot build this crate (its edition or
    rust-version is newer than that cargo), with the fix; nothing when no Rust is found yet
    (`wasmbuild toolchains` says what to install)."""
    from .errors import ToolchainError
    from .execute import toolchains
    from .execute.rust import crate_problem

    try:
        found = toolchains.get("rust")
    except ToolchainError:
        return []
    problem = crate_problem(folder / "Cargo.toml", found) if found is not None else None
    return [f"warning: {problem.render()}"] if problem is not None else []


def _sources(folder: Path, suffixes: tuple[str, ...]) -> list[str]:
    top = [p for p in folder.iterdir() if p.is_file() and p.suffix in suffixes]
    src = folder / "src"
    nested = [p for p in src.rglob("*") if p.is_file() and p.suffix in suffixes] if src.is_dir() else []
    return sorted(p.relative_to(folder).as_posix() for p in top + nested)


def _c_like(folder: Path, kind: str, sources: list[str]) -> Detected:
    name = image_name(folder)
    params: dict[str, Any] = {"sources": sources, "output": f"{name}.wasm"}
    if headers := _sources(folder, _HEADERS):  # next to the sources: #include "util.h" finds them in $SRC
        params["headers"] = headers
    if (folder / "include").is_dir():
        params["include_dirs"] = ["include"]
    return Detected(kind, name, kind, params, f"{name}.wasm", sources)


def _python_entry(app_dir: Path) -> tuple[str, bool]:
    """(module file, defines class Run) of the app in ``app_dir``."""
    files = sorted(p for p in app_dir.glob("*.py")
                   if p.name not in _NOT_APPS and not p.name.startswith("test_"))
    with_run = [p for p in files if _RUN_CLASS.search(p.read_text(encoding="utf-8", errors="replace"))]
    if with_run:
        return with_run[0].name, True
    for name in _SCRIPT_NAMES:
        if (app_dir / name).is_file():
            return name, False
    if len(files) == 1:
        return files[0].name, False
    raise ConfigError(f"cannot tell which of the {len(files)} Python files in {app_dir} is the program",
                      hint="name it main.py, or define `class Run(exports.Run)` in it")


def _python(folder: Path) -> Detected:
    app_dir = next((d for d in (folder, folder / "src", folder / "app")
                    if d.is_dir() and any(p.name not in _NOT_APPS for p in d.glob("*.py"))), None)
    assert app_dir is not None
    entry, has_run = _python_entry(app_dir)
    app = app_dir.relative_to(folder).as_posix()
    name = image_name(folder)
    notes: list[str] = []
    extra: dict[str, str] = {}
    module = entry.removesuffix(".py")
    if not has_run:
        module = RUNNER_MODULE
        runner = f"{app}/{RUNNER_MODULE}.py" if app != "." else f"{RUNNER_MODULE}.py"
        extra[runner] = _RUNNER.format(script=entry)
        notes.append(f"{runner} runs {entry} as __main__ in the component")
    if any((folder / f).is_file() for f in ("requirements.txt", "pyproject.toml", "Pipfile")):
        notes.append("only the app folder is bundled: third-party packages are not installed into "
                     "the component (copy pure-Python ones into the app folder)")
    notes.append("files of the app folder are readable while the app is imported, not when it runs")
    return Detected("python", name, "python-component", {"app": app, "module": module, "output": f"{name}.wasm"},
                    f"{name}.wasm", [f"{app}/{entry}" if app != "." else entry], notes, extra)


def _go(folder: Path) -> Detected:
    name = image_name(folder)
    text = (folder / "go.mod").read_text(errors="replace")
    notes = []
    if re.search(r"^require\b", text, re.MULTILINE) and not (folder / "vendor").is_dir():
        notes.append("the module requires other modules: run `go mod vendor` (the build is offline)")
    return Detected("go", name, "go", {"module": ".", "output": f"{name}.wasm"}, f"{name}.wasm", ["go.mod"], notes)


def detect(folder: Path) -> Detected:
    """What the project in ``folder`` is, as a recipe and its parameters."""
    if not folder.is_dir():
        raise ConfigError(f"{folder} is not a folder")
    if (folder / "Cargo.toml").is_file():
        return _rust(folder)
    if (folder / "go.mod").is_file():
        return _go(folder)
    if cxx := _sources(folder, _CXX):
        return _c_like(folder, "cxx", cxx)
    if c := _sources(folder, (".c",)):
        return _c_like(folder, "c", c)
    if any(p.name not in _NOT_APPS for d in (folder, folder / "src", folder / "app") if d.is_dir()
           for p in d.glob("*.py")):
        return _python(folder)
    raise ConfigError(f"found no project in {folder.resolve()}: no Cargo.toml, no go.mod, no *.c/*.cpp, no *.py",
                      hint="run `wasmbuild init` in the project's folder, or see `wasmbuild recipes`")


def _yaml(value: Any) -> str:
    import json

    if isinstance(value, dict):
        return "{" + ", ".join(f"{k}: {_yaml(v)}" for k, v in value.items()) + "}"
    if isinstance(value, list):
        return "[" + ", ".join(_yaml(v) for v in value) + "]"
    text = str(value)
    plain = re.fullmatch(r"[A-Za-z0-9_./-][A-Za-z0-9_./:-]*", text) and text not in ("true", "false", "null")
    return text if plain else json.dumps(text)


_WHAT = {"rust": "the Rust crate in this folder: cargo --offline, for wasm32-wasip1\n# (wasm32-wasi on older Rust)",
         "go": ("the Go module: go build with GOOS=wasip1 GOARCH=wasm, offline\n"
                "# (vendored dependencies; pip install 'wasmbuild[go]' brings Go)"),
         "c": "the C sources: clang and wasi-libc",
         "cxx": "the C++ sources: clang++ and libc++ for WASI",
         "python": "the Python app: a WASI 0.2 component made by\n# componentize-py (no CPython compile, no container)"}


def _c(code: str, comment: str = "") -> str:
    """A line of YAML with its comment aligned."""
    return f"{code:<40}# {comment}" if comment else code


def wasmfile_text(det: Detected) -> str:
    """The commented Wasmfile for ``det``."""
    tag = f"{det.name}:latest"
    lines = [
        f"# Wasmfile written by `wasmbuild init` for {_WHAT[det.kind]}.",
        _c("#   wasmbuild build", "stages -> image in the local store"),
        _c(f"#   wasmbuild run {tag}", "runs it with wasmtime"),
        "# The format: `wasmbuild schema`; recipes and their parameters: `wasmbuild recipes`.",
        *[f"# Note: {n}" for n in det.notes],
        "wasmfile: 1",
        "",
        "stages:",
        _c("  app:", "a stage: a recipe (or shell steps) and its outputs"),
        _c(f"    recipe: {det.recipe}", "parameters: `wasmbuild recipes`"),
        "    with:",
        *[f"      {k}: {_yaml(v)}" for k, v in det.params.items()],
        "",
        _c("image:", "FROM scratch: only these files, env and args"),
        "  files:",
        f"    - {{from: app, path: {_yaml(det.output)}, dest: {_yaml('/' + det.output)}}}",
        _c(f"  entrypoint: [{_yaml('/' + det.output)}]", "the Wasm module to run (default args: cmd)"),
        _c("  env: {}", "the module's whole environment"),
        _c(f"  tags: [{tag}]", "names in the local store (-t adds more)"),
    ]
    if det.kind == "python":  # a component: crun's handler runs core modules only (docs/targets.md)
        lines.append(_c("  targets: [runwasi]", "a WASI 0.2 component: runwasi (containerd) runs it"))
    return "\n".join(lines) + "\n"


def ignore_text(kind: str) -> str:
    return "\n".join([*_IGNORE_COMMON, *_IGNORE[kind]]) + "\n"


def init(folder: Path, force: bool = False, dry_run: bool = False) -> dict[str, Any]:
    """Detect the project in ``folder`` and write its Wasmfile (and ``.wasmignore``, runner)."""
    det = detect(folder)
    missing = _recipe_missing(det.recipe)
    if missing:
        det.notes.append(missing)
    wasmfile = folder / "Wasmfile"
    if wasmfile.exists() and not force:
        raise ConfigError(f"{wasmfile} exists already", hint="use --force to replace it")
    files = {"Wasmfile": wasmfile_text(det), **det.extra_files}
    written, kept = [], []
    for rel, text in files.items():
        path = folder / rel
        if rel != "Wasmfile" and path.exists() and not force and path.read_text(errors="replace") != text:
            raise ConfigError(f"{path} exists already and differs from the runner init writes",
                              hint="use --force to replace it, or define class Run in your app")
    if (folder / IGNORE_FILE).exists():
        kept.append(IGNORE_FILE)
    else:
        files[IGNORE_FILE] = ignore_text(det.kind)
    for rel, text in files.items():
        if not dry_run:
            atomic_write_bytes(folder / rel, text.encode())
        written.append(rel)
    return {"detected": det.to_json(), "folder": str(folder.resolve()), "written": written, "kept": kept,
            "dry_run": dry_run, "build": "wasmbuild build", "run": f"wasmbuild run {det.name}:latest"}


def _recipe_missing(name: str) -> str | None:
    from .errors import WasmbuildError
    from .render.recipes import get_recipe

    try:
        get_recipe(name)
    except WasmbuildError:
        return f"this wasmbuild has no recipe {name!r}: `wasmbuild build` needs a version that has it"
    return None
