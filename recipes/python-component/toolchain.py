"""``wasmbuild init`` for a Python app: recipe ``python-component`` (componentize-py).

An app module that defines ``class Run(exports.Run)`` is used as is; a plain script (``main.py``...)
gets a small runner module next to it, ``wasmbuild_run.py``, that imports what the script imports
while the component is built and runs the script as ``__main__`` when the component starts
(componentize-py snapshots the interpreter at build time: a module first imported at run time
would not be found).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from wasmbuild.errors import ConfigError

RUNNER_MODULE = "wasmbuild_run"
_RUN_CLASS = re.compile(r"^class\s+Run\s*\(", re.M)
_SCRIPT_NAMES = ("main.py", "app.py", "__main__.py")
_NOT_APPS = ("setup.py", "conftest.py", "noxfile.py", "fabfile.py", f"{RUNNER_MODULE}.py")

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


def _entry(app_dir: Path) -> tuple[str, bool]:
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


def init(folder: Path) -> Any:
    """A Python app: ``*.py`` at the top, or in ``src/`` or ``app/`` (not setup.py and the like)."""
    from wasmbuild.scaffold import Detected, image_name

    app_dir = next((d for d in (folder, folder / "src", folder / "app")
                    if d.is_dir() and any(p.name not in _NOT_APPS for p in d.glob("*.py"))), None)
    if app_dir is None:
        return None
    entry, has_run = _entry(app_dir)
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
        notes.append("third-party packages are not installed from requirements.txt/pyproject.toml as they "
                     "are: pin pure-Python ones (NAME==VERSION --hash=sha256:...) in a requirements file "
                     "and set the recipe's `requirements` (docs/languages.md, Python dependencies)")
    notes.append("files of the app folder are readable while the app is imported, not when it runs")
    return Detected("python", name, "python-component", {"app": app, "module": module, "output": f"{name}.wasm"},
                    f"{name}.wasm", [f"{app}/{entry}" if app != "." else entry], notes, extra,
                    what=("the Python app: a WASI 0.2 component made by\n"
                          "# componentize-py (no CPython compile, no container)"),
                    ignore=["**/__pycache__", "**/*.pyc", ".venv", "venv", ".pytest_cache", ".mypy_cache",
                            ".ruff_cache"],
                    # a component: crun's handler runs core modules only (docs/targets.md)
                    targets=["runwasi"])
