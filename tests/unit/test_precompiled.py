"""Precompiled code attached to an image (docs/precompiled.md): ``build --precompile`` attaches it
as a referrer of every image manifest, ``run`` loads it when it fits this engine and the caller
trusts it, and compiles as before otherwise (another key, target or module, a corrupt blob)."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest
import wasmtime

from tests.support.pipeline import GOLDEN, WASMFILE, FakeExecutor
from wasmbuild.assemble import precompile as pc
from wasmbuild.attest import AttestOptions
from wasmbuild.errors import ConfigError
from wasmbuild.oci import MEDIA_MANIFEST, Descriptor, sha256_digest
from wasmbuild.oci.layout import Layout
from wasmbuild.oci.referrers import add_referrers, referrer_descriptor, referrers
from wasmbuild.pipeline import BuildOptions, BuiltImage, ExecuteOptions, build, prepare
from wasmbuild.runtime import precompiled
from wasmbuild.runtime.run import run
from wasmbuild.wasm import precompiled as fmt

pytestmark = pytest.mark.skipif(fmt.host_target() is None, reason="no wasmtime target for this OS/arch")
HELLO = "Hello Wasm\n"


def _build(root: Path, precompile: bool = True, targets: tuple[str, ...] = (), sbom: bool = False) -> BuiltImage:
    project = root / "p"
    if not project.is_dir():
        project.mkdir(parents=True)
        shutil.copy(GOLDEN, project / "hello.wasm")
        (project / "Wasmfile").write_text(WASMFILE)
    fake = FakeExecutor()
    options = BuildOptions(store=Layout(root / "store").init(), execute=ExecuteOptions(executor_factory=fake.factory),
                           targets=targets, attest=AttestOptions() if sbom else AttestOptions.off(),
                           precompile=fmt.resolve_targets([fmt.HOST]) if precompile else ())
    return build(prepare(project), options)


class Compiles:
    """Counts compilations of Wasm to native code (``COMPILE_OBSERVERS`` of wasm/precompiled.py, build and
    run time alike); ``banned`` makes one fail."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, banned: bool = False) -> None:
        monkeypatch.delenv("WASMBUILD_PRECOMPILED", raising=False)
        self.count, self.banned = 0, banned
        monkeypatch.setattr(fmt, "COMPILE_OBSERVERS", [self.observe])

    def observe(self, kind: str, size: int) -> None:
        self.count += 1
        if self.banned:
            raise AssertionError(f"the {kind} was compiled")


def _extra(layout: Layout, subject: str) -> tuple[Descriptor, dict[str, Any]]:
    [desc] = referrers(layout, subject, fmt.ARTIFACT_TYPE)
    return desc, layout.read_json(desc.digest)


def _replace_extra(layout: Layout, subject: str, change: Any) -> None:
    """List an edited copy of the image's extra in place of the original (same kind: it replaces)."""
    old, doc = _extra(layout, subject)
    change(doc)
    new = layout.write_json(doc, MEDIA_MANIFEST)
    add_referrers(layout, subject, [referrer_descriptor(new, doc)])
    assert [d.digest for d in referrers(layout, subject, fmt.ARTIFACT_TYPE)] == [new.digest] != [old.digest]


def test_build_attaches_a_referrer_and_leaves_the_image_alone(tmp_path: Path) -> None:
    plain = _build(tmp_path / "a", precompile=False)
    built = _build(tmp_path / "b")
    assert built.digest == plain.digest  # the image is byte for byte the same
    [ref] = built.referrers
    assert ref.artifact_type == fmt.ARTIFACT_TYPE
    assert ref.annotations[fmt.ANN_TARGET] == fmt.host_target()
    assert ref.annotations[fmt.ANN_COMPAT] == fmt.compat_key(fmt.host_target() or "")
    doc = built.layout.read_json(ref.digest)
    assert doc["subject"] == {"mediaType": MEDIA_MANIFEST, "digest": built.digest, "size": built.descriptor.size}
    [layer] = doc["layers"]
    assert layer["mediaType"] == fmt.MEDIA_CWASM_ZSTD
    assert layer["annotations"][fmt.ANN_MODULE] == "/app.wasm"
    assert layer["annotations"][fmt.ANN_MODULE_DIGEST] == sha256_digest(GOLDEN.read_bytes())
    code = pc.code_bytes(built.layout.read_blob(layer["digest"]))
    assert code[:4] == b"\x7fELF" and sha256_digest(code) == layer["annotations"][fmt.ANN_UNCOMPRESSED]
    built.layout.tag("hello:1", built.descriptor)
    assert built.layout.resolve().digest == built.digest  # still the only image of the layout
    assert {ref.digest, layer["digest"]} <= built.layout.referenced()  # gc keeps it
    assert built.to_json()["referrers"] == [{"digest": ref.digest, "artifactType": fmt.ARTIFACT_TYPE}]


def test_attaching_again_is_reproducible_memoised_and_replaces(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    first = _build(tmp_path)
    compiles = Compiles(monkeypatch, banned=True)  # memoised: no compile on a rebuild
    again = _build(tmp_path)
    assert again.referrers == first.referrers and compiles.count == 0
    assert referrers(again.layout, again.digest) == list(first.referrers)


def test_matching_extra_runs_without_compiling(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                               capfd: pytest.CaptureFixture[str]) -> None:
    built = _build(tmp_path)
    Compiles(monkeypatch, banned=True)
    assert run(built.layout, built.descriptor, precompiled=True) == 0
    assert capfd.readouterr().out == HELLO
    [cached] = (tmp_path / "cache" / "modules").glob("*.cwasm")  # the extra's code, for the next run
    assert sha256_digest(cached.read_bytes()) == _extra(built.layout, built.digest)[1]["layers"][0][
        "annotations"][fmt.ANN_UNCOMPRESSED]


def test_untrusted_extra_is_not_loaded(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                       capfd: pytest.CaptureFixture[str]) -> None:
    built = _build(tmp_path)
    compiles = Compiles(monkeypatch)
    assert run(built.layout, built.descriptor) == 0  # the library default: precompiled=False
    assert capfd.readouterr().out == HELLO and compiles.count == 1


@pytest.mark.parametrize("change", [
    pytest.param(lambda d: d["annotations"].update({fmt.ANN_COMPAT: "sha256:" + "0" * 64}), id="another-engine"),
    pytest.param(lambda d: d["annotations"].update({fmt.ANN_TARGET: "riscv64gc-unknown-linux-gnu"}),
                 id="another-target"),
    pytest.param(lambda d: d["layers"][0]["annotations"].update({fmt.ANN_MODULE_DIGEST: "sha256:" + "1" * 64}),
                 id="another-module"),
    pytest.param(lambda d: d["layers"][0]["annotations"].update({fmt.ANN_UNCOMPRESSED: "sha256:" + "2" * 64}),
                 id="wrong-code-digest"),
])
def test_an_extra_that_does_not_fit_is_ignored_and_the_module_compiles(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capfd: pytest.CaptureFixture[str], change: Any) -> None:
    built = _build(tmp_path)
    _replace_extra(built.layout, built.digest, change)
    compiles = Compiles(monkeypatch)
    assert run(built.layout, built.descriptor, precompiled=True) == 0
    assert capfd.readouterr().out == HELLO and compiles.count == 1


def test_corrupt_extra_is_ignored_and_the_module_compiles(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                         capfd: pytest.CaptureFixture[str]) -> None:
    built = _build(tmp_path)
    blob = built.layout.blob_path(_extra(built.layout, built.digest)[1]["layers"][0]["digest"])
    data = bytearray(blob.read_bytes())
    data[len(data) // 2] ^= 0xFF
    blob.chmod(0o644)
    blob.write_bytes(bytes(data))
    compiles = Compiles(monkeypatch)
    assert run(built.layout, built.descriptor, precompiled=True) == 0
    assert capfd.readouterr().out == HELLO and compiles.count == 1
    blob.unlink()  # a missing blob too
    shutil.rmtree(tmp_path / "cache" / "modules")
    assert run(built.layout, built.descriptor, precompiled=True) == 0
    assert capfd.readouterr().out == HELLO and compiles.count == 2


def test_code_wasmtime_refuses_is_ignored(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                         capfd: pytest.CaptureFixture[str]) -> None:
    """Every digest and the key match, but the bytes are no loadable artifact: wasmtime's own check."""
    built = _build(tmp_path)
    junk = b"\x7fELF" + bytes(200)
    digest = built.layout.write_blob(junk)

    def swap(doc: dict[str, Any]) -> None:
        layer = doc["layers"][0]
        layer.update({"mediaType": fmt.MEDIA_CWASM, "digest": digest, "size": len(junk)})
        layer["annotations"][fmt.ANN_UNCOMPRESSED] = digest

    _replace_extra(built.layout, built.digest, swap)
    compiles = Compiles(monkeypatch)
    assert run(built.layout, built.descriptor, precompiled=True) == 0
    assert capfd.readouterr().out == HELLO and compiles.count == 1
    assert all(p.read_bytes() != junk for p in (tmp_path / "cache" / "modules").glob("*.cwasm"))


def test_extras_can_be_turned_off(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    built = _build(tmp_path)
    compiles = Compiles(monkeypatch)
    monkeypatch.setenv("WASMBUILD_PRECOMPILED", "0")
    assert run(built.layout, built.descriptor, precompiled=True) == 0
    assert compiles.count == 1


def test_every_image_manifest_of_an_index_gets_its_extra(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                         capfd: pytest.CaptureFixture[str]) -> None:
    built = _build(tmp_path, targets=("compat", "runwasi", "artifact"), sbom=True)
    manifests = [d for _t, d in built.targets]
    extras = [r for r in built.referrers if r.artifact_type == fmt.ARTIFACT_TYPE]
    assert len(manifests) == 3 and len(extras) == 3
    subjects = {built.layout.read_json(r.digest)["subject"]["digest"] for r in extras}
    assert subjects == {d.digest for d in manifests}
    for d in manifests:  # next to each one's SBOM and provenance
        assert len(referrers(built.layout, d.digest)) == 3
    Compiles(monkeypatch, banned=True)
    for d in manifests:
        shutil.rmtree(tmp_path / "cache" / "modules", ignore_errors=True)
        assert run(built.layout, d, precompiled=True) == 0
        assert capfd.readouterr().out == HELLO


def test_foreign_and_unknown_targets_are_refused_before_wasmtime_aborts() -> None:
    arm, x86 = "aarch64-unknown-linux-gnu", "x86_64-unknown-linux-gnu"
    other = arm if fmt.host_target() != arm else x86
    with pytest.raises(ConfigError, match=rf"cannot precompile for {other} on this machine"):
        fmt.resolve_targets([other])
    with pytest.raises(ConfigError, match="unknown precompile target 'wasm32'"):
        fmt.resolve_targets(["wasm32"])
    with pytest.raises(ConfigError, match="cannot precompile for"):
        fmt.compat_key(other)
    assert fmt.resolve_targets(["host", fmt.host_target() or ""]) == (fmt.host_target(),)


def test_compat_key_is_the_engine_section_of_any_artifact(tmp_path: Path) -> None:
    target = fmt.host_target() or ""
    key = fmt.compat_key(target)
    artifact = bytes(wasmtime.Module(fmt.baseline_engine(target), GOLDEN.read_bytes()).serialize())
    section = fmt.elf_section(artifact, ".wasmtime.engine")
    assert section is not None and sha256_digest(section) == key
    assert fmt.elf_section(b"not an elf file" * 10, ".wasmtime.engine") is None
    assert precompiled.host_compat() == (target, key)
    memo = next((tmp_path / "cache" / "precompiled").glob("compat-*"))
    assert memo.read_text() == key  # memoised: later runs pay no engine for it


def test_a_components_extra_runs_without_compiling(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                   capfd: pytest.CaptureFixture[str]) -> None:
    """A WASI 0.2 component (the golden module wrapped with the pinned adapter) gets its extra
    too, and ``run`` loads it through wasmtime's component API."""

    from wasmbuild.wasm.component import wrap

    project = tmp_path / "p"
    project.mkdir()
    wrap(GOLDEN, project / "hello.wasm")
    (project / "Wasmfile").write_text(WASMFILE)
    built = _build(tmp_path)
    [ref] = built.referrers
    [layer] = built.layout.read_json(ref.digest)["layers"]
    assert layer["annotations"][fmt.ANN_KIND] == "component"

    Compiles(monkeypatch, banned=True)
    assert run(built.layout, built.descriptor, precompiled=True) == 0
    assert capfd.readouterr().out == HELLO
