"""Targets without a compiler: module vs component, the component's world, pre-flight findings,
included images, and one clear line for every bad input."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.images import make_image, make_index
from tests.unit.test_targets_golden import ALL, FIXTURE, GOLDEN, build_targets, checkout
from wasmbuild.assemble.layer import Entry
from wasmbuild.assemble.targets import Inputs, Layers, write_artifact, write_runwasi
from wasmbuild.errors import BuildError, ConfigError, ImageNotFound
from wasmbuild.oci import MEDIA_CONFIG, MEDIA_INDEX, MEDIA_MANIFEST, Descriptor
from wasmbuild.oci.layout import Layout
from wasmbuild.oci.preflight import (
    ARTIFACT_CONFIG,
    ARTIFACT_IN_INDEX,
    COMPAT,
    COMPONENT,
    CRI_UNPACK,
    KUBERNETES,
    for_image,
    for_targets,
)
from wasmbuild.oci.targets import include_problem, target_of
from wasmbuild.wasm.binary import component_names, kind

MODULE = (FIXTURE / "hello.wasm").read_bytes()


def component(imports: list[str], exports: list[str]) -> bytes:
    """A minimal valid component: one empty instance type, imported (and exported) by name."""
    def names(items: list[str], export: bool) -> bytes:
        body = bytes([len(items)])
        for name in items:
            raw = name.encode()
            body += bytes([0x00, len(raw)]) + raw + (bytes([0x05, 0x00, 0x00]) if export else bytes([0x05, 0x00]))
        return body

    imp, exp = names(imports, False), names(exports, True)
    return (b"\0asm\x0d\x00\x01\x00" + bytes([7, 3, 1, 0x42, 0]) + bytes([10, len(imp)]) + imp
            + bytes([11, len(exp)]) + exp)


COMPONENT_BYTES = component(["wasi:cli/environment@0.2.0"], ["my:pkg/api@1.0.0"])


def test_kind_reads_the_header() -> None:
    assert kind(MODULE) == "module"
    assert kind(COMPONENT_BYTES) == "component"
    with pytest.raises(BuildError, match="is not a WebAssembly binary"):
        kind(b"\x7fELF\x02\x01\x01\x00")
    with pytest.raises(BuildError, match="unknown WebAssembly version"):
        kind(b"\0asm\x02\x00\x00\x00")


def test_component_world_matches_wasmtime() -> None:
    import wasmtime
    from wasmtime.component import Component

    engine = wasmtime.Engine()
    typ = Component(engine, COMPONENT_BYTES).type  # wasmtime accepts the hand-made component
    assert component_names(COMPONENT_BYTES) == (list(typ.imports(engine)), list(typ.exports(engine)))
    assert component_names(COMPONENT_BYTES) == (["wasi:cli/environment@0.2.0"], ["my:pkg/api@1.0.0"])
    with pytest.raises(ValueError, match="not a component"):
        component_names(MODULE)


def _inputs(tmp_path: Path, data: bytes) -> tuple[Layout, Inputs]:
    from wasmbuild.assemble.image import ImageSpec

    (tmp_path / "app.wasm").write_bytes(data)
    module = Entry("app.wasm", "file", 0o755, tmp_path / "app.wasm")
    spec = ImageSpec(platform="wasi/wasm32", entrypoint=["app.wasm"])
    return Layout(tmp_path / "layout").init(), Inputs(spec, [module], module, 0, "Wasmfile:1")


def test_a_component_gets_wasip2_and_its_world(tmp_path: Path) -> None:
    layout, inputs = _inputs(tmp_path, COMPONENT_BYTES)
    runwasi = write_runwasi(layout, inputs, Layers(layout, inputs, None))
    assert runwasi.desc.platform == {"os": "wasip2", "architecture": "wasm"}
    manifest = layout.read_json(runwasi.desc.digest)
    assert len(manifest["layers"]) == 1  # only the module: no tar layer for no other files
    config = layout.read_json(manifest["config"]["digest"])
    assert config["rootfs"]["diff_ids"] == [] and config["history"][0]["empty_layer"] is True
    artifact = write_artifact(layout, inputs, Layers(layout, inputs, None))
    config = layout.read_json(layout.read_json(artifact.desc.digest)["config"]["digest"])
    assert config["os"] == "wasip2"
    assert config["component"] == {"imports": ["wasi:cli/environment@0.2.0"], "exports": ["my:pkg/api@1.0.0"]}


def test_target_of_tells_the_shapes_apart(tmp_path: Path) -> None:
    built = build_targets(tmp_path, ALL)
    shapes = [target_of(built.layout.read_json(d.digest), d.platform) for _, d in built.targets]
    assert shapes == list(ALL)
    linux = {"config": {"mediaType": MEDIA_CONFIG}, "layers": []}
    assert target_of(linux, {"os": "linux", "architecture": "amd64"}) == "image"


# -- pre-flight -----------------------------------------------------------------------------

def test_preflight_names_the_upstream_threads() -> None:
    assert [f.message for f in for_targets(["compat"])] == [COMPAT]
    assert [f.message for f in for_targets(["docker"])] == [CRI_UNPACK] and for_targets(["runwasi"]) == []
    several = [f.message for f in for_targets(["docker", "runwasi", "artifact"])]
    assert several == [KUBERNETES, CRI_UNPACK, ARTIFACT_CONFIG, ARTIFACT_IN_INDEX]
    assert "containerd/runwasi#722" in KUBERNETES and "containerd/containerd#13927" in KUBERNETES
    mixed = [f.message for f in for_targets(["docker", "runwasi"], includes=1)]
    assert mixed == [CRI_UNPACK]  # a mixed tag: fine on Kubernetes, but for containerd 2.1's CRI
    assert [f.message for f in for_targets(["docker"], component=True)] == [CRI_UNPACK, COMPONENT.format(t="docker")]
    assert "containers/crun#1871" in COMPONENT and "containers/crun#1877" in COMPONENT
    assert all(ref in COMPAT for ref in ("docker/for-win#13410", "containers/podman#18542", "cri-o/cri-o#6906"))


def test_preflight_of_an_index_before_a_push(tmp_path: Path) -> None:
    built = build_targets(tmp_path, ALL)
    messages = [f.message for f in for_image(built.layout, built.descriptor)]
    # compat's annotation: `check` says it
    assert messages == [KUBERNETES, CRI_UNPACK, ARTIFACT_CONFIG, ARTIFACT_IN_INDEX]
    single = build_targets(tmp_path / "single", ("runwasi",))
    assert for_image(single.layout, single.descriptor) == []
    # buildx's attestation entry (unknown/unknown) next to a wasi/wasm image.
    layout = built.layout
    entries = [{"mediaType": MEDIA_MANIFEST, "digest": GOLDEN["docker"], "size": 1,
                "platform": {"os": "wasi", "architecture": "wasm"}},
               {"mediaType": MEDIA_MANIFEST, "digest": GOLDEN["compat"], "size": 1,
                "platform": {"os": "unknown", "architecture": "unknown"}}]
    index = layout.write_json({"schemaVersion": 2, "mediaType": MEDIA_INDEX, "manifests": entries}, MEDIA_INDEX)
    found = [f.message for f in for_image(layout, index)]
    assert found[0].startswith("1 unknown/unknown entry in the index (buildx attestations)")
    assert "deislabs/containerd-wasm-shims#139" in found[0] and found[1] == KUBERNETES


# -- included images ------------------------------------------------------------------------

def _linux_layout(path: Path, arch: str = "amd64", os_: str = "linux") -> Descriptor:
    layout = Layout(path).init()
    desc = make_image(layout, [{"hello": b"\x7fELF..."}], annotations={}, entrypoint=["/hello"])
    manifest = layout.read_json(desc.digest)
    config = layout.read_json(manifest["config"]["digest"])
    config.update(os=os_, architecture=arch)
    manifest["config"] = layout.write_json(config, MEDIA_CONFIG).to_json()
    desc = layout.write_json(manifest, MEDIA_MANIFEST)
    layout.tag("1", desc)
    return desc


def test_an_included_image_joins_the_index_byte_for_byte(tmp_path: Path) -> None:
    linux = _linux_layout(tmp_path / "linux")
    built = build_targets(tmp_path, ("compat",), include=(f"oci:{tmp_path / 'linux'}:1",))
    index = built.layout.read_json(built.digest)
    assert [m["digest"] for m in index["manifests"]] == [GOLDEN["compat"], linux.digest]
    assert index["manifests"][1] == {"mediaType": MEDIA_MANIFEST, "digest": linux.digest,
                                     "size": linux.size,
                                     "platform": {"architecture": "amd64", "os": "linux"}}
    assert built.layout.read_blob(linux.digest) == Layout(tmp_path / "linux").read_blob(linux.digest)
    assert KUBERNETES not in [f.message for f in for_image(built.layout, built.descriptor)]


def test_an_included_index_gives_its_entries_without_attestations(tmp_path: Path) -> None:
    amd = _linux_layout(tmp_path / "multi")
    arm = _linux_layout(tmp_path / "arm", "arm64")
    layout = Layout(tmp_path / "multi")
    layout.copy_from(Layout(tmp_path / "arm"), arm)
    att = {"mediaType": MEDIA_MANIFEST, "digest": arm.digest, "size": arm.size,
           "platform": {"os": "unknown", "architecture": "unknown"},
           "annotations": {"vnd.docker.reference.type": "attestation-manifest"}}
    entries = [{**amd.to_json(), "platform": {"os": "linux", "architecture": "amd64"}},
               {**arm.to_json(), "platform": {"os": "linux", "architecture": "arm64"}}, att]
    layout.tag("multi", layout.write_json({"schemaVersion": 2, "mediaType": MEDIA_INDEX,
                                           "manifests": entries}, MEDIA_INDEX))
    built = build_targets(tmp_path, ("docker",), include=(f"oci:{tmp_path / 'multi'}:multi",))
    index = built.layout.read_json(built.digest)
    assert [m["platform"]["architecture"] for m in index["manifests"]] == ["wasm", "amd64", "arm64"]


# -- bad input: one clear line each --------------------------------------------------------

def test_unknown_target_in_the_wasmfile(tmp_path: Path) -> None:
    from wasmbuild.pipeline import prepare

    project = checkout(tmp_path / "p")
    (project / "Wasmfile").write_text((project / "Wasmfile").read_text() + "  targets: [compat, dokcer]\n")
    with pytest.raises(ConfigError, match=r"Wasmfile:\d+: image.targets: unknown target 'dokcer' "
                                          r"\(did you mean 'docker'\?\): use compat, docker, runwasi, artifact$"):
        prepare(project)


def _cli(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "WASMBUILD_STORE": str(cwd / "store"), "WASMBUILD_CACHE": str(cwd / "cache")}
    return subprocess.run([sys.executable, "-m", "wasmbuild", *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=120, check=False)


@pytest.mark.cli
def test_unknown_format_and_platform_on_the_command_line(tmp_path: Path) -> None:
    project = checkout(tmp_path / "p")
    bad = _cli("build", str(project), "--format", "wasm", cwd=tmp_path)
    assert (bad.returncode, bad.stderr) == (
        2, "error: unknown --format 'wasm' (use compat, docker, runwasi, artifact)\n")
    linux = _cli("build", str(project), "--platform", "linux/amd64", cwd=tmp_path)
    assert linux.returncode == 2
    assert linux.stderr.splitlines() == [
        "error: --platform linux/amd64 is not a Wasm platform wasmbuild writes (use wasi/wasm32 "
        "(compat), wasi/wasm (docker), wasip1/wasm (runwasi), wasip2/wasm (runwasi); add another "
        "platform's image with --include)"]


@pytest.mark.cli
def test_platform_is_an_alias_of_one_target(tmp_path: Path) -> None:
    project = checkout(tmp_path / "p")
    proc = _cli("build", str(project), "--platform", "wasi/wasm", "--json", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    import json

    assert json.loads(proc.stdout)["digest"] == GOLDEN["docker"]


def test_artifact_with_more_than_one_module(tmp_path: Path) -> None:
    project = checkout(tmp_path / "p")
    (project / "two.wasm").write_bytes(MODULE)
    text = (project / "Wasmfile").read_text().replace(
        "    - {src: hello.wat", "    - {src: two.wasm, dest: /bin/two.wasm}\n    - {src: hello.wat")
    (project / "Wasmfile").write_text(text + "  targets: [runwasi, artifact]\n")
    with pytest.raises(ConfigError, match=r"^.*Wasmfile:\d+: target artifact holds one module, and the "
                                          r"image has 2: /bin/two.wasm, /hello.wasm \(drop `artifact`"):
        build_targets(tmp_path, (), project=project)
    assert build_targets(tmp_path, ("runwasi",), project=project).digest  # runwasi takes the entrypoint


def test_an_included_image_that_does_not_exist(tmp_path: Path) -> None:
    with pytest.raises(ImageNotFound, match=r"^--include: include 'oci:/nonexistent/x:1': "
                                            r"/nonexistent/x is not an OCI image layout"):
        build_targets(tmp_path, ("compat",), include=("oci:/nonexistent/x:1",))
    _linux_layout(tmp_path / "linux")
    with pytest.raises(ImageNotFound, match=r"^--include: include 'oci:.*/linux:2': no image '2' in "):
        build_targets(tmp_path, ("compat",), include=(f"oci:{tmp_path / 'linux'}:2",))


def test_an_included_image_whose_platform_collides(tmp_path: Path) -> None:
    _linux_layout(tmp_path / "wasm", "wasm", "wasi")
    with pytest.raises(ConfigError, match=r"^--include: include 'oci:.*/wasm:1' has platform wasi/wasm, "
                                          r"which target docker already gives in this index \(an index "
                                          r"holds one image per platform"):
        build_targets(tmp_path, ("compat", "docker"), include=(f"oci:{tmp_path / 'wasm'}:1",))
    _linux_layout(tmp_path / "a")
    _linux_layout(tmp_path / "b")
    with pytest.raises(ConfigError, match="has platform linux/amd64, which include 'oci:"):
        build_targets(tmp_path, ("compat",), include=(f"oci:{tmp_path / 'a'}:1", f"oci:{tmp_path / 'b'}:1"))


def test_an_include_must_be_pinned(tmp_path: Path) -> None:
    from wasmbuild.pipeline import prepare

    assert include_problem("localhost:5000/app:1") == (
        "is not pinned by digest (a tag can move: write REGISTRY/NAME@sha256:...)")
    assert include_problem("localhost:5000/app@sha256:" + "a" * 64) is None
    assert include_problem("oci:dir:tag") is None
    project = checkout(tmp_path / "p")
    (project / "Wasmfile").write_text((project / "Wasmfile").read_text()
                                      + "  include: [localhost:5000/app:1]\n")
    with pytest.raises(ConfigError, match=r"Wasmfile:\d+: image.include\[0\] 'localhost:5000/app:1' "
                                          r"is not pinned by digest"):
        prepare(project)


def test_make_index_helper_still_resolves(tmp_path: Path) -> None:
    """Indexes written by other tools (tests/support/images.py) read as before."""
    layout = Layout(tmp_path / "l").init()
    image = make_image(layout, [{"app.wasm": MODULE}])
    index = make_index(layout, image, tag="x")
    assert layout.image(index)[0].digest == image.digest


@pytest.mark.cli
def test_check_warns_about_the_targets_traps(tmp_path: Path) -> None:
    project = checkout(tmp_path / "p")
    wasmfile = project / "Wasmfile"
    wasmfile.write_text(wasmfile.read_text() + "  targets: [compat, docker]\n")
    proc = _cli("check", str(wasmfile), cwd=tmp_path)
    assert proc.returncode == 0
    line = len(wasmfile.read_text().splitlines())  # the targets line, the last one
    assert proc.stderr.splitlines() == [f"warning: {wasmfile}:{line}: {KUBERNETES}",
                                        f"warning: {wasmfile}:{line}: {COMPAT}",
                                        f"warning: {wasmfile}:{line}: {CRI_UNPACK}",
                                        "ok: 1 file(s) checked"]
    wasmfile.write_text(wasmfile.read_text().replace("[compat, docker]", "[runwasi]"))
    import json

    quiet = _cli("check", str(wasmfile), "--json", cwd=tmp_path)
    assert json.loads(quiet.stdout)["warnings"] == [] and quiet.returncode == 0


def test_docker_archive_refuses_the_wasm_layer_targets(tmp_path: Path) -> None:
    from wasmbuild.publish.archive import write_docker_archive

    for target in ("runwasi", "artifact"):
        built = build_targets(tmp_path / target, (target,))
        with pytest.raises(ConfigError, match=f"docker-archive holds container images, and target {target} "
                                              r"has layers docker load cannot unpack"):
            write_docker_archive(tmp_path / f"{target}.tar", built.layout, built.descriptor)
    index = build_targets(tmp_path / "all", ALL)  # an index: its Wasm entry, compat, is written
    assert write_docker_archive(tmp_path / "all.tar", index.layout, index.descriptor).is_file()
