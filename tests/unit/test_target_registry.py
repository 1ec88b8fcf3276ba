"""A target is one object registered in one place (``wasmbuild/oci/targets.py``): a toy target
registered here (and removed after) is a choice of the Wasmfile and of its schema, of
``--format`` and ``--platform``, is written, recognised and warned about, with no list edited
anywhere else. And no other module spells the target names as a list or keys a rule by one."""

from __future__ import annotations

import ast
import json
import os
import re
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest

from tests.unit.test_targets_golden import build_targets, checkout
from wasmbuild.assemble import targets as writers
from wasmbuild.assemble.image import write_image
from wasmbuild.errors import ConfigError
from wasmbuild.load.model import json_schema
from wasmbuild.oci import targets as registry
from wasmbuild.oci.preflight import COMPONENT, for_component, for_image, for_targets
from wasmbuild.wasm import binary

PACKAGE = Path(__file__).resolve().parents[2] / "wasmbuild"
REPO = PACKAGE.parent
TOY_TRAP = "target toy: a toy's trap"


@pytest.fixture
def toy() -> Iterator[registry.Target]:
    """A toy shape: the compat image on platform wasi/toy, run by a runtime without components."""
    target = registry.register(registry.Target(
        "toy", "a toy shape", lambda m, p: p.get("architecture") == "toy", precedence=25,
        platforms=("wasi/toy",), runs_components=False, trap=TOY_TRAP,
    ))

    @writers.writes(target)
    def write_toy(layout: writers.Layout, inputs: writers.Inputs, layers: writers.Layers) -> writers.Written:
        layer, diff_id = layers.full()
        spec = replace(inputs.spec, platform="wasi/toy", variant=None)
        return writers.Written(target.name, write_image(layout, spec, [(layer, diff_id)], inputs.epoch))

    try:
        yield target
    finally:
        registry.unregister(target.name)
        del writers.WRITERS[target.name]


def test_a_registered_target_is_listed_everywhere(toy: registry.Target, tmp_path: Path) -> None:
    assert registry.names() == ("compat", "docker", "runwasi", "artifact", "toy")
    schema = json_schema()["$defs"]["Image"]["properties"]["targets"]
    assert schema["items"]["enum"] == list(registry.names())
    assert "`toy` (a toy shape)" in schema["description"]
    assert registry.chosen(["toy"], ["wasi/toy", "wasi/wasm"]) == ("toy", "docker")
    assert registry.platforms_help().endswith(", wasi/toy (toy)")
    with pytest.raises(ConfigError) as bad:
        registry.chosen(["tyo"], [])
    assert bad.value.hint == "use compat, docker, runwasi, artifact, toy"

    project = checkout(tmp_path / "p")
    wasmfile = project / "Wasmfile"
    wasmfile.write_text(wasmfile.read_text() + "  targets: [toy]\n")
    built = build_targets(tmp_path, (), project=project)  # the Wasmfile's targets: the model took it
    assert [t for t, _ in built.targets] == ["toy"]
    manifest = built.layout.read_json(built.digest)
    assert registry.target_of(manifest, built.descriptor.platform) == "toy"
    assert [f.message for f in for_image(built.layout, built.descriptor)] == [TOY_TRAP]
    assert [f.message for f in for_targets(["toy", "docker"], includes=1)][:1] == [registry.CRI_UNPACK]
    assert TOY_TRAP in [f.message for f in for_targets(["toy"])]
    assert [f.message for f in for_component(["compat", "toy", "runwasi"])] == [COMPONENT.format(t="compat/toy")]

    wasmfile.write_text(wasmfile.read_text().replace("[toy]", "[tyo]"))
    from wasmbuild.pipeline import prepare

    with pytest.raises(ConfigError, match=r"unknown target 'tyo' \(did you mean 'toy'\?\): use compat, "
                                          r"docker, runwasi, artifact, toy$"):
        prepare(project)


def test_after_the_toy_the_registry_and_schema_are_the_four() -> None:
    assert registry.names() == ("compat", "docker", "runwasi", "artifact")
    assert set(writers.WRITERS) == set(registry.names())  # every target has its one writer
    on_disk = json.loads((REPO / "docs" / "wasmfile.schema.json").read_text())
    assert on_disk == json_schema()
    assert registry.platform_targets() == {"wasi/wasm32": "compat", "wasi/wasm": "docker",
                                           "wasip1/wasm": "runwasi", "wasip2/wasm": "runwasi"}


def test_a_name_is_registered_once(toy: registry.Target) -> None:
    with pytest.raises(ValueError, match="registered already"):
        registry.register(toy)
    with pytest.raises(ValueError, match="has a writer already"):
        writers.writes(toy)(writers.WRITERS["toy"])


def _strings(node: ast.AST) -> list[str]:
    elts = node.keys if isinstance(node, ast.Dict) else getattr(node, "elts", [])
    return [e.value for e in elts if isinstance(e, ast.Constant) and isinstance(e.value, str)]


def _violations(text: str, rel: str) -> list[str]:
    """Tuples, lists, sets or dicts of two or more target names, comparisons with one (a rule
    keyed by a name), and prose lists of three in a string."""
    names = set(registry.names())
    found = []
    for node in ast.walk(ast.parse(text, rel)):
        if isinstance(node, (ast.Tuple, ast.List, ast.Set, ast.Dict)):
            if len([s for s in _strings(node) if s in names]) >= 2:
                found.append(f"{rel}:{node.lineno}: a list of target names")
        elif isinstance(node, ast.Compare):
            for side in [node.left, *node.comparators]:
                if isinstance(side, ast.Constant) and side.value in names:
                    found.append(f"{rel}:{node.lineno}: a rule keyed by target {side.value!r}")
        elif isinstance(node, ast.Constant) and isinstance(node.value, str):
            name = "(?:" + "|".join(map(re.escape, names)) + ")"
            if re.search(rf"\b{name}(?:\W{{1,3}}{name}){{2}}\b", node.value):
                found.append(f"{rel}:{node.lineno}: a prose list of target names")
    return found


def test_only_the_registry_spells_the_target_names() -> None:
    found = []
    for path in sorted(PACKAGE.rglob("*.py")):
        if path != PACKAGE / "oci" / "targets.py":
            found += _violations(path.read_text(), str(path.relative_to(REPO)))
    assert found == []


def test_the_check_finds_a_list_a_rule_and_prose() -> None:
    planted = ('KNOWN = ("compat", "docker")\nif shape == "artifact":\n    pass\n'
               'HELP = "use compat, docker, runwasi"\nOK = {"docker": "docker-archive:"}\n')
    assert _violations(planted, "x.py") == [
        "x.py:1: a list of target names", "x.py:2: a rule keyed by target 'artifact'",
        "x.py:4: a prose list of target names"]


def test_a_file_kind_is_decided_once_from_its_header(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    asked: list[bytes] = []
    real = binary.kind
    monkeypatch.setattr(binary, "kind", lambda data, name="": asked.append(data) or real(data, name))
    path = tmp_path / "app.wasm"
    path.write_bytes(b"\0asm\x0d\x00\x01\x00" + b"\0" * 1000)
    assert [binary.kind_of_file(path) for _ in range(3)] == ["component"] * 3
    assert asked == [b"\0asm\x0d\x00\x01\x00"]  # once, and only the 8-byte header
    path.write_bytes(b"\0asm\x01\x00\x00\x00")  # rewritten: asked again
    os.utime(path, ns=(1, 1))
    assert binary.kind_of_file(path) == "module" and len(asked) == 2
