"""The package's shape, checked: no import circles, no import from a later pipeline step into an
earlier one (or into a base package), no module over 450 lines, no bare WasmbuildError.

Ranks: the base packages (helpers every step may use), in layers of their own (a layer imports
only from lower layers or itself), < load < render < plan < execute < assemble < attest
< publish < the top (pipeline, runtime, check, cli). Imports inside functions count too: a lazy
import is still a dependency.
"""

from __future__ import annotations

import ast
import graphlib
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "wasmbuild"
#: The base, lowest first: errors and plain helpers; paths and files; Wasm binaries; OCI
#: structures; registries and the local store; caches and image reading; what reads images.
BASE = [
    {"__init__", "errors", "failpoints", "paths", "ui", "tarsafe"},
    {"reference", "fsutil", "dirs", "progress"},
    {"wasm", "ignore"},
    {"oci"},
    {"registry", "store"},
    {"cache", "images"},
    {"inspect", "supply"},
]
STEPS = ["load", "render", "plan", "execute", "assemble", "attest", "publish"]
_AFTER = len(BASE) + len(STEPS)
TOP = {"pipeline": _AFTER, "runtime": _AFTER, "check": _AFTER + 1, "scaffold": _AFTER + 1,
       "buildcmd": _AFTER + 1, "cli": _AFTER + 2,
       "__main__": _AFTER + 3}
MAX_LINES = 450


def rank(module: str) -> int:
    head = module.split(".")[1] if module.count(".") else "__init__"
    for layer, names in enumerate(BASE):
        if head in names:
            return layer
    if head in STEPS:
        return len(BASE) + STEPS.index(head)
    if head in TOP:
        return TOP[head]
    raise AssertionError(f"{module}: top-level name {head!r} has no rank; add it to this test")


def modules() -> dict[str, Path]:
    found = {}
    for path in PACKAGE.rglob("*.py"):
        rel = path.relative_to(PACKAGE.parent).with_suffix("")
        parts = list(rel.parts)
        if parts[-1] == "__init__" and len(parts) > 1:
            parts = parts[:-1]
        found[".".join(parts)] = path
    return found


def imports(name: str, path: Path, known: set[str]) -> set[str]:
    """Modules of the package that ``name`` imports (resolved to the deepest known module)."""
    tree = ast.parse(path.read_text())
    package = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
    out: set[str] = set()
    for node in ast.walk(tree):
        targets: list[str] = []
        if isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                base = ".".join([*anchor, *([base] if base else [])])
            targets = [f"{base}.{a.name}" for a in node.names] + [base]
        for t in targets:
            while t and t not in known:
                t = t.rsplit(".", 1)[0] if "." in t else ""
            if t and t != name and t.startswith("wasmbuild"):
                out.add(t)
    return out


GRAPH = {n: imports(n, p, set(modules())) for n, p in modules().items()}


def test_every_module_has_a_rank() -> None:
    for name in GRAPH:
        rank(name)


def test_no_import_from_a_later_step() -> None:
    bad = [f"{a} (rank {rank(a)}) imports {b} (rank {rank(b)})"
           for a, deps in GRAPH.items() for b in deps if rank(b) > rank(a)]
    assert bad == []


def test_no_import_circles() -> None:
    # A package's __init__ importing its own submodules is not a circle of design: the
    # submodules are the package. Compare packages' modules only through real edges.
    graph = {a: {b for b in deps if not (b.startswith(a + ".") or a.startswith(b + "."))}
             for a, deps in GRAPH.items()}
    try:
        list(graphlib.TopologicalSorter(graph).static_order())
    except graphlib.CycleError as exc:
        pytest.fail(f"import circle: {' -> '.join(exc.args[1])}")


def test_no_module_over_the_limit() -> None:
    long = {n: len(p.read_text().splitlines()) for n, p in modules().items()}
    assert {n: c for n, c in long.items() if c > MAX_LINES} == {}


def test_only_kinds_of_error_are_raised() -> None:
    """Every user-facing failure has a kind with a documented exit code: never the base class."""
    offenders = []
    for name, path in modules().items():
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Raise) and isinstance(node.exc, ast.Call):
                func = node.exc.func
                if isinstance(func, ast.Name) and func.id == "WasmbuildError":
                    offenders.append(f"{name}:{node.lineno}")
    assert offenders == []


def test_exit_codes_are_distinct_and_documented() -> None:
    from wasmbuild import errors

    kinds = [c for c in vars(errors).values()
             if isinstance(c, type) and issubclass(c, errors.WasmbuildError) and c is not errors.WasmbuildError]
    codes = {c.__name__: c.exit_code for c in kinds}
    readme = (PACKAGE.parent / "README.md").read_text()
    for name, code in codes.items():
        assert code > 1, name
        if name != "StepFailed":  # a BuildError
            assert f"{code} " in readme.split("## Exit codes", 1)[-1], f"exit code {code} ({name}) is not in the README"
    assert len({c for n, c in codes.items() if n != "StepFailed"}) == len(codes) - 1


REPO = PACKAGE.parent
#: What the recipe library's folders declare: toolchains and the recipes init recognises.
#: (The component tools, wasm-tools and componentize-py, are wasm/'s own: wrapping is core.)
LANGUAGES = {"rust", "rustc", "cargo", "c", "cxx", "clang", "zig", "go", "ruby", "python-component", "cpython-wasi",
             "assemblyscript"}


def test_no_module_outside_a_recipe_folder_names_a_language() -> None:
    """A language is one folder (docs/languages.md): the core reads the folders' declarations,
    so no string in the package is a toolchain's or a language recipe's name."""
    library = {p.parent.name for p in (REPO / "recipes").glob("*/toolchain.py")}
    assert {"rust", "c", "cxx", "zig", "component", "go", "python-component"} <= library
    named = []
    for name, path in modules().items():
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Constant) and isinstance(node.value, str) and node.value in LANGUAGES:
                named.append(f"{name}:{node.lineno}: {node.value!r}")
    assert named == []


def test_every_declared_toolchain_comes_from_its_folder() -> None:
    from wasmbuild.execute import toolchains

    for name, recipe in toolchains.folders().items():
        assert recipe.toolchain is not None and recipe.toolchain.name == name
        assert recipe.module_path.is_file() and callable(toolchains.module(name).probe), name


def test_attest_reads_typed_records_not_recipes() -> None:
    """attest/ is fed by the stage results (typed ToolRecords) and the StageSpec's recipe digest:
    it never climbs back to render to re-read recipes."""
    bad = [f"{a} imports {b}" for a, deps in GRAPH.items() if a.startswith("wasmbuild.attest")
           for b in deps if b.startswith("wasmbuild.render")]
    assert bad == []


def test_a_recipe_digest_ignores_compiled_code(tmp_path: Path) -> None:
    from wasmbuild.render.recipes import tree_digest

    folder = tmp_path / "r"
    folder.mkdir()
    (folder / "toolchain.py").write_text("x = 1\n")
    before = tree_digest.__wrapped__(folder)
    (folder / "__pycache__").mkdir()
    (folder / "__pycache__" / "toolchain.cpython-311.pyc").write_bytes(b"compiled")
    assert tree_digest.__wrapped__(folder) == before
    (folder / "toolchain.py").write_text("x = 2\n")
    assert tree_digest.__wrapped__(folder) != before
