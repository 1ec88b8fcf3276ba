"""The pre-flight traps read from a module's bytes (a reactor; a proposal the target's runtime
lacks) and from its target (containerd 2.1's CRI unpack, the artifact's config type), on real
modules assembled in-test from WebAssembly text, through `check`, the build and the push."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tests.support import wat
from tests.unit.test_targets_golden import FIXTURE, build_targets
from wasmbuild.check import check_wasmfile
from wasmbuild.oci.preflight import (
    ARTIFACT_CONFIG,
    CRI_UNPACK,
    EXCEPTIONS,
    REACTOR,
    for_image,
    for_module,
    for_referrers,
    for_targets,
)
from wasmbuild.oci.referrers import fallback_tag
from wasmbuild.wasm.features import EXCEPTIONS as EH
from wasmbuild.wasm.features import module_facts

COMMAND = (FIXTURE / "hello.wasm").read_bytes()
REACTOR_WAT = """(module (memory (export "memory") 1)
  (func (export "_initialize")) (func (export "run") (result i32) i32.const 0))"""
THROWS_WAT = """(module (tag $oops (param i32))
  (func (export "_start") (throw $oops (i32.const 1))))"""
IMPORTED_TAG_WAT = """(module (import "env" "oops" (tag (param i32))) (func (export "_start")))"""


def project(tmp: Path, module: bytes, targets: list[str]) -> Path:
    """The golden fixture with ``module`` as its entrypoint and ``targets`` in its Wasmfile."""
    root = tmp / "project"
    shutil.copytree(FIXTURE, root)
    (root / "hello.wasm").write_bytes(module)
    text = (root / "Wasmfile").read_text()
    (root / "Wasmfile").write_text(text.replace("  entrypoint: [hello.wasm]",
                                                f"  entrypoint: [hello.wasm]\n  targets: [{', '.join(targets)}]"))
    return root


def check_warnings(root: Path) -> list[str]:
    warnings: list[str] = []
    assert check_wasmfile(root / "Wasmfile", warnings) == []
    return warnings


def test_the_module_facts_come_from_its_bytes() -> None:
    reactor = module_facts(wat(REACTOR_WAT))
    assert reactor is not None and reactor.reactor and reactor.proposals == ()
    command = module_facts(COMMAND)
    assert command is not None and not command.reactor and command.proposals == ()
    for text in (THROWS_WAT, IMPORTED_TAG_WAT):  # a tag section, or an imported tag
        facts = module_facts(wat(text))
        assert facts is not None and facts.proposals == (EH,) and not facts.reactor
    both = module_facts(wat('(module (tag) (func (export "_initialize")))'))
    assert both is not None and both.reactor and both.proposals == (EH,)


def test_a_reactor_entrypoint_is_named_by_check_build_and_push(tmp_path: Path) -> None:
    root = project(tmp_path, wat(REACTOR_WAT), ["runwasi"])
    message = REACTOR.format(e="hello.wasm")
    assert "containerd/runwasi#415" in message and "_initialize" in message
    assert [w for w in check_warnings(root) if "reactor" in w] == [f"{root / 'Wasmfile'}:7: {message}"]
    for target in ("runwasi", "docker"):  # its own Wasm layer; a file in the tar layer
        built = build_targets(tmp_path / target, (target,), project=root)
        found = [f.message for f in for_image(built.layout, built.descriptor)]
        assert any(m.startswith("the entrypoint ") and "is a reactor" in m for m in found), found
    command = project(tmp_path / "command", COMMAND, ["runwasi"])
    assert [w for w in check_warnings(command) if "reactor" in w] == []


def test_exceptions_are_named_for_the_targets_whose_runtime_lacks_them(tmp_path: Path) -> None:
    throws = wat(THROWS_WAT)
    message = EXCEPTIONS.format(e="app.wasm", t="runwasi")
    assert "wasmtime 36" in message and "bytecodealliance/wasmtime#11326" in message
    assert [f.message for f in for_module(throws, "app.wasm", ["runwasi"])] == [message]
    assert [f.message for f in for_module(throws, "app.wasm", ["compat", "docker", "runwasi"])] == [
        EXCEPTIONS.format(e="app.wasm", t="docker/runwasi")]
    assert for_module(throws, "app.wasm", ["compat", "artifact"]) == []
    assert for_module(COMMAND, "app.wasm", ["runwasi"]) == []
    root = project(tmp_path, throws, ["runwasi"])
    want = EXCEPTIONS.format(e="hello.wasm", t="runwasi")
    assert [w for w in check_warnings(root) if "exception" in w] == [f"{root / 'Wasmfile'}:7: {want}"]
    built = build_targets(tmp_path / "built", ("runwasi",), project=root)
    assert [f.message for f in for_image(built.layout, built.descriptor)] == [want]


def test_the_docker_shape_names_containerds_cri_unpack(tmp_path: Path) -> None:
    assert "containerd/containerd#8515" in CRI_UNPACK and "rancher-sandbox/rancher-desktop#10524" in CRI_UNPACK
    assert [f.message for f in for_targets(["docker"])] == [CRI_UNPACK]
    built = build_targets(tmp_path, ("docker",), project=project(tmp_path, COMMAND, ["docker"]))
    assert [f.message for f in for_image(built.layout, built.descriptor)] == [CRI_UNPACK]
    compat = build_targets(tmp_path / "compat", ("compat",), project=project(tmp_path / "compat", COMMAND, ["compat"]))
    assert for_image(compat.layout, compat.descriptor) == []


def test_the_artifact_shape_names_registries_that_refuse_its_config(tmp_path: Path) -> None:
    assert "oras-project/oras#738" in ARTIFACT_CONFIG and "application/vnd.wasm.config.v0+json" in ARTIFACT_CONFIG
    root = project(tmp_path, COMMAND, ["artifact"])
    assert ARTIFACT_CONFIG in [w.split(": ", 1)[1] for w in check_warnings(root)]
    built = build_targets(tmp_path / "built", ("artifact",), project=root)
    assert [f.message for f in for_image(built.layout, built.descriptor)] == [ARTIFACT_CONFIG]


def test_a_registry_without_the_referrers_api_is_named_with_the_fallback_tag() -> None:
    digest = "sha256:" + "ab" * 32
    [one] = for_referrers("registry.example:5000", [digest])
    assert one.message.startswith("registry.example:5000 has no referrers API (distribution/distribution#3716")
    assert fallback_tag(digest) in one.message
    assert for_referrers("registry.example:5000", []) == []


@pytest.mark.parametrize("text", [THROWS_WAT, REACTOR_WAT])
def test_the_build_notes_the_module_traps(tmp_path: Path, text: str) -> None:
    from wasmbuild.oci.layout import Layout
    from wasmbuild.pipeline import BuildOptions, build, prepare
    from wasmbuild.ui import NullReporter

    notes: list[str] = []

    class Notes(NullReporter):
        def note(self, text: str) -> None:
            notes.append(text)

    root = project(tmp_path, wat(text), ["runwasi"])
    options = BuildOptions(store=Layout(tmp_path / "store").init(), uncached=True, targets=("runwasi",))
    build(prepare(root / "Wasmfile"), options, reporter=Notes())
    assert any(n.startswith(f"warning: {root / 'Wasmfile'}:7: the entrypoint hello.wasm ") for n in notes), notes
